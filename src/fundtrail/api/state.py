"""What one server holds for its lifetime: the read-only workspace, its refresh clock, the writer.

One read-only `Workspace` serves every request, so loaded indexes, tag maps and assessors stay
warm; at most every `api_refresh_seconds` the first request to arrive calls `refresh()` (in its own
thread, under a lock) so ingests, tag imports and cluster runs made by other processes become
visible. Writes (an analyst's tag, users, tokens) open a short-lived writable workspace acting as
the authenticated user, one at a time, and refresh the reader right after, so the change is seen
by the next request. The server therefore never holds the catalog open for writing between
requests, and a CLI ingest can run beside it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from fundtrail.api.audit_queue import AuditQueue
from fundtrail.api.limits import RateLimiter
from fundtrail.settings import Settings
from fundtrail.workspace import Actor, Workspace

log = logging.getLogger("fundtrail.api")
T = TypeVar("T")
#: Threads of `ApiState.run` (as many as anyio's default pool: blocked audit writers wait there).
POOL_THREADS = 40
#: Verified tokens remembered by one server (dropped all at once beyond this).
MAX_ACTORS = 10_000


class ApiState:
    """The shared state of one API server (kept on `app.state.fundtrail`)."""

    def __init__(self, settings: Settings, workspace: Workspace) -> None:
        self.settings = settings
        self.workspace = workspace
        self._refresh_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._refreshed = time.monotonic()
        self._refreshing = False  # a refresh is under way (requests meanwhile use the current state)
        self._refresh_failed = False  # the last background refresh raised (requests take the app's path)
        self.limiter = RateLimiter(settings.api_rate_per_second, settings.api_burst)
        self._chains = frozenset(ref.name for ref in workspace.chains())
        self._actors: dict[str, tuple[object, Actor]] = {}  # token digest -> (access stamp, actor)
        self.pool = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="fundtrail-api")
        #: The records of the requests answered on the event loop (the fast path), committed in batches.
        self.audit = AuditQueue(workspace.audit_append_many)
        #: Failed logins of the workbench (`fundtrail.web.session.LoginLimiter`), set by the web app.
        self.web_login_limiter: Any = None

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in this server's thread pool, awaited (exceptions propagate)."""
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self.pool, call)

    def refresh_due(self) -> bool:
        """Whether the next `reader()` call refreshes the workspace (slow: not on the event loop).
        False while a refresh is under way: the requests that arrive meanwhile are answered from
        the state as it is, instead of queueing behind the refresh."""
        return not self._refreshing and time.monotonic() - self._refreshed >= self.settings.api_refresh_seconds

    def refresh_in_background(self) -> bool:
        """Start the due refresh in the pool and return at once, True, so the caller answers from
        the state as it is (as the requests arriving during any refresh are); False when refreshes
        are synchronous (`api_refresh_seconds` 0: every request sees the store as it is now) or the
        last background refresh failed (the caller then takes the app's path, which refreshes in
        the request and reports the failure to its client)."""
        if self.settings.api_refresh_seconds <= 0 or self._refresh_failed:
            return False
        if self._refresh_lock.acquire(blocking=False):
            self._refreshing = True  # before the pool starts it: no second one meanwhile
            self.pool.submit(self._refresh_background)
        return True

    def _refresh_background(self) -> None:
        try:
            self._refresh()
        except Exception:  # a damaged catalog: reported by the next request's own refresh
            log.warning("refreshing the server's view of the store failed; the next request retries",
                        exc_info=True)
            self._refresh_failed = True
        finally:
            self._refresh_lock.release()

    def known_actor(self, key: str, access_stamp: object) -> Actor | None:
        """The actor of a token (by digest `key`) verified at this access stamp, else None."""
        hit = self._actors.get(key)
        return hit[1] if hit is not None and hit[0] == access_stamp else None

    def cached_actor(self, key: str) -> tuple[object, Actor] | None:
        """(access stamp it was verified at, actor) of a token by digest `key`, if remembered; the
        caller compares the stamp with the current one before acting on it."""
        return self._actors.get(key)

    def remember_actor(self, key: str, access_stamp: object, actor: Actor) -> None:
        """Remember a verified token's actor until the access stamp changes (bounded)."""
        if len(self._actors) >= MAX_ACTORS:
            self._actors.clear()
        self._actors[key] = (access_stamp, actor)

    def reader(self) -> Workspace:
        """The read-only workspace, refreshed first when `api_refresh_seconds` have passed."""
        if self.refresh_due() and self._refresh_lock.acquire(blocking=False):  # one request refreshes
            try:
                if time.monotonic() - self._refreshed >= self.settings.api_refresh_seconds:
                    self._refresh()
            finally:
                self._refresh_lock.release()
        return self.workspace

    def is_known_chain(self, name: str) -> bool:
        """Whether `name` is a chain of the store as of the last refresh (no catalog visit)."""
        return name in self._chains

    def known_chain(self, name: str) -> str:
        """`name` when the store holds that chain (known since the last refresh, else looked up:
        a chain ingested a moment ago is found); NotFoundError on field `chain` otherwise."""
        if name not in self._chains:
            self.reader().chain(name)
            self._chains = self._chains | {name}
        return name

    def _refresh(self) -> None:
        self._refreshing = True
        try:
            self.workspace.refresh()
            self._chains = frozenset(ref.name for ref in self.workspace.chains())
            self._refreshed = time.monotonic()
            self._refresh_failed = False
        finally:
            self._refreshing = False

    def refresh_now(self) -> None:
        """Pick up a change this server just made (after a write)."""
        with self._refresh_lock:
            self._refresh()

    @contextmanager
    def writer(self, actor: Actor) -> Iterator[Workspace]:
        """A writable workspace acting as `actor`, for one write; writes are serialized."""
        with self._write_lock:
            ws = Workspace.open(self.settings, writable=True, actor=actor)
            try:
                yield ws
            finally:
                self.refresh_now()


def api_state_of(app: Any) -> ApiState:
    """The server state kept on a FastAPI app (the workbench adds its routes to the API's app)."""
    state = app.state.fundtrail
    assert isinstance(state, ApiState)
    return state


def api_state(request: Request) -> ApiState:
    """The server state of the app handling `request`."""
    state = request.app.state.fundtrail
    assert isinstance(state, ApiState)
    return state


async def reader(request: Request) -> Workspace:
    """Dependency: the read-only workspace (refreshed first, in the thread pool, when due)."""
    state = api_state(request)
    if state.refresh_due():
        return await run_in_threadpool(state.reader)
    return state.workspace

