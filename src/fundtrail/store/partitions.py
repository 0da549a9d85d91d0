"""Writing the lake: immutable partitions with page checksums, the catalog commit that makes a
batch visible, rewrites (rollback, height back-fill) and the removal of files no commit references.

A mixin of `Store` (it uses `connect`, `lake`); kept apart so that each module stays small. Each
file's size, row count and SHA-256 go into the catalog with the commit that references it
(`store/integrity.py` says why and how they are checked).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from fundtrail.errors import StoreError
from fundtrail.model.chains import check_chain_name
from fundtrail.store import integrity
from fundtrail.store.tables import DELTA_COLUMNS, DICTIONARY_COLUMNS

#: Names of the files the store itself writes in a table directory (others are left alone).
PARTITION_NAME = re.compile(r"(\.tmp-)?batch-\d{8}(-[a-z0-9]+)?\.parquet")
TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
FILE_MODE, DIR_MODE = 0o600, 0o700
_BLOCK_INDEX_COLUMNS = ("block_id", "hash", "prev_hash", "height", "batch_id", "first_tx_id",
                        "first_output_id", "first_address_id")
_BLOCK_INDEX_TYPES = (pa.int64(), pa.binary(), pa.binary(), pa.int64(), pa.int64(), pa.int64(),
                      pa.int64(), pa.int64())


def fsync_path(path: Path) -> None:
    """Flush a file or a directory (after a rename in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes | Callable[[BinaryIO], None], *, mode: int = 0o644) -> None:
    """Write the file `path` whole or not at all, and durably: a temporary file beside it (`data`
    as bytes, or a function writing to the open file), fsynced, renamed over `path`, the directory
    fsynced. A crash leaves the old file or none, never half of one; the temporary file is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # the rename is durable once the directory is synced
        fsync_path(path.parent)


def make_private_dir(path: Path) -> None:
    """Create `path` and its missing parents inside the store as 0700 directories."""
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=DIR_MODE)


class Partitions:
    """Writing, committing, rewriting and removing lake files (mixed into `Store`)."""

    lake: Path
    _written: dict[tuple[str, str], integrity.FileRecord]

    def connect(self, *, read_only: bool = False) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        raise NotImplementedError  # provided by Store

    def write_partition(self, chain: str, table: str, name: str, data: pa.Table | pa.RecordBatchReader) -> str:
        """Write one immutable partition durably (temp file, fsync, rename); returns its lake path.
        `data` is a table, or a reader whose batches are written as they come.

        Pages carry CRC checksums; the file's size, row count and SHA-256 are recorded in the
        catalog with the commit that references it (`commit_batch`, `rewrite_partitions`).
        """
        check_chain_name(chain)
        if TABLE_NAME.fullmatch(table) is None or PARTITION_NAME.fullmatch(name) is None:
            raise StoreError(f"refusing to write lake file {table}/{name}: not a partition name")
        folder = self.lake / chain / table
        make_private_dir(folder)
        tmp = folder / f".tmp-{name}"
        final = folder / name
        names = data.schema.names
        options: dict[str, Any] = {
            "compression": "zstd", "compression_level": 1, "write_statistics": True,
            "use_dictionary": [c for c in names if c in DICTIONARY_COLUMNS],
            "column_encoding": {c: "DELTA_BINARY_PACKED" for c in names if c in DELTA_COLUMNS},
            "write_page_checksum": True}
        if isinstance(data, pa.Table):
            pq.write_table(data, tmp, **options)
            rows = data.num_rows
        else:  # streamed: a row group per batch, never whole in memory
            rows = 0
            with pq.ParquetWriter(tmp, data.schema, **options) as wr:
                for batch in data:
                    wr.write_batch(batch)
                    rows += batch.num_rows
        os.chmod(tmp, FILE_MODE)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        fsync_path(folder)
        rel = f"{table}/{name}"
        self._written[(chain, rel)] = integrity.measure(final, rel, rows)
        return rel

    def _records_of(self, chain: str, rels: list[str]) -> list[integrity.FileRecord]:
        """Records of files this object wrote (measured now for any it did not)."""
        out = []
        for rel in rels:
            record = self._written.pop((chain, rel), None)
            out.append(record or integrity.measure(self.lake / chain / rel, rel))
        return out

    def commit_batch(self, chain: str, batch: dict, files: list[str], block_rows: list[tuple], *,
                     extra: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> None:
        """Record a written batch and its blocks in one catalog transaction: the commit point.

        `extra` runs inside that transaction, before COMMIT: rows that must be committed with the
        batch or not at all (the alerts of watch rules, docs/watch.md)."""
        records = self._records_of(chain, files)
        with self.connect() as con:
            con.execute("BEGIN")
            integrity.save_records(con, chain, records)
            cols = list(batch)
            con.execute(
                f"INSERT INTO batches (chain, files, committed_at, {', '.join(cols)}) "
                f"VALUES (?, ?, now(), {', '.join('?' for _ in cols)})",
                [chain, files, *[batch[c] for c in cols]],
            )
            if block_rows:
                cols = list(zip(*block_rows))
                rows = pa.table({
                    "chain": pa.array([chain] * len(block_rows), pa.string()),
                    **{name: pa.array(col, typ) for name, col, typ in zip(
                        _BLOCK_INDEX_COLUMNS, cols, _BLOCK_INDEX_TYPES)},
                })
                con.register("_new_blocks", rows)
                con.execute("INSERT INTO block_index SELECT * FROM _new_blocks")
                con.unregister("_new_blocks")
            if extra is not None:
                extra(con)
            con.execute("COMMIT")

    def rewrite_partitions(self, chain: str, batches: list[tuple[int, list[str]]],
                           transform: Callable[[str, pa.Table], pa.Table | None], suffix: str,
                           after_write: Callable[[], None] | None = None,
                           tables: frozenset[str] | None = None,
                           ) -> tuple[list[tuple[int, list[str]]], list[str]]:
        """Pass committed partitions through `transform(table, data)` and write what changed.

        `transform` returns None to keep a file as it is, or its new content (an empty table drops
        the file); files of tables not in `tables` (when given) are kept unread. Returns each
        batch's new file list and the files made obsolete: the caller
        switches the catalog in one transaction, then calls `delete_files` on the obsolete ones, so
        a crash in between leaves either the old files in force or the new ones as debris.
        """
        plan: list[tuple[int, list[str]]] = []
        obsolete: list[str] = []
        with self.connect(read_only=True) as con:
            records = self._load_records(con, chain)
        written: list[str] = []
        for batch_id, files in batches:
            kept: list[str] = []
            for rel in files:
                table, name = rel.split("/")
                if tables is not None and table not in tables:
                    kept.append(rel)
                    continue
                new = transform(table, integrity.read_verified(self.lake / chain / rel, records.get((chain, rel))))
                if new is None:
                    kept.append(rel)
                    continue
                obsolete.append(rel)
                if new.num_rows:
                    kept.append(self.write_partition(chain, table, name.replace(".parquet", f"-{suffix}.parquet"), new))
                    written.append(kept[-1])
                    if after_write:
                        after_write()
            plan.append((batch_id, kept))
        if written:  # recorded before the caller's catalog switch; dropped as orphans if it never comes
            new_records = self._records_of(chain, written)
            with self.connect() as con:
                integrity.save_records(con, chain, new_records)
        return plan, obsolete

    def delete_files(self, chain: str, rels: list[str]) -> None:
        """Delete lake files no committed batch refers to any more, and their records."""
        for rel in rels:
            (self.lake / chain / rel).unlink(missing_ok=True)
        if rels:
            with self.connect() as con:
                integrity.drop_records(con, chain, rels)

    @staticmethod
    def _load_records(con: duckdb.DuckDBPyConnection, chain: str | None = None,
                      ) -> dict[tuple[str, str], integrity.FileRecord]:
        """File records, or none for a catalog not yet migrated to schema 5 (opened read-only)."""
        try:
            return integrity.load_records(con, chain)
        except duckdb.CatalogException:
            return {}

    def refresh_records(self, chain: str) -> int:
        """At a chain's write-open: record committed files written before records existed, and
        re-stamp files whose time changed but whose content did not (a copied store). A file whose
        content changed is a StoreError: nothing is written onto a damaged chain. Returns the
        number of files recorded or re-stamped."""
        with self.connect(read_only=True) as con:
            rows = con.execute("SELECT files FROM batches WHERE chain = ?", [chain]).fetchall()
            records = self._load_records(con, chain)
        fresh = []
        for rel in sorted({f for (files,) in rows for f in files}):
            path, rec = self.lake / chain / rel, records.get((chain, rel))
            if rec is None or integrity.check_file(path, rec):
                fresh.append(integrity.measure(path, rel))
        if fresh:
            with self.connect() as con:
                integrity.save_records(con, chain, fresh)
        return len(fresh)

    def remove_orphans(self, chain: str) -> int:
        """Delete lake files of `chain` that no committed batch references (left by a crash).

        Call it only while holding the chain's writer lock (`lock_writer`).
        """
        base = self.lake / chain
        if not base.exists():
            return 0
        with self.connect(read_only=True) as con:
            rows = con.execute("SELECT files FROM batches WHERE chain = ?", [chain]).fetchall()
            recorded = self._load_records(con, chain)
        known = {f for (files,) in rows for f in files}
        removed = 0
        for path in base.glob("*/*"):
            rel = f"{path.parent.name}/{path.name}"
            # only files the store itself writes: anything else is left for `fsck` to report
            if path.is_file() and rel not in known and PARTITION_NAME.fullmatch(path.name):
                path.unlink()
                removed += 1
        stale = [rel for (_, rel) in recorded if rel not in known]
        if stale:
            with self.connect() as con:
                integrity.drop_records(con, chain, stale)
        return removed
