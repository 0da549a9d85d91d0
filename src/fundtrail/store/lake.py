"""Store: opens the catalog, applies migrations, commits batches atomically, serves SQL over the lake.

The DuckDB catalog is opened only for the moment an operation needs it, so that a long ingest does
not lock other readers (`fundtrail status`) out of the store for its whole run.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from fundtrail.errors import NotFoundError, StoreError

try:
    import fcntl
except ImportError:  # not POSIX: no writer lock (see Store.lock_writer)
    fcntl = None  # type: ignore[assignment]
from fundtrail.store import engine, migrations
from fundtrail.store.tables import DELTA_COLUMNS, DICTIONARY_COLUMNS, TABLES_BY_FAMILY, VIEWS_BY_FAMILY

CATALOG = "catalog.duckdb"
_BLOCK_INDEX_COLUMNS = ("block_id", "hash", "prev_hash", "height", "batch_id", "first_tx_id",
                        "first_output_id", "first_address_id")
_BLOCK_INDEX_TYPES = (pa.int64(), pa.binary(), pa.binary(), pa.int64(), pa.int64(), pa.int64(),
                      pa.int64(), pa.int64())
_LOCK_WAIT_S = 30.0
# Writer locks this process holds: lock file -> [open file, holders]. flock() locks belong to an
# open file, so a second open in the same process would conflict: holders share the first.
_WRITERS: dict[str, list] = {}
_WRITERS_GUARD = threading.Lock()


_CATALOG_LOCKS: dict[Path, threading.RLock] = {}
# Catalog files attached to the process engine, by resolved path (touched under their lock only).
_ATTACHED: dict[Path, engine.Attachment] = {}
_CATALOG_LOCKS_GUARD = threading.Lock()


def _catalog_lock(path: Path) -> threading.RLock:
    """The in-process lock of one catalog file."""
    key = path.resolve()
    with _CATALOG_LOCKS_GUARD:
        return _CATALOG_LOCKS.setdefault(key, threading.RLock())


def fsync_path(path: Path) -> None:
    """Flush a file or a directory (after a rename in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """A fundtrail store directory: Parquet lake plus DuckDB catalog."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.lake = self.root / "lake"
        self.catalog_path = self.root / CATALOG

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path, *, create: bool = True) -> Store:
        """Open (and with `create`, initialise or migrate) the store at `root`."""
        store = cls(root)
        if not store.catalog_path.exists():
            if not create:
                raise NotFoundError(
                    f"no fundtrail store at {store.root}",
                    hint="ingest data or import tags first, or pass --store DIR / set FUNDTRAIL_STORE",
                )
            try:
                store.lake.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create store directory {store.root}: {exc.strerror}") from None
        if create:
            store.migrate()
        return store

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived catalog connection: a session of the process engine with the catalog
        attached and in use (`store/engine.py` says why).

        Threads of one process take turns; nested connections in one thread share the attachment
        (a read-only one inside a read-write one gets read-write). Another process holding the
        file lock is waited for.
        """
        if read_only and not self.catalog_path.exists():
            raise NotFoundError(f"no fundtrail store at {self.root}", hint="ingest data first")
        key = self.catalog_path.resolve()
        with _catalog_lock(self.catalog_path):
            att = _ATTACHED.get(key)
            if att is None:
                att = _ATTACHED[key] = self._attach(read_only)
            elif att.read_only and not read_only:
                raise StoreError(f"store catalog {self.catalog_path} is open read-only in this thread; "
                                 "a read-write connection cannot be nested in it")
            att.users += 1
            con = engine.session()
            try:
                con.execute(f"USE {att.alias}")
                yield con
            finally:
                con.close()
                att.users -= 1
                if att.users == 0:
                    del _ATTACHED[key]
                    engine.detach(att)

    def _attach(self, read_only: bool) -> engine.Attachment:
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                return engine.attach(self.catalog_path, read_only=read_only)
            except duckdb.Error as exc:
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if "lock" not in msg.lower() or time.monotonic() > deadline:
                    raise StoreError(
                        f"cannot open store catalog {self.catalog_path}: {msg}",
                        hint="another fundtrail process may be writing; wait for it or use another --store",
                    ) from None
                time.sleep(0.1)

    def migrate(self) -> None:
        """Apply pending numbered migrations; refuse a catalog newer than this version."""
        with self.connect() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "description VARCHAR, applied_at TIMESTAMP)"
            )
            row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
            current = row[0] or 0
            if current > migrations.LATEST:
                raise StoreError(
                    f"store {self.root} has schema version {current}, newer than this fundtrail "
                    f"({migrations.LATEST})",
                    hint="upgrade fundtrail",
                )
            for version, description, statements in migrations.MIGRATIONS:
                if version <= current:
                    continue
                con.execute("BEGIN")
                for sql in statements:
                    con.execute(sql)
                con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [version, description, _dt.datetime.now()],
                )
                con.execute("COMMIT")

    def schema_version(self) -> int:
        with self.connect(read_only=True) as con:
            return int(con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0])

    # -- chains and batches ---------------------------------------------------------------
    def ensure_chain(self, chain: str, family: str, network: str) -> None:
        """Register `chain` on first use; refuse a chain name reused for another network."""
        with self.connect() as con:
            row = con.execute("SELECT family, network FROM chains WHERE chain = ?", [chain]).fetchone()
            if row is None:
                con.execute("INSERT INTO chains (chain, family, network) VALUES (?, ?, ?)",
                            [chain, family, network])
            elif tuple(row) != (family, network):
                raise StoreError(f"chain {chain} in {self.root} is {row[1]}, not {network}")

    def chains(self) -> list[dict]:
        if not self.catalog_path.exists():
            return []
        with self.connect(read_only=True) as con:
            cur = con.execute("SELECT chain, family, network FROM chains ORDER BY chain")
            return [dict(zip(("chain", "family", "network"), r)) for r in cur.fetchall()]

    def last_batch(self, chain: str) -> dict | None:
        """The newest committed batch row of `chain` (holds the id counters), or None."""
        with self.connect(read_only=True) as con:
            cur = con.execute(
                "SELECT * FROM batches WHERE chain = ? ORDER BY batch_id DESC LIMIT 1", [chain]
            )
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip([d[0] for d in cur.description], row))

    def table_files(self, chain: str, table: str,
                    con: duckdb.DuckDBPyConnection | None = None) -> list[Path]:
        """Committed Parquet files of one table, in batch order."""
        sql = "SELECT files FROM batches WHERE chain = ? ORDER BY batch_id"
        if con is None:
            with self.connect(read_only=True) as c:
                rows = c.execute(sql, [chain]).fetchall()
        else:
            rows = con.execute(sql, [chain]).fetchall()
        prefix = f"{table}/"
        return [self.lake / chain / f for (files,) in rows for f in files if f.startswith(prefix)]

    def write_partition(self, chain: str, table: str, name: str, data: pa.Table) -> str:
        """Write one immutable partition durably (temp file, fsync, rename); returns its lake path."""
        folder = self.lake / chain / table
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-{name}"
        final = folder / name
        names = data.column_names
        pq.write_table(data, tmp, compression="zstd", compression_level=1, write_statistics=True,
                       use_dictionary=[c for c in names if c in DICTIONARY_COLUMNS],
                       column_encoding={c: "DELTA_BINARY_PACKED" for c in names if c in DELTA_COLUMNS})
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        fsync_path(folder)
        return f"{table}/{name}"

    def commit_batch(self, chain: str, batch: dict, files: list[str], block_rows: list[tuple]) -> None:
        """Record a written batch and its blocks in one catalog transaction: the commit point."""
        with self.connect() as con:
            con.execute("BEGIN")
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
            con.execute("COMMIT")

    def lock_writer(self, chain: str) -> Callable[[], None]:
        """Take the write lock of `chain` in this store, or raise StoreError if another process
        holds it; returns the function that releases it.

        One process at a time may write a chain: a second ingest would delete the first one's
        uncommitted partition files as orphans and commit batches from a stale view of the ids.
        The kernel drops the lock when its process dies, so a killed ingest leaves none behind.
        """
        path = self.root / f".ingest-{chain}.lock"
        key = str(path.resolve())
        with _WRITERS_GUARD:
            held = _WRITERS.get(key)
            if held is not None:
                held[1] += 1
            else:
                try:
                    fh = open(path, "a+b")
                except OSError as exc:
                    raise StoreError(f"cannot write to store {self.root}: {exc.strerror}") from None
                try:
                    if fcntl is not None:
                        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    fh.close()
                    raise StoreError(
                        f"another fundtrail process is ingesting {chain} into {self.root}",
                        hint="wait for it to finish, or stop it (a --follow run writes until stopped)",
                    ) from None
                held = _WRITERS[key] = [fh, 1]
        released = False

        def release() -> None:
            nonlocal released
            with _WRITERS_GUARD:
                if released:
                    return
                released = True
                held[1] -= 1
                if held[1] == 0:
                    _WRITERS.pop(key, None)
                    held[0].close()

        return release

    # -- ingest runs (provenance: which run committed which batch) ----------------------------
    def begin_run(self, chain: str, source: str) -> int:
        """Record the start of an ingest run; returns its id (batches refer to it)."""
        with self.connect() as con:
            run_id = con.execute("SELECT coalesce(max(run_id), -1) + 1 FROM ingest_runs").fetchone()[0]
            con.execute("INSERT INTO ingest_runs (run_id, chain, source, started_at, status) "
                        "VALUES (?, ?, ?, now(), 'running')", [run_id, chain, source])
        return int(run_id)

    def end_run(self, run_id: int, status: str, blocks: int, transactions: int,
                message: str | None = None) -> None:
        """Record how a run ended: completed, failed (with the error) or interrupted."""
        with self.connect() as con:
            con.execute("UPDATE ingest_runs SET finished_at = now(), status = ?, blocks = ?, "
                        "transactions = ?, message = ? WHERE run_id = ?",
                        [status, blocks, transactions, message, run_id])

    def mark_interrupted_runs(self, chain: str) -> int:
        """Runs of `chain` still 'running' when its writer lock is free were killed: say so."""
        with self.connect() as con:
            n = con.execute("SELECT count(*) FROM ingest_runs WHERE chain = ? AND status = 'running'",
                            [chain]).fetchone()[0]
            if n:
                con.execute("UPDATE ingest_runs SET status = 'interrupted', "
                            "message = 'process ended before the run finished' "
                            "WHERE chain = ? AND status = 'running'", [chain])
        return int(n)

    def runs(self, chain: str | None = None, limit: int = 20) -> list[dict]:
        """The most recent ingest runs, newest first."""
        with self.connect(read_only=True) as con:
            cur = con.execute(
                "SELECT run_id, chain, source, started_at, finished_at, status, blocks, transactions, "
                "message FROM ingest_runs WHERE ? IS NULL OR chain = ? ORDER BY run_id DESC LIMIT ?",
                [chain, chain, limit])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

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
        for batch_id, files in batches:
            kept: list[str] = []
            for rel in files:
                table, name = rel.split("/")
                if tables is not None and table not in tables:
                    kept.append(rel)
                    continue
                new = transform(table, pq.read_table(self.lake / chain / rel))
                if new is None:
                    kept.append(rel)
                    continue
                obsolete.append(rel)
                if new.num_rows:
                    kept.append(self.write_partition(chain, table, name.replace(".parquet", f"-{suffix}.parquet"), new))
                    if after_write:
                        after_write()
            plan.append((batch_id, kept))
        return plan, obsolete

    def delete_files(self, chain: str, rels: list[str]) -> None:
        """Delete lake files no committed batch refers to any more."""
        for rel in rels:
            (self.lake / chain / rel).unlink(missing_ok=True)

    def remove_orphans(self, chain: str) -> int:
        """Delete lake files of `chain` that no committed batch references (left by a crash).

        Call it only while holding the chain's writer lock (`lock_writer`).
        """
        base = self.lake / chain
        if not base.exists():
            return 0
        with self.connect(read_only=True) as con:
            rows = con.execute("SELECT files FROM batches WHERE chain = ?", [chain]).fetchall()
        known = {f for (files,) in rows for f in files}
        removed = 0
        for path in base.glob("*/*"):
            rel = f"{path.parent.name}/{path.name}"
            if path.is_file() and rel not in known:
                path.unlink()
                removed += 1
        return removed

    # -- querying ----------------------------------------------------------------------------
    def view_statements(self, con: duckdb.DuckDBPyConnection, chain: str, family: str,
                        files: Callable[[str], list[str]]) -> list[str]:
        """The statements creating `chain`'s temp views in session `con`: a base view
        `<chain>__<table>` over the lake files `files(table)` lists (relative to the chain's lake
        directory; an empty table registered in `con` when there are none) and the public views
        `<chain>_<table>`. One list, so that callers can execute it in one round trip."""
        prefix = chain.replace("-", "_")
        stmts = []
        for table, schema in TABLES_BY_FAMILY[family].items():
            view, listed = f"{prefix}__{table}", files(table)
            if listed:
                paths = ", ".join(f"'{(self.lake / chain / f).as_posix()}'" for f in listed)
                stmts.append(f"CREATE TEMP VIEW {view} AS SELECT * FROM read_parquet([{paths}])")
            else:
                con.register(f"_empty_{view}", schema.empty_table())
                stmts.append(f"CREATE TEMP VIEW {view} AS SELECT * FROM _empty_{view}")
        for view, sql in VIEWS_BY_FAMILY[family].items():
            stmts.append(f"CREATE TEMP VIEW {prefix}_{view} AS {sql.format(p=prefix)}")
        return stmts

    @contextlib.contextmanager
    def query(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection with temp views per chain table, e.g. `btc_outputs`.

        Base partitions are `<chain>__<table>`; the public views `<chain>_<table>` fold in late
        input resolutions. Views list committed files explicitly, so a batch being written by a
        concurrent ingest is never seen half-done.
        """
        with self.connect(read_only=True) as con:
            stmts = ["SET TimeZone = 'UTC'"]  # executed at once: one round trip for all views
            files_of: dict[tuple[str, str], list[str]] = {}
            for chain, files in con.execute("SELECT chain, files FROM batches ORDER BY chain, batch_id").fetchall():
                for f in files:
                    files_of.setdefault((chain, f.split("/", 1)[0]), []).append(f)
            for chain, family in con.execute("SELECT chain, family FROM chains").fetchall():
                stmts += self.view_statements(con, chain, family, lambda t, c=chain: files_of.get((c, t), []))
            con.execute(";\n".join(stmts))
            yield con
