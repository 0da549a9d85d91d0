"""Importing label files and directories: detect, read, validate, diff, store; a report per file.

Each file is replaced whole (`tagstore.replace_file`) inside a catalog transaction. A file whose content is already in force is
not read again (`unchanged`); a file that cannot be read at all (YAML syntax error, wrong
structure) keeps its previous version in force and is reported `failed`; files of no known format
in a directory are `skipped`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from fundtrail.errors import UsageError
from fundtrail.store import Store
from fundtrail.tags import formats, tagstore
from fundtrail.tags.csvsources import ColumnMapping
from fundtrail.tags.records import Problem
from fundtrail.tags.validate import validate

_HEAD_BYTES = 4096
_COMMIT_EVERY = 100_000  # tags per catalog transaction, a file counting `_FILE_WEIGHT` more
_FILE_WEIGHT = 2_000  # so that at most ~50 small files share one transaction


@dataclass
class FileReport:
    """What happened to one file."""

    path: str
    format: str | None
    status: str  # imported, updated, unchanged, skipped, failed
    tags: int = 0
    invalid: int = 0
    warnings: int = 0
    duplicates: int = 0
    actors: int = 0
    import_id: int | None = None
    diff: dict | None = None
    problems: list[Problem] = field(default_factory=list)
    reason: str | None = None

    def as_dict(self) -> dict:
        return {"path": self.path, "format": self.format, "status": self.status, "tags": self.tags,
                "invalid": self.invalid, "warnings": self.warnings, "duplicates": self.duplicates,
                "actors": self.actors, "import_id": self.import_id, "diff": self.diff,
                "reason": self.reason, "problems": [str(p) for p in self.problems]}


def collect_files(paths: list[Path]) -> list[Path]:
    """Files named, and files under directories named (recursively, sorted); missing paths refused."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
        elif p.is_file():
            out.append(p)
        else:
            raise UsageError(f"cannot read {p}: no such file or directory")
    return out


def import_file(con: duckdb.DuckDBPyConnection, path: Path, fmt: str = "auto", *,
                currency: str | None = None, mapping: ColumnMapping | None = None,
                touched: set[str] | None = None) -> FileReport:
    """Import one file (see the module docstring for the outcomes); the addresses whose tags
    changed are added to `touched` (the caller refreshes their merged tags before committing)."""
    where = str(path.resolve())
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if fmt == "auto":
        fmt_found = formats.detect(path, data[:_HEAD_BYTES].decode("utf-8", "replace"))
        if fmt_found is None:
            return FileReport(where, None, "skipped", reason="not a label file of a known format")
    else:
        fmt_found = formats.check_format(fmt)
    sha = hashlib.sha256(data).hexdigest()
    if currency or (mapping and (mapping.columns or mapping.defaults)):
        # The same bytes read with other options are another version of the import.
        options = repr((fmt_found, currency, sorted((mapping.columns if mapping else {}).items()),
                        sorted((mapping.defaults if mapping else {}).items())))
        sha += "+" + hashlib.sha256(options.encode()).hexdigest()[:16]
    if tagstore.current_version(con, where) == sha:
        import_id = tagstore.record_unchanged(con, where, sha, fmt_found)
        return FileReport(where, fmt_found, "unchanged", import_id=import_id,
                          reason="this version is already imported")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return FileReport(where, fmt_found, "failed", problems=[Problem(where, line, "not UTF-8 text")])
    parsed = formats.read(path, text, fmt_found, currency=currency, mapping=mapping)
    report = FileReport(where, parsed.format, "imported", actors=len(parsed.actors))
    problems = list(parsed.problems)
    rows: list[dict] = []
    first_line: dict[str, int] = {}
    for raw in parsed.tags:
        row = validate(raw, where, problems)
        if row is None:
            continue
        if row["tag_key"] in first_line:
            report.duplicates += 1
            continue
        first_line[row["tag_key"]] = raw.line
        rows.append(row)
    report.problems = problems
    report.invalid = sum(1 for p in problems if p.severity == "invalid")
    report.warnings = len(problems) - report.invalid
    if not rows and not parsed.actors and parsed.problems:
        report.status = "failed"
        report.reason = "nothing readable in the file; the previous version (if any) stays in force"
        return report
    counts = {"invalid": report.invalid, "warnings": report.warnings, "duplicates": report.duplicates}
    import_id, diff, changed = tagstore.replace_file(con, where, sha, parsed.format, rows, parsed.actors, counts)
    if touched is not None:
        touched |= changed
    report.tags = len(rows)
    report.import_id = import_id
    report.diff = diff.summary()
    if diff.unchanged + len(diff.changed) + len(diff.removed) > 0:
        report.status = "updated"
    return report


def import_paths(store: Store, paths: list[Path], fmt: str = "auto", *, currency: str | None = None,
                 mapping: ColumnMapping | None = None,
                 progress: Callable[[int, int, FileReport], None] | None = None) -> list[FileReport]:
    """Import every file named or found under the directories named, one transaction per file.

    One catalog connection serves the whole run, and small files share a transaction (committed
    every ~100,000 tags or ~50 files): opening the catalog, and the durable commit of each transaction,
    cost more than importing a small file, and a label tree holds hundreds of them. A file is never
    split across transactions, so a crash leaves each file either in its new or its old version.
    """
    formats.check_format(fmt)
    files = collect_files(paths)
    reports = []
    with store.connect() as con:
        con.execute("BEGIN")
        try:
            pending = 0
            touched: set[str] = set()
            for i, path in enumerate(files, 1):
                report = import_file(con, path, fmt, currency=currency, mapping=mapping, touched=touched)
                reports.append(report)
                pending += report.tags + _FILE_WEIGHT
                if pending >= _COMMIT_EVERY:
                    tagstore.refresh_merged(con, touched)
                    con.execute("COMMIT")
                    con.execute("BEGIN")
                    pending = 0
                    touched = set()
                if progress is not None:
                    progress(i, len(files), report)
            tagstore.refresh_merged(con, touched)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return reports
