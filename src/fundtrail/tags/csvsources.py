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
from fundtrail.model.textfiles import csv_records
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


def _reader(text: str, path: Path, out: ParsedFile, max_field_kb: int) -> tuple[list[str], list[list[str]], list[int]]:
    """(header, rows, their lines); a row that cannot be read (a cell over the bound) is reported
    in `out` with its line and left out, the others are read."""
    header: list[str] = []
    rows, lines = [], []
    for i, rec in enumerate(csv_records(text, max_field_kb=max_field_kb)):
        if rec.problem is not None:
            out.problems.append(Problem(str(path), rec.line, rec.problem))
        elif i == 0:
            header = [h.strip() for h in rec.cells]
        else:
            rows.append(rec.cells)
            lines.append(rec.line)
    return header, rows, lines


def read_ransomwhere(path: Path, text: str, max_field_kb: int = 1024) -> ParsedFile:
    """Ransomwhere as exported by OpenSanctions: `name` is the address, `aliases` the family."""
    out = ParsedFile("ransomwhere")
    header, rows, lines = _reader(text, path, out, max_field_kb)
    col = {h: i for i, h in enumerate(header)}
    missing = [c for c in ("name", "aliases") if c not in col]
    if missing:
        out.problems.append(Problem(str(path), 1, f"not a Ransomwhere export: no column {missing[0]!r}"))
        return out
    for n, row in zip(lines, rows):
        if len(row) != len(header):
            out.problems.append(Problem(str(path), n, f"expected {len(header)} columns, got {len(row)}"))
            continue
        family = row[col["aliases"]].strip()
        first_seen = row[col["first_seen"]][:10] if "first_seen" in col else None
        out.tags.append(RawTag(
            line=n, address=row[col["name"]], currency="BTC",
            label=f"{family} ransomware" if family else "ransomware payment address",
            abuse="ransomware", actor=None, confidence="trusted_provider", source=RANSOMWHERE_SOURCE,
            creator="Ransomwhere (Cable 2024), exported by OpenSanctions", lastmod=first_seen or None,
            context=json.dumps({"family": family}) if family else None))
    return out


def read_receipts(path: Path, text: str, max_field_kb: int = 1024) -> ParsedFile:
    """'Showing the Receipts' (Cable, Gray, McCoy 2024): origCluster addresses are the paper's
    seeds (forensic); `expanded` ones were added by clustering, so they get confidence heuristic."""
    out = ParsedFile("receipts")
    _header, rows, lines = _reader(text, path, out, max_field_kb)
    for n, row in zip(lines, rows):
        if len(row) != 4:
            out.problems.append(Problem(str(path), n, f"expected 4 columns, got {len(row)}"))
            continue
        address, kind, usd, btc = row
        out.tags.append(RawTag(
            line=n, address=address, currency="BTC", label="ransomware payment address",
            abuse="ransomware", confidence="forensic" if kind == "origCluster" else "heuristic",
            source=RECEIPTS_SOURCE, creator="Cable, Gray, McCoy (2024): Showing the Receipts",
            context=json.dumps({"type": kind, "received_usd": usd, "received_btc": btc})))
    return out


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


def read_generic_csv(path: Path, text: str, mapping: ColumnMapping, max_field_kb: int = 1024) -> ParsedFile:
    """Any CSV with a header row, read through a column mapping."""
    out = ParsedFile("csv")
    header, rows, lines = _reader(text, path, out, max_field_kb)
    cols = _resolve_columns(header, mapping, path)
    defaults = mapping.defaults
    for n, row in zip(lines, rows):
        if not any(cell.strip() for cell in row):
            continue
        values = {name: (row[i].strip() if i < len(row) else "") or None for name, i in cols.items()}
        for name, value in defaults.items():
            values[name] = values.get(name) or value
        get = values.get
        out.tags.append(RawTag(
            line=n, address=values["address"] or "", currency=get("currency"), label=get("label"),
            category=get("category"), abuse=get("abuse"), confidence=get("confidence") or "unknown",
            source=get("source") or str(path.name), creator=get("creator"), lastmod=get("lastmod"),
            actor=get("actor"), context=get("context")))
    return out
