"""The base of the service layer: one `Workspace` opened on a store, its chain rule, caches and paging.

A workspace is opened once (by the CLI for one command, by the API server for its lifetime, by a
notebook for a session). It is read-only unless opened with `writable=True`: a read-only workspace
never migrates the catalog and refuses a store whose schema is older than this version (with a
hint to run `fundtrail migrate`). Loaded indexes, tag maps and assessors are cached per chain and
reused until `refresh()` is called: a cached object is only dropped when the store's state for its
chain changed (a committed ingest batch, a tag import, a cluster run), so a long-running server
answers from memory and a refresh after an ingest costs only what changed.

The operations themselves live in the sibling modules (`addresses`, `transactions`, `tracing`,
...), each a mixin of `WorkspaceBase`; `fundtrail.workspace.Workspace` combines them.
"""

from __future__ import annotations

import copy
import base64
import binascii
import getpass
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from fundtrail.errors import FundtrailError, StoreError, UsageError
from fundtrail.settings import Settings
from fundtrail.store import Store
from fundtrail.store import migrations, spill
from fundtrail.store.select import select_chain

T = TypeVar("T")
Via = Literal["cli", "api", "web", "python", "scheduler"]

#: Called by long jobs: (stage, done, total); total 0 when unknown.
Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: says nothing."""


class Model(BaseModel):
    """Base of every request and result model: fields are fixed (unknown ones are refused), so a
    typo in an API body is a 422 naming the field instead of a silently ignored option."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class Actor(Model):
    """Who is acting: recorded in the audit log with every lookup and change."""

    user: str
    via: Via = "python"
    role: str | None = None

    @classmethod
    def local(cls, via: Via = "cli", user: str | None = None) -> Actor:
        """The user named (`--as`), else `FUNDTRAIL_USER`, else the operating-system user."""
        name = user or os.environ.get("FUNDTRAIL_USER") or _os_user()
        return cls(user=name, via=via)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


class ChainRef(Model):
    """A chain of the store, resolved by the one chain rule (`store.select`)."""

    name: str
    family: Literal["utxo", "account"]


class Page(Model):
    """Where a paginated listing continues: pass `next_cursor` back as `cursor`; None at the end."""

    limit: int
    next_cursor: str | None = None


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor for `position` (clients must not build or parse cursors themselves)."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The position of a cursor made by `encode_cursor` with these keys; a UsageError on field
    `cursor` for anything else (a tampered, truncated or foreign cursor)."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        pos = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise UsageError("cursor is not a cursor this listing returned", field="cursor") from None
    if not isinstance(pos, dict) or set(pos) != set(keys):
        raise UsageError("cursor is not a cursor this listing returned", field="cursor")
    return pos


def check_limit(limit: int, *, maximum: int = 1000, field: str = "limit") -> int:
    """A page size within 1..maximum, else a UsageError naming the field."""
    if not 1 <= limit <= maximum:
        raise UsageError(f"{field} must be between 1 and {maximum} (got {limit})", field=field)
    return limit


class WorkspaceBase:
    """State shared by every operation: settings, the store, the actor, the caches."""

    def __init__(self, settings: Settings, store: Store, *, writable: bool, actor: Actor) -> None:
        self.settings = settings
        self.store = store
        self.writable = writable
        self.actor = actor
        self._cache: dict[tuple[Any, ...], tuple[Any, Any]] = {}  # key -> (state, value)
        self._states: dict[str, Any] = {}  # chain -> state seen at the last refresh
        self._catalog_seen: tuple[int, ...] | None = None  # the catalog files as the last refresh saw them
        self._lock = threading.RLock()
        #: the catalog's schema version before this workspace opened (and maybe migrated) it; 0: new
        self.schema_at_open: int | None = None

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls: type[W], settings: Settings | None = None, *, store: Path | None = None,
             writable: bool = False, create: bool = False, actor: Actor | None = None) -> W:
        """A workspace on `store` (default: `settings.store`). Read-only opening never writes the
        catalog; `writable` migrates it; `create` (implies writable) makes a new store."""
        settings = settings or Settings.load()
        if store is not None:
            settings = settings.with_(store=Path(store))
        actor = actor or Actor.local(via="python")
        before = _schema_or_zero(settings.store) if (create or writable) else None
        if create:
            st = Store.open(settings.store, create=True)  # creates, or migrates an existing one
        else:
            st = Store.open(settings.store, create=False)  # a missing store is NotFoundError
            if writable:
                st.migrate()
            else:
                _check_schema(st)
        st.memo_chains = True  # chains change only by ingest; refresh() reads them again
        # the whole-chain stages' budget when a caller passes none (docs/scale.md): this workspace's setting
        spill.set_default_limit(settings.memory_limit_bytes)
        ws = cls(settings, st, writable=writable or create, actor=actor)
        ws.schema_at_open = before
        ws.remember_state()
        return ws

    def acting_as(self: W, actor: Actor) -> W:
        """This workspace answering as `actor`: a shallow copy sharing the warm indexes, caches and
        store (so a server reads a case for one request without opening anything), whose per-user
        operations (cases, sessions) answer as that user."""
        view = copy.copy(self)
        view.actor = actor
        return view

    def require_writable(self, what: str) -> None:
        """StoreError unless the workspace was opened for writing."""
        if not self.writable:
            raise StoreError(f"{what} changes the store, and this workspace is read-only",
                             hint="open it with writable=True")

    # -- chains -----------------------------------------------------------------------------
    def chain(self, name: str | None = None, *, family: str | None = None,
              what: str = "this operation") -> ChainRef:
        """The one chain rule: a named chain must be stored (NotFoundError); with no name, the
        store's only chain (of `family`) is taken, several or none being a UsageError."""
        try:
            chain, fam = select_chain(self.store, name, family=family, what=what)
        except FundtrailError as exc:
            if exc.field is None:
                exc.field = "chain"
            raise
        return ChainRef(name=chain, family=fam)  # type: ignore[arg-type]

    def chains(self) -> list[ChainRef]:
        """Every chain the store holds."""
        return [ChainRef(name=c["chain"], family=c["family"]) for c in self.store.chains()]

    # -- caches -----------------------------------------------------------------------------
    def state(self, chain: str | None) -> tuple[Any, ...]:
        """What a cached object of `chain` depends on: the last committed batch, the last tag
        import, the last completed cluster run and the last override."""
        return self._read_states([chain] if chain is not None else [])[chain]

    def _read_states(self, chains: list[str]) -> dict[str | None, tuple[Any, ...]]:
        """`state` of each of `chains`, and under None the chain-less one (only the tag import
        set), read in one catalog visit (a refresh costs one, whatever the number of chains)."""
        with self.store.connect(read_only=not self.writable) as con:
            def by_chain(sql: str) -> dict[str, Any]:
                return dict(con.execute(sql).fetchall())

            batches = by_chain("SELECT chain, max(batch_id) FROM batches GROUP BY chain")
            runs = by_chain("SELECT chain, max(run_id) FROM cluster_runs WHERE status = 'completed' GROUP BY chain")
            overrides = by_chain("SELECT chain, max(override_id) FROM cluster_overrides GROUP BY chain")
            row = con.execute("SELECT max(import_id) FROM tag_imports").fetchone()
        tags = row[0] if row else None
        found: dict[str | None, tuple[Any, ...]] = {
            c: (batches.get(c), tags, runs.get(c), overrides.get(c)) for c in chains}
        found[None] = (None, tags, None, None)
        return found

    def cached(self, key: tuple[Any, ...], build: Callable[[], T], *, chain: str | None = None) -> T:
        """The cached value of `key`, built on first use. It stays until `refresh()` finds that
        the state of `chain` changed (or, with no chain, until any refresh)."""
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                return hit[1]  # type: ignore[no-any-return]
        value = build()
        with self._lock:
            self._cache.setdefault(key, (chain, value))
            return self._cache[key][1]  # type: ignore[no-any-return]

    def forget(self, key: tuple[Any, ...]) -> None:
        """Drop one cached object (after this workspace changed what it was built from)."""
        with self._lock:
            self._cache.pop(key, None)

    def catalog_files(self) -> tuple[int, ...]:
        """Size and modification time of the catalog and its write-ahead log: every change of the
        store's state (an ingest batch, a tag import, a cluster run) writes one of them."""
        seen: list[int] = []
        for path in (self.store.catalog_path, self.store.catalog_path.with_name(self.store.catalog_path.name + ".wal")):
            try:
                st = path.stat()
            except FileNotFoundError:
                seen += [-1, -1]
                continue
            seen += [st.st_mtime_ns, st.st_size]
        return tuple(seen)

    def refresh(self) -> list[str]:
        """Drop cached objects of chains whose stored state changed; returns those chains. The
        only way cached indexes, tag maps and assessors are renewed. When the catalog files are
        as the last refresh saw them nothing can have changed, and the catalog is not visited (a
        server refreshes every few seconds: the visit held up the requests of that moment)."""
        files = self.catalog_files()
        if files == self._catalog_seen:
            return []
        changed: list[str] = []
        self.store.forget_chains()
        names = [c.name for c in self.chains()]
        states = self._read_states(names)
        for name in names:
            now = states[name]
            if self._states.get(name, now) != now:
                changed.append(name)
            self._states[name] = now
        tag_state = states[None][1]
        tags_changed = self._states.get("", tag_state) != tag_state
        self._states[""] = tag_state
        with self._lock:
            for key, (chain, _value) in list(self._cache.items()):
                if (chain is None and (changed or tags_changed)) or chain in changed or (
                        tags_changed and chain is not None):
                    del self._cache[key]
        self._catalog_seen = files
        return changed

    def remember_state(self) -> None:
        """Record the current store state as the one the caches were built on."""
        names = [ref.name for ref in self.chains()]
        states = self._read_states(names)
        for name in names:
            self._states[name] = states[name]
        self._states[""] = states[None][1]


W = TypeVar("W", bound=WorkspaceBase)


def _schema_or_zero(root: Path) -> int:
    """The schema version of the store at `root` as found, 0 when it has no catalog yet."""
    if not (Path(root) / "catalog.duckdb").exists():
        return 0
    return Store(Path(root)).schema_version()


def _check_schema(store: Store) -> None:
    """A read-only workspace never migrates: an older catalog is refused with what to do."""
    version = store.schema_version()
    if version < migrations.LATEST:
        raise StoreError(f"store {store.root} has schema version {version}; this fundtrail uses "
                         f"{migrations.LATEST}", hint="run `fundtrail migrate` once to upgrade it")
    if version > migrations.LATEST:
        raise StoreError(f"store {store.root} has schema version {version}, newer than this fundtrail "
                         f"({migrations.LATEST})", hint="upgrade fundtrail")
