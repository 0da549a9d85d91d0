"""Reading the text files users hand us (address lists, CSV sheets) the way Excel and Windows write them.

Analysts export customer lists from spreadsheets: UTF-8 with or without a byte-order mark, UTF-16
with a BOM ("Unicode text" in Excel), CRLF line ends, commas, semicolons or tabs. Every reader here
decodes those the same way, keeps each row's line number for error messages, and never drops a row
silently: a row it cannot use is reported by the caller with `path:line`.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fundtrail.errors import DataError, UsageError

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def encoding_of(head: bytes) -> tuple[str, int]:
    """(encoding, length of its byte-order mark) of a file starting with `head`: BOM-marked
    UTF-8/16/32, UTF-16 without a BOM (rare, but some tools write it), else UTF-8."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] != 0:
        return "utf-16-le", 0
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] != 0:
        return "utf-16-be", 0
    return "utf-8", 0


def decode_text(data: bytes, where: str) -> str:
    """Text of a file's bytes (`encoding_of`); DataError naming the byte offset."""
    encoding, skip = encoding_of(data)
    body = data[skip:]
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        offset = exc.start + (len(data) - len(body))
        raise DataError(f"{where}: not {encoding.upper()} text (undecodable byte at offset {offset}); "
                        "save it as UTF-8 or UTF-16 with a byte-order mark") from None
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path | str) -> str:
    """A user's text file ('-' is standard input), decoded by `decode_text`."""
    if str(path) == "-":
        return decode_text(sys.stdin.buffer.read(), "<stdin>")
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{p} is a directory, not a file")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{p}: no such file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {p}: {exc.strerror}") from None
    return decode_text(data, str(p))


def read_lines(path: Path | str) -> list[tuple[int, str]]:
    """(line number, stripped text) of every non-empty line that is not a '#' comment."""
    out = []
    for n, line in enumerate(read_text(path).split("\n"), 1):
        s = line.strip().lstrip("\ufeff")
        if s and not s.startswith("#"):
            out.append((n, s))
    return out


@dataclass(frozen=True, slots=True)
class CsvRecord:
    """One CSV record: the line it starts on and its cells, or why it could not be read."""

    line: int
    cells: list[str]
    problem: str | None = None


def csv_records(text: str, *, delimiter: str = ",", max_field_kb: int = 1024) -> list[CsvRecord]:
    """Every record of CSV text with the line it starts on; a record holding a cell over
    `max_field_kb` KB (or malformed quoting) becomes a record with a `problem` and reading goes on
    with the next line, so one bad cell costs one row, not the file."""
    out: list[CsvRecord] = []
    for chunk in csv_record_chunks(io.StringIO(text, newline=""), delimiter=delimiter, max_field_kb=max_field_kb,
                                   rows=1 << 62):
        out += chunk
    return out


def csv_record_chunks(lines: Iterable[str], *, delimiter: str = ",", max_field_kb: int = 1024,
                      rows: int = 20_000) -> Iterator[list[CsvRecord]]:
    """The records of CSV text given as lines (newlines kept), `rows` at a time, as `csv_records`
    reads them. The cell bound is the csv module's process-wide `field_size_limit`: set while a
    chunk is read, restored between chunks (and after the last)."""
    reader = csv.reader(iter(lines), delimiter=delimiter)
    last, done = 0, False
    while not done:
        chunk: list[CsvRecord] = []
        previous = csv.field_size_limit(max_field_kb * 1024)
        try:
            while len(chunk) < rows:
                try:
                    cells = next(reader)
                except StopIteration:
                    done = True
                    break
                except csv.Error as exc:
                    what = str(exc)
                    if "field limit" in what:
                        what = f"a cell is larger than {max_field_kb:,} KB (max_csv_field_kb); row not read"
                    else:
                        what = f"not valid CSV ({what}); row not read"
                    chunk.append(CsvRecord(last + 1, [], what))
                    last = reader.line_num
                    continue
                chunk.append(CsvRecord(last + 1, cells))
                last = reader.line_num
        finally:
            csv.field_size_limit(previous)
        if chunk:
            yield chunk


@dataclass
class Table:
    """A CSV sheet: its header (as written) and its rows, each with the line it starts on."""

    path: str
    columns: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: dict[int, str] = field(default_factory=dict)  # row index -> what is wrong with it

    def column(self, name: str) -> str:
        """The header cell matching `name` (case and surrounding spaces ignored); UsageError if none."""
        want = name.strip().lower()
        for c in self.columns:
            if c.strip().lower() == want:
                return c
        raise UsageError(f"{self.path}: no column {name!r} (columns: {', '.join(self.columns) or 'none'}); "
                         "use --column")


def read_table(path: Path | str, *, strict: bool = True, max_field_kb: int = 1024) -> Table:
    """A CSV sheet with a header row; comma, semicolon or tab separated (sniffed from the header).

    A row with more cells than the header, or a cell over `max_field_kb` KB (the setting
    max_csv_field_kb), is a DataError naming its line; with `strict=False` the row is kept (its
    first cells, or none) and described in `Table.problems`, so a batch job can report it in place."""
    where = "<stdin>" if str(path) == "-" else str(path)
    text = read_text(path)
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count) if any(d in first for d in ",;\t") else ","
    records = csv_records(text, delimiter=delimiter, max_field_kb=max_field_kb)
    if not records:
        raise DataError(f"{where}: empty file; expected a header row")
    head = records[0]
    if head.problem is not None:
        raise DataError(f"{where}:{head.line}: {head.problem}")
    columns = [h.strip() for h in head.cells]
    table = Table(where, columns)
    for rec in records[1:]:
        row = rec.cells
        if rec.problem is None and not any(cell.strip() for cell in row):
            continue
        problem = rec.problem
        if problem is None and len(row) > len(columns):
            problem = f"{len(row)} cells but the header has {len(columns)} columns"
        if problem is not None:
            if strict:
                raise DataError(f"{where}:{rec.line}: {problem}")
            table.problems[len(table.rows)] = problem
        table.rows.append({c: (row[i] if i < len(row) else "") for i, c in enumerate(columns)})
        table.lines.append(rec.line)
    return table
