"""One label file read and validated, waiting for its catalog transaction, and its report.

Shared by the whole-file reader (`importer._prepare`) and the streamed one (`streamimport`), so both
hand the writer the same thing: either the validated rows in memory, or a Parquet file of them in
the import's spill directory (a file too large to hold). A report keeps at most `KEEP_PROBLEMS`
problems (the first ones, in the order they are reported) and counts all of them, so a file of a
million bad rows costs a bounded report, not a million objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fundtrail.tags.csvsources import ColumnMapping
from fundtrail.tags.records import Actor, Problem

#: Problems kept per file (the report counts the others and says how many were left out).
KEEP_PROBLEMS = 1_000


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
    usage: bool = False  # failed because the options given do not fit the file (--map COLUMN)
    omitted: int = 0  # problems found but not kept (beyond KEEP_PROBLEMS); counted in invalid/warnings

    def as_dict(self) -> dict:
        problems = [str(p) for p in self.problems]
        if self.omitted:
            problems.append(f"{self.path}: {self.omitted:,} more problems not listed (the first "
                            f"{len(self.problems):,} are; {self.invalid:,} invalid and "
                            f"{self.warnings:,} warnings in all)")
        return {"path": self.path, "format": self.format, "status": self.status, "tags": self.tags,
                "invalid": self.invalid, "warnings": self.warnings, "duplicates": self.duplicates,
                "actors": self.actors, "import_id": self.import_id, "diff": self.diff,
                "reason": self.reason, "problems": problems, "problems_omitted": self.omitted}


@dataclass
class Prepared:
    """What `tagstore` needs to put one file version in force: `rows` in memory, or `table`, a
    Parquet file of `n_tags` deduplicated rows in line order (a streamed file); `cleanup` removes
    that file's spill directory once the file is committed or given up."""

    path: Path
    report: FileReport
    sha: str = ""
    fmt: str = ""
    rows: list[dict] = field(default_factory=list)
    actors: list[Actor] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    parsed: bool = False  # False: its content was already in force when the run began (not read)
    table: Path | None = None
    n_tags: int = 0
    cleanup: Callable[[], None] | None = None

    @property
    def weight(self) -> int:
        """Tags this file puts in force (what the importer counts towards a transaction)."""
        return self.n_tags if self.table is not None else len(self.rows)

    def close(self) -> None:
        """Remove the spill files (idempotent)."""
        if self.cleanup is not None:
            self.cleanup()
            self.cleanup = None


def failed(where: str, fmt: str | None, message: str, line: int = 0) -> FileReport:
    """The report of a file that could not be read at all."""
    return FileReport(where, fmt, "failed", problems=[Problem(where, line, message)], reason=message)


def version_sha(sha: str, fmt: str, currency: str | None, mapping: ColumnMapping | None) -> str:
    """The version of a file's import: its bytes' SHA-256, plus the options when any are given (the
    same bytes read with other options are another version)."""
    if currency or (mapping and (mapping.columns or mapping.defaults)):
        options = repr((fmt, currency, sorted((mapping.columns if mapping else {}).items()),
                        sorted((mapping.defaults if mapping else {}).items())))
        sha += "+" + hashlib.sha256(options.encode()).hexdigest()[:16]
    return sha


def undecodable(offset: int) -> str:
    """The message of a file that is not text (the byte `offset` is the first that does not decode)."""
    return (f"not UTF-8 text (undecodable byte at offset {offset}); "
            "save it as UTF-8, or UTF-16 with a byte-order mark")


class ProblemLog:
    """Problems of one file in report order, at most KEEP_PROBLEMS kept, all counted.

    A whole file's report lists the reader's problems (unreadable records, then rows the format
    refuses) before validation's; a streamed file finds them interleaved chunk by chunk, so each
    kind keeps its own first KEEP_PROBLEMS and `result` concatenates them in the whole file's order.
    """

    KINDS = ("records", "rows", "validation")

    def __init__(self) -> None:
        self.kept: dict[str, list[Problem]] = {k: [] for k in self.KINDS}
        self.total = 0
        self.invalid = 0

    def add(self, kind: str, problems: list[Problem]) -> None:
        kept = self.kept[kind]
        kept.extend(problems[:max(0, KEEP_PROBLEMS - len(kept))])
        self.total += len(problems)
        self.invalid += sum(1 for p in problems if p.severity == "invalid")

    def apply(self, report: FileReport) -> None:
        """Put the kept problems and the counts in `report`."""
        problems = [p for k in self.KINDS for p in self.kept[k]][:KEEP_PROBLEMS]
        report.problems, report.omitted = problems, self.total - len(problems)
        report.invalid, report.warnings = self.invalid, self.total - self.invalid
