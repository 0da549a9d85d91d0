"""Store: opens the catalog, applies migrations, commits batches atomically, serves SQL over the lake.

The DuckDB catalog is opened only for the moment an operation needs it, so that a long ingest does
not lock other readers (`fundtrail status`) out of the store for its whole run. A store directory
that holds data but no readable catalog is refused, never taken for an empty store (the catalog is
the only record of which files are committed). Files and directories the store creates are
private to their owner (0600 / 0700): a store holds case data.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from fundtrail.errors import NotFoundError, StoreError
from fundtrail.model.chains import CHAIN_NAME_PATTERN, check_chain_name

try:
    import fcntl
except ImportError:  # not POSIX: no writer lock (see Store.lock_writer)
    fcntl = None  # type: ignore[assignment]
from fundtrail.store import catalog_checks, engine, integrity, migrations
from fundtrail.store.partitions import FILE_MODE, Partitions, fsync_path, make_private_dir

__all__ = ["CATALOG", "Store", "fsync_path"]  # fsync_path: used by cluster runs
from fundtrail.store.runlog import RunLog
from fundtrail.store.sql import scalar
from fundtrail.store.tables import ADDED_COLUMNS, TABLES_BY_FAMILY, VIEWS_BY_FAMILY

CATALOG = "catalog.duckdb"
#: Subdirectories that only exist with a catalog: finding a file in one without the catalog means
#: the catalog was lost, not that the store is new.
DATA_DIRS = ("lake", "clusters", "derived", "cache", "cases", "secrets")
_LOCK_WAIT_S = 30.0
log = logging.getLogger(__name__)
# Held while a catalog is detached and while the attach-time checks list the engine's databases:
# DuckDB keeps a database that a concurrent listing still references attached after DETACH.
_DDL = threading.Lock()
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


def _files_listed(files_of: dict[tuple[str, str], list[str]], chain: str, table: str) -> list[str]:
    """The lake files of `chain`'s `table` in `files_of` (none if it has none)."""
    return files_of.get((chain, table), [])


class Store(Partitions, RunLog):
    """A fundtrail store directory: Parquet lake plus DuckDB catalog."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.lake = self.root / "lake"
        self.catalog_path = self.root / CATALOG
        # records (size, rows, SHA-256) of files written but not yet committed: (chain, rel) -> rec
        self._written: dict[tuple[str, str], integrity.FileRecord] = {}
        self.memo_chains = False  # set by long-lived readers (fundtrail.workspace)
        self._chains_memo: list[dict] | None = None

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path, *, create: bool = True) -> Store:
        """Open (and with `create`, initialise or migrate) the store at `root`.

        A directory holding store data (lake files, cluster runs, a catalog journal) but no
        catalog is refused with a StoreError: treating it as new would discard what it holds.
        """
        store = cls(root)
        if not store.catalog_path.exists():
            store._refuse_lost_catalog()
            if not create:
                raise NotFoundError(
                    f"no fundtrail store at {store.root}",
                    hint="ingest data or import tags first, or pass --store DIR / set FUNDTRAIL_STORE",
                )
            try:
                store.root.parent.mkdir(parents=True, exist_ok=True)  # the user's: default modes
                make_private_dir(store.lake)
            except OSError as exc:
                raise StoreError(f"cannot create store directory {store.root}: {exc.strerror}") from None
            store.migrate(create=True)
            with contextlib.suppress(OSError):
                os.chmod(store.catalog_path, FILE_MODE)
        elif create:
            store.migrate()
        return store

    def _refuse_lost_catalog(self) -> None:
        """StoreError when the store directory has data but its catalog is gone."""
        found: Path | None = None
        wal = self.root / f"{CATALOG}.wal"
        if wal.exists():
            found = wal
        for sub in DATA_DIRS:
            if found is None and (self.root / sub).is_dir():
                found = next((p for p in (self.root / sub).rglob("*") if p.is_file()), None)
        if found is not None:
            raise StoreError(
                f"store {self.root} holds data ({found.relative_to(self.root)}) but its catalog "
                f"{self.catalog_path.name} is missing",
                hint="the catalog records which files are committed and cannot be rebuilt from them: "
                     "restore it from a backup, or use another --store; nothing was changed")

    def _require_catalog(self) -> None:
        if not self.catalog_path.exists():
            self._refuse_lost_catalog()
            raise NotFoundError(f"no fundtrail store at {self.root}", hint="ingest data first")

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False, _create: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived catalog connection: a session of the process engine with the catalog
        attached and in use (`store/engine.py` says why).

        Threads of one process take turns; nested connections in one thread share the attachment
        (a read-only one inside a read-write one gets read-write). Another process holding the
        file lock is waited for. A catalog that vanished is never silently re-created (only
        `Store.open` creates one), and a catalog that cannot be read is a one-line StoreError.
        """
        if not _create:
            self._require_catalog()
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
            except duckdb.Error as exc:
                err = integrity.read_error(exc, self.lake, self.catalog_path)
                if err is None:
                    raise
                raise err from None
            finally:
                con.close()
                att.users -= 1
                if att.users == 0:
                    del _ATTACHED[key]
                    self._detach(att)

    def _detach(self, att: engine.Attachment) -> None:
        """Detach (and so checkpoint) the catalog; a checkpoint that meets a damaged block is a
        one-line StoreError, not DuckDB's multi-line report."""
        try:
            with _DDL:
                engine.detach(att)
            if att.verified:  # our own writes changed the file: still the one verified
                with contextlib.suppress(OSError):
                    key = catalog_checks.file_key(self.catalog_path)
                    catalog_checks.VERIFIED[key[0]] = key
        except duckdb.Error as exc:
            err = integrity.read_error(exc, self.lake, self.catalog_path)
            if err is None:
                raise
            raise err from None

    def _attach(self, read_only: bool) -> engine.Attachment:
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                att = engine.attach(self.catalog_path, read_only=read_only)
            except duckdb.Error as exc:
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                locked = "lock" in msg.lower()
                if not locked or time.monotonic() > deadline:
                    raise StoreError(
                        f"cannot open store catalog {self.catalog_path}: {msg}",
                        hint="another fundtrail process may be writing; wait for it or use another --store"
                        if locked else "the catalog is damaged or truncated; restore it from a backup "
                                       "(fundtrail never rebuilds a catalog over existing data)",
                    ) from None
                time.sleep(0.1)
                continue
            with _DDL:  # the checks list every attached database: none may be mid-detach
                catalog_checks.check_size(self.catalog_path, att)  # both detach it before raising
                if not read_only:
                    catalog_checks.check_blocks(self.catalog_path, self.lake, att)
            return att

    def migrate(self, *, create: bool = False) -> None:
        """Apply pending numbered migrations; refuse a catalog newer than this version."""
        with self.connect(_create=create) as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "description VARCHAR, applied_at TIMESTAMP)"
            )
            current = scalar(con.execute("SELECT max(version) FROM schema_migrations")) or 0
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
            return int(scalar(con.execute("SELECT max(version) FROM schema_migrations")))

    # -- chains and batches ---------------------------------------------------------------
    def ensure_chain(self, chain: str, family: str, network: str) -> None:
        """Register `chain` on first use; refuse a chain name reused for another network, or a
        name that is not a valid chain name. The chain's writer lock is taken first (or shared
        with this process's writer), so a chain is never registered by a non-writer."""
        check_chain_name(chain)
        self._chains_memo = None
        release = self.lock_writer(chain)
        try:
            with self.connect() as con:
                row = con.execute("SELECT family, network FROM chains WHERE chain = ?", [chain]).fetchone()
                if row is None:
                    con.execute("INSERT INTO chains (chain, family, network) VALUES (?, ?, ?)",
                                [chain, family, network])
                elif tuple(row) != (family, network):
                    raise StoreError(f"chain {chain} in {self.root} is {row[1]}, not {network}")
        finally:
            release()

    def chains(self) -> list[dict]:
        """The stored chains (chain, family, network). Remembered between calls once `memo_chains`
        is set (a long-lived workspace: one catalog visit instead of one per lookup), until
        `forget_chains()` or this process registers a chain."""
        if self._chains_memo is not None:
            return [dict(c) for c in self._chains_memo]
        if not self.catalog_path.exists():
            self._refuse_lost_catalog()
            return []
        with self.connect(read_only=True) as con:
            cur = con.execute("SELECT chain, family, network FROM chains ORDER BY chain")
            found = [dict(zip(("chain", "family", "network"), r)) for r in cur.fetchall()]
        if self.memo_chains:
            self._chains_memo = found
        return [dict(c) for c in found]

    def forget_chains(self) -> None:
        """Read the stored chains from the catalog again on the next `chains()`."""
        self._chains_memo = None

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

    def lock_writer(self, chain: str) -> Callable[[], None]:
        """Take the write lock of `chain` in this store, or raise StoreError if another process
        holds it; returns the function that releases it.

        One process at a time may write a chain: a second ingest would delete the first one's
        uncommitted partition files as orphans and commit batches from a stale view of the ids.
        The kernel drops the lock when its process dies, so a killed ingest leaves none behind.
        """
        check_chain_name(chain)
        path = self.root / f".ingest-{chain}.lock"
        key = str(path.resolve())
        with _WRITERS_GUARD:
            held = _WRITERS.get(key)
            if held is not None:
                held[1] += 1
            else:
                try:
                    fh = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, FILE_MODE), "a+b")
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

    # -- querying ----------------------------------------------------------------------------
    def view_statements(self, con: duckdb.DuckDBPyConnection, chain: str, family: str,
                        files: Callable[[str], list[str]]) -> list[str]:
        """The statements creating `chain`'s temp views in session `con`: a base view
        `<chain>__<table>` over the lake files `files(table)` lists (relative to the chain's lake
        directory; an empty table registered in `con` when there are none) and the public views
        `<chain>_<table>`. One list, so that callers can execute it in one round trip."""
        check_chain_name(chain)
        prefix = chain.replace("-", "_")
        stmts = []
        listed_by_table = {table: files(table) for table in TABLES_BY_FAMILY[family]}
        with self.connect(read_only=True) as cat:  # every file exists and is the one committed
            records = self._load_records(cat, chain)
        for listed in listed_by_table.values():
            integrity.check_files(self.lake, chain, listed, records)
        for table, schema in TABLES_BY_FAMILY[family].items():
            view, listed = f"{prefix}__{table}", listed_by_table[table]
            if listed and (family, table) in ADDED_COLUMNS:  # old partitions lack a column: NULL there
                paths = ", ".join(engine.sql_string((self.lake / chain / f).as_posix()) for f in listed)
                con.register(f"_empty_{view}", schema.empty_table())
                stmts.append(f"CREATE TEMP VIEW {view} AS SELECT * FROM read_parquet([{paths}], "
                             f"union_by_name = true) UNION ALL BY NAME SELECT * FROM _empty_{view}")
            elif listed:
                paths = ", ".join(engine.sql_string((self.lake / chain / f).as_posix()) for f in listed)
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
                if CHAIN_NAME_PATTERN.fullmatch(chain) is None:  # registered by an older version
                    log.warning("chain %r has an invalid name; its views are left out", chain)
                    continue
                stmts += self.view_statements(con, chain, family, functools.partial(_files_listed, files_of, chain))
            con.execute(";\n".join(stmts))
            try:
                yield con
            except duckdb.Error as exc:  # a named file, else hash what the views list (bit rot)
                err = integrity.read_error(exc, self.lake, self.catalog_path) or integrity.find_damaged(
                    self.lake, integrity.load_records(con), [(c, f) for (c, _), fs in files_of.items() for f in fs])
                if err is None:
                    raise
                raise err from None
