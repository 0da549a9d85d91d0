"""CSV label sources: the ransomware address lists, and generic CSV with a column mapping.

Generic CSV: `ColumnMapping` names which column holds each tag field; fields without a column take
a fixed default (`--currency ETH`, `--category scam` ...). Without an explicit mapping, columns are
found by their usual names (address, label/name, category/entity/type, currency ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from fundtrail.errors import UsageError
from fundtrail.model.textfiles import CsvRecord, csv_records
from fundtrail.tags.records import ParsedFile, Problem, RawTag

RANSOMWHERE_SOURCE = "https://ransomwhe.re/"
RECEIPTS_SOURCE = "https://arxiv.org/abs/2408.15420"
RANSOMWHERE_HEADER = ("id", "schema", "name", "aliases")
RECEIPTS_HEADER = ("address", "type", "amountReceivedUSD", "amountReceivedBTC")
#: Tag fields a CSV column can supply.
FIELDS = ("address", "label", "category", "abuse", "currency", "confidence", "source", "creator",
          "lastmod", "actor", "context")
_USUAL_NAMES = {
    "address": ("address", "addr", "wallet", "account"),
    "label": ("name tag", "name_tag", "name", "label", "tag", "comment"),
    "category": ("category", "entity", "type"),
    "abuse": ("abuse",),
    "currency": ("currency", "chain", "network", "asset", "coin"),
    "confidence": ("confidence",),
    "source": ("source", "url", "reference"),
    "creator": ("creator", "author"),
    "lastmod": ("lastmod", "date", "last_seen"),
    "actor": ("actor",),
}


@dataclass
class ColumnMapping:
    """Which CSV column supplies each tag field, plus fixed values for the rest."""

    columns: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: list[str], defaults: dict[str, str | None]) -> ColumnMapping:
        """From `field=COLUMN` strings (`--map address=Address`) and fixed default values."""
        columns = {}
        for item in spec:
            name, sep, column = item.partition("=")
            name = name.strip().lower()
            if not sep or not column.strip():
                raise UsageError(f"--map {item!r} must look like FIELD=COLUMN", field="mapping")
            if name not in FIELDS:
                raise UsageError(f"--map {item!r}: unknown field {name!r}; known: {', '.join(FIELDS)}",
                                 field="mapping")
            columns[name] = column.strip()
        return cls(columns, {k: v for k, v in defaults.items() if v})


class RowReader:
    """Turns one CSV file's records into raw tags, record by record, for a whole file's records
    (`read_*`) and for a large file's chunks (`tags/streamimport.py`) alike.

    The first record is the header (an empty one if it cannot be read). Problems are reported in
    two lists, as the whole-file reader orders them: records that cannot be read, then rows the
    format refuses (a header that does not fit is one of those, and no row is read after it)."""

    format = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = False
        self.stopped = False

    def take(self, records: list[CsvRecord], tags: list[RawTag], unreadable: list[Problem],
             refused: list[Problem]) -> None:
        """Read `records` (the next ones of the file) into `tags` and the two problem lists."""
        for rec in records:
            if rec.problem is not None:
                unreadable.append(Problem(str(self.path), rec.line, rec.problem))
            if not self.started:
                self.started = True
                problem = self.header([] if rec.problem is not None else [h.strip() for h in rec.cells])
                if problem is not None:
                    refused.append(problem)
                    self.stopped = True
                continue
            if rec.problem is not None or self.stopped:
                continue
            got = self.row(rec.line, rec.cells)
            if isinstance(got, RawTag):
                tags.append(got)
            elif got is not None:
                refused.append(got)

    def finish(self, refused: list[Problem]) -> None:
        """The file has ended: a file without even a header is read with an empty one."""
        if not self.started:
            self.started = True
            problem = self.header([])
            if problem is not None:
                refused.append(problem)

    def header(self, header: list[str]) -> Problem | None:
        """Take the header; a Problem if the file cannot be read with it (UsageError if the options
        given do not fit it)."""
        return None

    def row(self, line: int, row: list[str]) -> RawTag | Problem | None:
        raise NotImplementedError

    def read(self, text: str, max_field_kb: int) -> ParsedFile:
        """A whole file's text read at once."""
        out = ParsedFile(self.format)
        refused: list[Problem] = []
        self.take(csv_records(text, max_field_kb=max_field_kb), out.tags, out.problems, refused)
        self.finish(refused)
        out.problems.extend(refused)
        return out


class RansomwhereRows(RowReader):
    """Ransomwhere as exported by OpenSanctions: `name` is the address, `aliases` the family."""

    format = "ransomwhere"

    def header(self, header: list[str]) -> Problem | None:
        self.width = len(header)
        self.col = {h: i for i, h in enumerate(header)}
        missing = [c for c in ("name", "aliases") if c not in self.col]
        if missing:
            return Problem(str(self.path), 1, f"not a Ransomwhere export: no column {missing[0]!r}")
        return None

    def row(self, line: int, row: list[str]) -> RawTag | Problem | None:
        col = self.col
        if len(row) != self.width:
            return Problem(str(self.path), line, f"expected {self.width} columns, got {len(row)}")
        family = row[col["aliases"]].strip()
        first_seen = row[col["first_seen"]][:10] if "first_seen" in col else None
        return RawTag(
            line=line, address=row[col["name"]], currency="BTC",
            label=f"{family} ransomware" if family else "ransomware payment address",
            abuse="ransomware", actor=None, confidence="trusted_provider", source=RANSOMWHERE_SOURCE,
            creator="Ransomwhere (Cable 2024), exported by OpenSanctions", lastmod=first_seen or None,
            context=json.dumps({"family": family}) if family else None)


class ReceiptsRows(RowReader):
    """'Showing the Receipts' (Cable, Gray, McCoy 2024): origCluster addresses are the paper's
    seeds (forensic); `expanded` ones were added by clustering, so they get confidence heuristic."""

    format = "receipts"

    def row(self, line: int, row: list[str]) -> RawTag | Problem | None:
        if len(row) != 4:
            return Problem(str(self.path), line, f"expected 4 columns, got {len(row)}")
        address, kind, usd, btc = row
        return RawTag(
            line=line, address=address, currency="BTC", label="ransomware payment address",
            abuse="ransomware", confidence="forensic" if kind == "origCluster" else "heuristic",
            source=RECEIPTS_SOURCE, creator="Cable, Gray, McCoy (2024): Showing the Receipts",
            context=json.dumps({"type": kind, "received_usd": usd, "received_btc": btc}))


def _resolve_columns(header: list[str], mapping: ColumnMapping, path: Path) -> dict[str, int]:
    lower = {h.lower(): i for i, h in enumerate(header)}
    found: dict[str, int] = {}
    for name, column in mapping.columns.items():
        if column.lower() not in lower:
            raise UsageError(f"{path}:1: no column {column!r} for {name} (columns: {', '.join(header)})")
        found[name] = lower[column.lower()]
    for name, usual in _USUAL_NAMES.items():
        if name not in found and name not in mapping.defaults:
            for candidate in usual:
                if candidate in lower:
                    found[name] = lower[candidate]
                    break
    if "address" not in found:
        raise UsageError(f"{path}:1: no address column (columns: {', '.join(header)})",
                         hint="name it with --map address=COLUMN")
    return found


class GenericRows(RowReader):
    """Any CSV with a header row, read through a column mapping."""

    format = "csv"

    def __init__(self, path: Path, mapping: ColumnMapping) -> None:
        super().__init__(path)
        self.mapping = mapping

    def header(self, header: list[str]) -> Problem | None:
        self.cols = _resolve_columns(header, self.mapping, self.path)
        return None

    def row(self, line: int, row: list[str]) -> RawTag | Problem | None:
        if not any(cell.strip() for cell in row):
            return None
        values = {name: (row[i].strip() if i < len(row) else "") or None for name, i in self.cols.items()}
        for name, value in self.mapping.defaults.items():
            values[name] = values.get(name) or value
        get = values.get
        return RawTag(
            line=line, address=values["address"] or "", currency=get("currency"), label=get("label"),
            category=get("category"), abuse=get("abuse"), confidence=get("confidence") or "unknown",
            source=get("source") or str(self.path.name), creator=get("creator"), lastmod=get("lastmod"),
            actor=get("actor"), context=get("context"))


#: Formats read by a RowReader (one record at a time, so a file of any size can be streamed).
ROW_FORMATS = ("csv", "ransomwhere", "receipts")


def row_reader(fmt: str, path: Path, *, currency: str | None = None,
               mapping: ColumnMapping | None = None) -> RowReader:
    """The reader of a ROW_FORMATS file; generic CSV takes `currency` as the default currency."""
    if fmt == "ransomwhere":
        return RansomwhereRows(path)
    if fmt == "receipts":
        return ReceiptsRows(path)
    defaults = mapping.defaults if mapping else {}
    if currency and "currency" not in defaults:
        mapping = ColumnMapping(mapping.columns if mapping else {}, {**defaults, "currency": currency})
    return GenericRows(path, mapping or ColumnMapping())
