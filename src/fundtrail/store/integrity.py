"""Integrity of the lake: every partition file's size, row count, SHA-256 and stamp, kept in the
catalog (`lake_files`), checked cheaply before every read and in full by `fundtrail fsck`.

Why: DuckDB reads a Parquet file without verifying its page checksums, so a flipped bit or a
partition swapped in from another store would be read silently and change results that may be
used as evidence. The record written with each file lets a read refuse a file that is missing, of
another size, or whose modification time changed and whose SHA-256 no longer matches (cheap: one
`stat` per file, a hash only for files that were touched since written). Damage that leaves size
and time alone (bit rot) is found by `fsck`, which hashes every file. Files written before records
existed (schema < 5) are recorded when their chain is next opened for writing (the ingest's
write-open) and reported as "unrecorded" by `fsck` until then.
"""

from __future__ import annotations

import hashlib
import os
import stat as _stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from fundtrail.errors import StoreError

FSCK_HINT = "run `fundtrail fsck` to check the whole store; restore the store from a backup"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileRecord:
    """What the catalog knows of one committed lake file (path relative to its chain's lake dir)."""

    path: str
    bytes: int
    rows: int
    sha256: str
    mtime_ns: int


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def measure(path: Path, rel: str, rows: int | None = None) -> FileRecord:
    """The record of a lake file as it is now (rows from its Parquet footer unless given)."""
    st = os.stat(path)
    if rows is None:
        rows = pq.ParquetFile(path).metadata.num_rows
    return FileRecord(rel, st.st_size, int(rows), sha256_file(path), st.st_mtime_ns)


def load_records(con: duckdb.DuckDBPyConnection, chain: str | None = None) -> dict[tuple[str, str], FileRecord]:
    """Records of the lake files of `chain` (or of all chains), keyed by (chain, path)."""
    rows = con.execute("SELECT chain, path, bytes, rows, sha256, mtime_ns FROM lake_files "
                       "WHERE ? IS NULL OR chain = ?", [chain, chain]).fetchall()
    return {(c, p): FileRecord(p, int(b), int(r), s, int(m)) for c, p, b, r, s, m in rows}


def save_records(con: duckdb.DuckDBPyConnection, chain: str, records: Iterable[FileRecord]) -> None:
    """Insert or replace records (call inside the caller's transaction where there is one)."""
    rows = [(chain, r.path, r.bytes, r.rows, r.sha256, r.mtime_ns) for r in records]
    if rows:
        con.executemany("INSERT OR REPLACE INTO lake_files (chain, path, bytes, rows, sha256, mtime_ns, "
                        "recorded_at) VALUES (?, ?, ?, ?, ?, ?, now())", rows)


def drop_records(con: duckdb.DuckDBPyConnection, chain: str, rels: Iterable[str]) -> None:
    rels = list(rels)
    if rels:
        con.execute("DELETE FROM lake_files WHERE chain = ? AND path IN (SELECT unnest(?::VARCHAR[]))",
                    [chain, rels])


def missing(path: Path, why: str) -> StoreError:
    return StoreError(f"lake file {path} {why}", hint=FSCK_HINT)


def check_file(path: Path, record: FileRecord | None) -> bool:
    """Raise StoreError if the file at `path` is missing, unreadable, or not the file `record`
    describes. Cheap unless the file's stamp changed; returns True when it had to be hashed."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise missing(path, "is missing (the catalog refers to it)") from None
    except OSError as exc:
        raise missing(path, f"cannot be read: {exc.strerror}") from None
    if not _stat.S_ISREG(st.st_mode):
        raise missing(path, "is not a regular file")
    if not os.access(path, os.R_OK):
        raise missing(path, "cannot be read: permission denied")
    if record is None:  # written before records existed: recorded at the chain's next write-open
        return False
    if st.st_size != record.bytes:
        raise missing(path, f"has changed: {st.st_size:,} bytes, the catalog recorded {record.bytes:,}")
    if st.st_mtime_ns == record.mtime_ns:
        return False
    if sha256_file(path) != record.sha256:
        raise missing(path, "has changed since it was written (its SHA-256 differs from the catalog's)")
    return True


def check_files(lake: Path, chain: str, rels: Iterable[str],
                records: dict[tuple[str, str], FileRecord]) -> None:
    """`check_file` for each of a chain's files about to be read."""
    for rel in rels:
        check_file(lake / chain / rel, records.get((chain, rel)))


def read_verified(path: Path, record: FileRecord | None) -> pa.Table:
    """A lake file read in full, its SHA-256 checked against `record` and each page's checksum
    verified: a rewrite (rollback, height back-fill) must not copy damage into a new file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise missing(path, "is missing (the catalog refers to it)") from None
    except OSError as exc:
        raise missing(path, f"cannot be read: {exc.strerror}") from None
    if record is not None and hashlib.sha256(data).hexdigest() != record.sha256:
        raise missing(path, "has changed since it was written (its SHA-256 differs from the catalog's)")
    try:
        return pq.read_table(pa.BufferReader(data), page_checksum_verification=True)
    except (OSError, pa.ArrowException) as exc:
        raise missing(path, f"is damaged: {str(exc).splitlines()[0]}") from None


def find_damaged(lake: Path, records: dict[tuple[str, str], FileRecord],
                 files: Iterable[tuple[str, str]]) -> StoreError | None:
    """The one-line error for the first of `files` ((chain, path) pairs) that is missing, changed or
    whose content no longer hashes to its record; None when all are intact.

    For the error path only: DuckDB does not verify page checksums, so bit rot (size and time kept)
    shows as a decoding error naming no file, or as values no store holds; hashing the files that
    were being read is the only way to name the damaged one."""
    for chain, rel in files:
        path, rec = lake / chain / rel, records.get((chain, rel))
        try:
            check_file(path, rec)
            if rec is not None and sha256_file(path) != rec.sha256:
                return missing(path, "is damaged: its SHA-256 differs from the catalog's")
        except StoreError as found:
            return found
        except OSError:
            continue
    return None


def read_error(exc: duckdb.Error, lake: Path, catalog: Path) -> StoreError | None:
    """The one-line StoreError for a DuckDB error met while reading the lake or the catalog (a
    damaged or vanished file), or None when the error is about something else (a query's bug)."""
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    if str(catalog) in text or "corrupt database file" in text.lower():
        return StoreError(f"store catalog {catalog} cannot be read: {first}",
                          hint="the catalog is damaged or truncated; restore it from a backup")
    if str(lake) in text or (isinstance(exc, (duckdb.IOException, duckdb.InvalidInputException))
                             and "parquet" in text.lower()):
        return StoreError(f"a lake file cannot be read: {first}", hint=FSCK_HINT)
    return None
