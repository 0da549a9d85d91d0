"""A large label file of a line-oriented format (CSV, Ransomwhere, Receipts) read in chunks.

The whole-file reader holds a file's bytes, its text, a RawTag and a row dict per record (about
3.4 KB per tag: 2 GB for a 586,000-row CSV). Here a file over `STREAM_BYTES` is hashed in one pass
(so an unchanged file is still recognised without parsing), then read `CHUNK_ROWS` records at a
time: each chunk is parsed and validated by the same code as a whole file and written as a Parquet
row group into the import's spill directory (`<store>/cache/spill/tags-<pid>-<n>/`); duplicates
(same tag key, the first line wins) are removed by DuckDB (which spills under its share of
`memory_limit`) into the file that `bulkstore.replace_file_from` puts in force. All of this runs
before the catalog transaction, so the catalog is not locked while the file is read. The report is
the whole-file reader's, problems in the same order (the first `prepared.KEEP_PROBLEMS` kept).

TagPack YAML and JSON lists stay whole-file: their size is bounded by `max_yaml_nodes` and
`max_json_depth`, and the explorer CSV and OFAC lists are small (docs/scale.md).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from fundtrail.errors import FundtrailError, UsageError
from fundtrail.model.textfiles import csv_record_chunks
from fundtrail.store import engine
from fundtrail.store.spill import SPILL_DIR, Spill, sweep_stale
from fundtrail.store.sql import scalar
from fundtrail.tags import formats, tagstore
from fundtrail.tags.csvsources import ROW_FORMATS, ColumnMapping, row_reader
from fundtrail.tags.prepared import FileReport, Prepared, ProblemLog, failed, undecodable, version_sha
from fundtrail.tags.records import Limits, Problem, RawTag
from fundtrail.tags.textstream import TextLines, head_text, read_head, scan
from fundtrail.tags.validate import validate

#: Files larger than this (bytes) of a ROW_FORMATS format are streamed; smaller ones are read whole
#: and share a transaction with other small files.
STREAM_BYTES = 2 << 20
#: Records parsed and validated at a time (about 1.5 KB of Python objects each while in hand).
CHUNK_ROWS = 20_000
_STAGE = "tags"
_DETECT = 4096  # characters the format is detected from (as the whole-file reader)


def large(path: Path) -> bool:
    """Whether `path` is large enough to be streamed (if its format is one that can be)."""
    try:
        return path.stat().st_size > STREAM_BYTES
    except OSError:
        return False


def prepare(path: Path, fmt: str, known: dict[str, str], *, currency: str | None,
            mapping: ColumnMapping | None, limits: Limits, root: Path) -> Prepared | None:
    """Hash, parse and validate a large file, as `importer._prepare` does a small one; None if
    its format is not streamed (the whole-file reader takes it)."""
    where = str(path.resolve())
    try:
        head = read_head(path)
    except OSError:
        return None  # the whole-file reader reports it
    text = head_text(head)
    raw_head = head[:_DETECT].decode("utf-8", "replace")
    found = (formats.detect(path, text[:_DETECT] if text is not None else raw_head) if fmt == "auto"
             else formats.check_format(fmt))
    if found not in ROW_FORMATS:
        return None
    try:
        scanned = scan(path)
    except OSError as exc:
        return Prepared(path, failed(where, None, f"cannot read {path}: {exc.strerror}"))
    if scanned.bad_offset is not None and fmt == "auto" and text is not None:
        found = formats.detect(path, raw_head)  # as the whole-file reader detects a file that is not text
        if found is None:
            return Prepared(path, FileReport(where, None, "skipped", reason="not a label file of a known format"))
    assert found is not None
    sha = version_sha(scanned.sha, found, currency, mapping)
    if known.get(where) == sha:
        return Prepared(path, FileReport(where, found, "unchanged"), sha, found)
    if scanned.bad_offset is not None:
        return Prepared(path, failed(where, found, undecodable(scanned.bad_offset), scanned.bad_line))
    return _read(path, where, found, currency=currency, mapping=mapping, limits=limits, root=root)


def _read(path: Path, where: str, fmt: str, *, currency: str | None, mapping: ColumnMapping | None,
          limits: Limits, root: Path) -> Prepared:
    spill = Spill(root, None, _STAGE)
    try:
        reader = row_reader(fmt, path, currency=currency, mapping=mapping)
        directory = spill.directory()
        rows_file, table = directory / "rows.parquet", directory / "tags.parquet"
        log, valid, lines = ProblemLog(), 0, TextLines(path)
        with pq.ParquetWriter(rows_file, tagstore.row_table([]).schema) as writer:
            for records in csv_record_chunks(lines, max_field_kb=limits.max_csv_field_kb, rows=CHUNK_ROWS):
                tags: list[RawTag] = []
                unreadable: list[Problem] = []
                refused: list[Problem] = []
                checked: list[Problem] = []
                reader.take(records, tags, unreadable, refused)
                rows = [row for raw in tags if (row := validate(raw, where, checked)) is not None]
                log.add("records", unreadable)
                log.add("rows", refused)
                log.add("validation", checked)
                if rows:
                    writer.write_table(tagstore.row_table(rows))
                    valid += len(rows)
                del tags, rows, records
            refused = []
            reader.finish(refused)
            log.add("rows", refused)
        report = FileReport(where, reader.format, "imported")
        log.apply(report)
        if not valid and report.invalid:  # nothing usable: keep what is in force
            report.status = "failed"
            report.reason = "nothing readable in the file; the previous version (if any) stays in force"
            spill.close()
            return Prepared(path, report)
        n_tags = _first_of_each_key(rows_file, table, valid)
    except (FundtrailError, OSError, duckdb.Error) as exc:
        spill.close()
        if isinstance(exc, OSError):
            message = f"cannot read {path}: {exc.strerror}"
        elif isinstance(exc, duckdb.Error):
            message = f"could not set the rows aside in {root / SPILL_DIR}: {str(exc).splitlines()[0]}"
        else:
            message = exc.one_line()
        report = failed(where, fmt, message)
        report.usage = isinstance(exc, UsageError)
        return Prepared(path, report)
    except BaseException:
        spill.close()
        raise
    report.duplicates = valid - n_tags
    counts = {"invalid": report.invalid, "warnings": report.warnings, "duplicates": report.duplicates}
    assert lines.sha is not None
    sha = version_sha(lines.sha, reader.format, currency, mapping)  # the bytes actually read
    return Prepared(path, report, sha, reader.format, counts=counts, parsed=True, table=table,
                    n_tags=n_tags, cleanup=spill.close)


def _first_of_each_key(rows: Path, out: Path, valid: int) -> int:
    """Move the `valid` rows of `rows` to `out`, in line order, less those whose tag key occurred on
    an earlier line; returns how many are left. (A window over the keys: DuckDB spills it, where a
    join of the rows with each key's first line ran out of its 128 MB.)"""
    src = f"read_parquet({engine.sql_string(str(rows))})"
    con = engine.session()
    try:
        keys = int(scalar(con.execute(f"SELECT count(*) FROM (SELECT tag_key FROM {src} GROUP BY tag_key)")))
        if keys == valid:  # no duplicates: the rows are the file's, already in line order
            rows.rename(out)
            return keys
        con.execute(f"COPY (SELECT * FROM {src} QUALIFY row_number() OVER (PARTITION BY tag_key ORDER BY line) = 1 "
                    f"ORDER BY line) TO {engine.sql_string(str(out))} (FORMAT parquet)")
    finally:
        con.close()
    rows.unlink()
    return keys


def sweep(root: Path) -> None:
    """Remove the spill directories of tag imports whose process has ended (killed mid-import)."""
    sweep_stale(root, _STAGE)
