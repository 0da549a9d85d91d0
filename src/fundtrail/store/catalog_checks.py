"""Checks a catalog file passes when it is attached: not truncated (every time), and read in full
before this process first writes it (DuckDB verifies a block's checksum only when it reads it, and a
write must not checkpoint over a damaged catalog). `Store._attach` calls them."""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb

from fundtrail.errors import StoreError
from fundtrail.store import engine, integrity

HEADER_BYTES = 3 * 4096  # DuckDB's file header and its two database headers
#: catalogs read in full by this process before its first write: path -> identity when last seen
VERIFIED: dict[Path, tuple[Path, int, int, int]] = {}


def check_size(catalog: Path, att: engine.Attachment) -> None:
    """A catalog file shorter than the blocks its header declares was truncated: refuse it
    before anything is written into it (DuckDB would find out only on reading a lost block).
    Skipped while a write-ahead log exists: blocks replayed from it are counted as used before a
    checkpoint has written them to the file, so the file may rightly be shorter."""
    if catalog.with_name(catalog.name + ".wal").exists():
        return
    con = engine.session()
    try:  # (sizes of every attached database: one being detached by another thread may fail)
        row = con.execute("SELECT block_size, used_blocks FROM pragma_database_size() "
                          "WHERE database_name = ?", [att.alias]).fetchone()
    except duckdb.Error:
        row = None
    finally:
        con.close()
    size = catalog.stat().st_size
    want = HEADER_BYTES + int(row[0]) * int(row[1]) if row else 0
    if size < want:
        engine.detach(att)
        raise StoreError(f"store catalog {catalog} is truncated: {size:,} bytes, its blocks "
                         f"need at least {want:,}",
                         hint="restore it from a backup (fundtrail never rebuilds a catalog over "
                              "existing data)")


def check_blocks(catalog: Path, lake: Path, att: engine.Attachment) -> None:
    """Before this process first writes the catalog, read every table in full (DuckDB checks
    each block's checksum): a write must not checkpoint over a damaged catalog. Once per
    process and file; reads skip it (they meet a damaged block as a one-line error anyway)."""
    key = file_key(catalog)
    if VERIFIED.get(key[0]) == key:
        att.verified = True
        return
    con = engine.session()
    try:
        tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                             [att.alias]).fetchall()
        for (t,) in tables:
            con.execute(f'SELECT max(hash(t)) FROM {att.alias}."{t}" t').fetchone()
    except duckdb.Error as exc:
        con.close()
        with contextlib.suppress(duckdb.Error):
            engine.detach(att)
        err = integrity.read_error(exc, lake, catalog)
        raise err or StoreError(f"store catalog {catalog} cannot be read: {exc}") from None
    con.close()
    VERIFIED[key[0]] = key
    att.verified = True


def file_key(catalog: Path) -> tuple[Path, int, int, int]:
    """Identity of the catalog file as this process last left it (a copy or edit changes ctime)."""
    st = catalog.stat()
    return (catalog.resolve(), st.st_dev, st.st_ino, st.st_ctime_ns)
