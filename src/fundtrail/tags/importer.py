"""Importing label files and directories: detect, read, validate, diff, store; a report per file.

Each file is its own unit: replaced whole (`tagstore.replace_file`, or `bulkstore.replace_file_from`
for a large file read in chunks by `streamimport`) inside a catalog transaction.
A file whose content is already in force is not read again (`unchanged`); a file that cannot be
read at all (YAML syntax error, a bound exceeded, wrong structure) keeps its previous version in
force and is reported `failed` with file and line, and the other files are imported all the same;
files of no known format in a directory are `skipped`. Label files are untrusted input: they are
read within `records.Limits` (YAML nodes, CSV cell size, JSON depth).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from fundtrail.errors import DataError, FundtrailError, UsageError
from fundtrail.model.textfiles import decode_text
from fundtrail.store import Store
from fundtrail.store.engine import configure_memory
from fundtrail.store.spill import default_limit
from fundtrail.tags import bulkstore, formats, prepared, streamimport, tagstore
from fundtrail.tags.csvsources import ColumnMapping
from fundtrail.tags.prepared import FileReport, Prepared, failed, undecodable, version_sha
from fundtrail.tags.records import Limits
from fundtrail.tags.validate import validate

__all__ = ["FileReport", "collect_files", "import_file", "import_paths"]

_HEAD_BYTES = 4096
_COMMIT_EVERY = 100_000  # tags per catalog transaction, a file counting `_FILE_WEIGHT` more
_FILE_WEIGHT = 2_000  # so that at most ~50 small files share one transaction


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


@dataclass
class _Touched:
    """Addresses whose merged tags a transaction must recompute: a set, and in DuckDB
    (`bulkstore.TOUCHED`) those of streamed files."""

    addresses: set[str] = field(default_factory=set)
    streamed: bool = False


def _prepare(path: Path, fmt: str, known: dict[str, str], *, currency: str | None,
             mapping: ColumnMapping | None, limits: Limits, root: Path) -> Prepared:
    """Read, parse and validate one file, without the catalog (so without holding its lock); a
    large file of a line-oriented format is streamed (`streamimport`), the others read whole."""
    if streamimport.large(path):
        streamed = streamimport.prepare(path, fmt, known, currency=currency, mapping=mapping,
                                        limits=limits, root=root)
        if streamed is not None:
            return streamed
    where = str(path.resolve())
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Prepared(path, failed(where, None, f"cannot read {path}: {exc.strerror}"))
    try:  # UTF-8 with or without BOM, UTF-16/32 with BOM, as spreadsheets write them
        text: str | None = decode_text(data, where)
        not_text = None
    except DataError as exc:
        text, not_text = None, exc
    if fmt == "auto":
        head = text[:_HEAD_BYTES] if text is not None else data[:_HEAD_BYTES].decode("utf-8", "replace")
        fmt_found = formats.detect(path, head)
        if fmt_found is None:
            return Prepared(path, FileReport(where, None, "skipped", reason="not a label file of a known format"))
    else:
        fmt_found = formats.check_format(fmt)
    sha = version_sha(hashlib.sha256(data).hexdigest(), fmt_found, currency, mapping)
    if known.get(where) == sha:
        return Prepared(path, FileReport(where, fmt_found, "unchanged"), sha, fmt_found)
    if text is None:
        offset = int(re.search(r"offset (\d+)", str(not_text)).group(1))  # type: ignore[union-attr]
        line = data[:offset].count(b"\n") + 1
        return Prepared(path, failed(where, fmt_found, undecodable(offset), line))
    del data
    try:
        parsed = formats.read(path, text, fmt_found, currency=currency, mapping=mapping, limits=limits)
    except FundtrailError as exc:
        report = failed(where, fmt_found, exc.one_line())
        report.usage = isinstance(exc, UsageError)
        return Prepared(path, report)
    del text
    report = FileReport(where, parsed.format, "imported", actors=len(parsed.actors))
    problems = list(parsed.problems)
    rows: list[dict] = []
    seen: set[str] = set()
    for raw in parsed.tags:
        row = validate(raw, where, problems)
        if row is None:
            continue
        if row["tag_key"] in seen:
            report.duplicates += 1
            continue
        seen.add(row["tag_key"])
        rows.append(row)
    report.invalid = sum(1 for p in problems if p.severity == "invalid")
    report.warnings = len(problems) - report.invalid
    keep = prepared.KEEP_PROBLEMS
    report.problems, report.omitted = problems[:keep], max(0, len(problems) - keep)
    if not rows and not parsed.actors and report.invalid:  # nothing usable: keep what is in force
        report.status = "failed"
        report.reason = "nothing readable in the file; the previous version (if any) stays in force"
        return Prepared(path, report)
    counts = {"invalid": report.invalid, "warnings": report.warnings, "duplicates": report.duplicates}
    return Prepared(path, report, sha, parsed.format, rows, parsed.actors, counts, parsed=True)


def _write(con: duckdb.DuckDBPyConnection, job: Prepared, touched: _Touched, *, fmt: str,
           currency: str | None, mapping: ColumnMapping | None, limits: Limits, root: Path) -> None:
    """Put one prepared file in force inside the caller's transaction; its report is completed."""
    report = job.report
    if report.status in ("skipped", "failed"):
        return
    current = tagstore.current_version(con, report.path)
    if current == job.sha:
        report.status, report.reason = "unchanged", "this version is already imported"
        report.import_id = tagstore.record_unchanged(con, report.path, job.sha, job.fmt)
        return
    if not job.parsed:  # another import changed it since this run began: read it now
        fresh = _prepare(job.path, fmt, {}, currency=currency, mapping=mapping, limits=limits, root=root)
        job.__dict__.update(fresh.__dict__)
        report = job.report
        if report.status == "failed":
            return
    if job.table is not None:
        import_id, diff = bulkstore.replace_file_from(con, report.path, job.sha, job.fmt, job.table,
                                                      job.n_tags, job.counts)
        touched.streamed = True
    else:
        import_id, diff, changed = tagstore.replace_file(con, report.path, job.sha, job.fmt, job.rows,
                                                         job.actors, job.counts)
        touched.addresses |= changed
    report.tags = job.weight
    report.import_id = import_id
    report.diff = diff.summary()
    if diff.unchanged + report.diff["changed"] + report.diff["removed"] > 0:
        report.status = "updated"


def _commit(store: Store, jobs: list[Prepared], **options: object) -> None:
    """Write `jobs` in one short catalog transaction. If it fails, each file is written alone, so
    one file the catalog refuses fails by itself and the others still commit."""
    try:
        with store.connect() as con:
            con.execute("BEGIN")
            try:
                touched = _Touched()
                for job in jobs:
                    _write(con, job, touched, **options)  # type: ignore[arg-type]
                if touched.streamed:
                    bulkstore.refresh_touched(con, touched.addresses, tagstore.merge_batch())
                else:
                    tagstore.refresh_merged(con, touched.addresses)
                con.execute("COMMIT")
                return
            except duckdb.Error:
                con.execute("ROLLBACK")
                if len(jobs) == 1:
                    raise
    except duckdb.Error as exc:
        job = jobs[0]
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        job.report = failed(job.report.path, job.report.format, f"the catalog refused this file: {msg}")
        return
    for job in jobs:
        if job.report.status not in ("skipped", "failed"):
            job.report.status = "imported"
            _commit(store, [job], **options)


def import_paths(store: Store, paths: list[Path], fmt: str = "auto", *, currency: str | None = None,
                 mapping: ColumnMapping | None = None,
                 progress: Callable[[int, int, FileReport], None] | None = None,
                 max_yaml_nodes: int = 1_000_000, max_csv_field_kb: int = 1024,
                 max_json_depth: int = 2_500) -> list[FileReport]:
    """Import every file named or found under the directories named; each file is its own unit.

    A file is read, parsed and validated without the catalog; then small files are written
    together in one short transaction (committed every ~100,000 tags or ~50 files), and the catalog
    is released between transactions, so readers (`fundtrail status`, another process's lookups)
    get in while a long import runs. A file is never split across transactions, so a crash leaves
    each file either in its new or its old version; a file that cannot be read is reported
    `failed` with its line and the others are still imported. A file's report is given to
    `progress` only once its transaction has committed. A large CSV-like file is read in chunks
    into the store's spill directory (`streamimport`), so its size is not bounded by memory.
    """
    formats.check_format(fmt)
    files = collect_files(paths)
    limit = default_limit()
    if limit is not None:  # DuckDB's share of memory_limit (the merge runs in batches that fit a quarter)
        configure_memory(tagstore.import_share(limit))
    limits = Limits(max_yaml_nodes, max_csv_field_kb, max_json_depth)
    with store.connect(read_only=True) as con:
        known = dict(con.execute("SELECT path, sha256 FROM tag_files").fetchall())
    streamimport.sweep(store.root)
    options = {"fmt": fmt, "currency": currency, "mapping": mapping, "limits": limits, "root": store.root}
    reports: list[FileReport] = []
    pending: list[Prepared] = []
    weight = 0

    def flush() -> None:
        nonlocal weight
        try:
            if any(job.report.status not in ("skipped", "failed") for job in pending):
                _commit(store, pending, **options)
        finally:
            for job in pending:
                job.close()
        for job in pending:
            reports.append(job.report)
            if progress is not None:
                progress(len(reports), len(files), job.report)
        pending.clear()
        weight = 0

    try:
        for path in files:
            try:
                job = _prepare(path, fmt, known, currency=currency, mapping=mapping, limits=limits,
                               root=store.root)
            except Exception as exc:  # noqa: BLE001  # a reader's bug must not cost the other files (counted
                # in benchmarks/reliability_labels.py as a traceback: the goal is none)
                job = Prepared(path, failed(str(path.resolve()), None, f"unexpected {type(exc).__name__} "
                                            f"reading this file: {str(exc)[:200]} (a fundtrail bug; please report it)"))
            pending.append(job)
            weight += job.weight + _FILE_WEIGHT
            if weight >= _COMMIT_EVERY:
                flush()
        flush()
    finally:
        for job in pending:
            job.close()
    return reports


def import_file(store: Store, path: Path, fmt: str = "auto", **options: object) -> FileReport:
    """Import one file (`import_paths` with one path)."""
    (report,) = import_paths(store, [path], fmt, **options)  # type: ignore[arg-type]
    return report
