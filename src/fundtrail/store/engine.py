"""One in-process DuckDB engine that every catalog connection and lake snapshot is a session of.

Starting a DuckDB database instance costs about 10 ms however small the work (measured in
docs/benchmarks.md, "one-block clustering update"), and a one-block clustering update used to start
three. So the process keeps one in-memory instance: a lake snapshot is a cursor on it (its own
session: temp views, registered tables and settings stay private to it), and a catalog connection
is a cursor that ATTACHes the catalog file for as long as it is used, about 1.5 ms. DETACH closes
the file and releases its lock, so other processes can open the store between operations exactly
as when each operation opened and closed its own database.

DuckDB would take 80% of the machine's memory by default; `configure_memory` gives it its share of
the `memory_limit` setting instead (docs/scale.md), above which its joins and sorts spill to the
temp directory.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb

_ENGINE: duckdb.DuckDBPyConnection | None = None
_ENGINE_GUARD = threading.Lock()
_ALIASES = itertools.count()
_MEMORY_LIMIT: int | None = None  # bytes; None: DuckDB's default


def configure_memory(limit: int | None) -> None:
    """Cap the engine's memory at `limit` bytes (None: DuckDB's default), now and when it starts."""
    global _MEMORY_LIMIT
    with _ENGINE_GUARD:
        _MEMORY_LIMIT = limit
        if _ENGINE is not None:
            _apply_memory(_ENGINE)


def _apply_memory(engine: duckdb.DuckDBPyConnection) -> None:
    if _MEMORY_LIMIT is None:
        engine.execute("RESET memory_limit")
    else:
        engine.execute(f"SET memory_limit = '{int(_MEMORY_LIMIT) >> 10}KiB'")


def session() -> duckdb.DuckDBPyConnection:
    """A new session (cursor) of the process engine; close it when done."""
    global _ENGINE
    with _ENGINE_GUARD:
        if _ENGINE is None:
            # where queries larger than memory spill: the system temporary directory (TMPDIR), not
            # the working directory an in-memory database would otherwise use
            spill = Path(tempfile.gettempdir()) / f"fundtrail-duckdb-{os.getpid()}"
            _ENGINE = duckdb.connect(":memory:", config={"temp_directory": str(spill)})
            if _MEMORY_LIMIT is not None:
                _apply_memory(_ENGINE)
        return _ENGINE.cursor()


@dataclass
class Attachment:
    """A database file attached to the engine under `alias`, shared by nested users in one thread."""

    path: Path
    alias: str
    read_only: bool
    users: int = 0
    verified: bool = False  # read in full before writing (`Store._check_catalog_blocks`)


def attach(path: Path, *, read_only: bool) -> Attachment:
    """Attach the database file at `path` (raises duckdb's error when it cannot be opened)."""
    alias = f"catalog_{next(_ALIASES)}"
    con = session()
    try:
        mode = " (READ_ONLY)" if read_only else ""
        con.execute(f"ATTACH {sql_string(str(path))} AS {alias}{mode}")
    finally:
        con.close()
    return Attachment(path, alias, read_only)


def detach(att: Attachment) -> None:
    """Close the attached file (checkpointing it, as closing a connection would)."""
    con = session()
    try:
        con.execute(f"DETACH {att.alias}")
    finally:
        con.close()


def sql_string(text: str) -> str:
    """`text` as a SQL string literal, for the statements that cannot take parameters (ATTACH,
    views over file lists): the one place paths are quoted."""
    return "'" + text.replace("'", "''") + "'"
