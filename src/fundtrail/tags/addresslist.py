"""Address lists users hand to `tags lookup`: read every row, check every address, lose none.

A list is either one address per line (blank lines and `#` comments skipped; a first line reading
`address` is a header) or a CSV sheet with a header and an `address` column (any other column name
with `column=`), as Excel writes it: the file's first line holding a comma, semicolon or tab makes
it a sheet. Both are decoded by `model.textfiles` (UTF-8 with or without BOM, UTF-16/32 with BOM,
CRLF). Each row keeps its line number; a malformed address becomes a `BadRow` naming file and line,
and a row repeating an earlier address (compared by lookup key, so `0xABC…` and `0xabc…` are one
address) is counted as a duplicate and looked up once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fundtrail.errors import UsageError
from fundtrail.model.textfiles import read_lines, read_table
from fundtrail.tags.addressform import UNRECOGNISED, AddressForm, check_address
from fundtrail.tags.currencies import InvalidAddress


@dataclass(frozen=True, slots=True)
class Row:
    """One address of the list, as written, with its line and its checked form."""

    line: int
    text: str
    form: AddressForm


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row whose text is not an address: where, what, why."""

    path: str
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: invalid address {self.text!r}: {self.reason}"

    def as_dict(self) -> dict:
        return {"record": "error", "file": self.path, "line": self.line, "address": self.text,
                "error": self.reason}


@dataclass(slots=True)
class AddressList:
    """The rows of a list: distinct addresses to look up, malformed rows, duplicate rows."""

    path: str
    layout: str  # "lines", "csv" or "list"
    rows: list[Row] = field(default_factory=list)  # first row of each distinct address
    bad: list[BadRow] = field(default_factory=list)
    duplicates: int = 0  # rows repeating an earlier address (same lookup key)
    total: int = 0  # rows read (addresses, malformed and duplicate rows)

    def unrecognised(self) -> list[Row]:
        """Rows of no known address form: addresses only if a tag is keyed by them."""
        return [r for r in self.rows if r.form.validation == UNRECOGNISED]


def _raw_rows(path: Path | str, column: str | None,
              max_field_kb: int = 1024) -> tuple[str, str, str, list[tuple[int, str]]]:
    """(where, layout, column name, [(line, cell text)]): the file is read as lines first; a delimiter in its
    first line (or `column`) makes it a CSV sheet, read again as such."""
    stdin = str(path) == "-"
    where = "<stdin>" if stdin else str(path)
    lines = read_lines(path)
    first = lines[0][1] if lines else ""
    if column is None and not any(d in first for d in ",;\t"):
        if first.lower() == "address":
            lines = lines[1:]
        return where, "lines", "", lines
    if stdin:  # standard input cannot be read a second time
        raise UsageError("a CSV sheet cannot be read from stdin; pass it as a file "
                         "(stdin takes one address per line)")
    table = read_table(path, max_field_kb=max_field_kb)
    name = table.column(column or "address")
    return where, "csv", name, [(ln, row[name].strip()) for ln, row in zip(table.lines, table.rows)]


def read_address_list(path: Path | str, column: str | None = None, *, max_field_kb: int = 1024) -> AddressList:
    """Every row of an address list, checked; nothing dropped without being counted (a CSV cell
    over `max_field_kb` KB is an error naming its line)."""
    where, layout, name, raw = _raw_rows(path, column, max_field_kb)
    return _checked(where, layout, name, raw)


def address_list_of(texts: list[str], where: str = "addresses") -> AddressList:
    """The same checks for addresses given as a list (an API request): row i is "line" i + 1."""
    return _checked(where, "list", "", [(i + 1, t.strip()) for i, t in enumerate(texts)])


def _checked(where: str, layout: str, name: str, raw: list[tuple[int, str]]) -> AddressList:
    out = AddressList(where, layout, total=len(raw))
    seen: set[str] = set()
    for line, text in raw:
        if not text:
            out.bad.append(BadRow(where, line, text, f"no address in column {name!r}" if name else "no address"))
            continue
        try:
            form = check_address(text)
        except InvalidAddress as exc:
            out.bad.append(BadRow(where, line, text, str(exc)))
            continue
        if form.key in seen:
            out.duplicates += 1
            continue
        seen.add(form.key)
        out.rows.append(Row(line, text, form))
    return out
