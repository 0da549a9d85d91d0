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

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request

from fundtrail.api.limits import RateLimiter
from fundtrail.settings import Settings
from fundtrail.workspace import Actor, Workspace


class ApiState:
    """The shared state of one API server (kept on `app.state.fundtrail`)."""

    def __init__(self, settings: Settings, workspace: Workspace) -> None:
        self.settings = settings
        self.workspace = workspace
        self._refresh_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._refreshed = time.monotonic()
        self.limiter = RateLimiter(settings.api_rate_per_second, settings.api_burst)
        self._chains = frozenset(ref.name for ref in workspace.chains())

    def reader(self) -> Workspace:
        """The read-only workspace, refreshed first when `api_refresh_seconds` have passed."""
        if time.monotonic() - self._refreshed >= self.settings.api_refresh_seconds:
            with self._refresh_lock:
                if time.monotonic() - self._refreshed >= self.settings.api_refresh_seconds:
                    self._refresh()
        return self.workspace

    def known_chain(self, name: str) -> str:
        """`name` when the store holds that chain (known since the last refresh, else looked up:
        a chain ingested a moment ago is found); NotFoundError on field `chain` otherwise."""
        if name not in self._chains:
            self.reader().chain(name)
            self._chains = self._chains | {name}
        return name

    def _refresh(self) -> None:
        self.workspace.refresh()
        self._chains = frozenset(ref.name for ref in self.workspace.chains())
        self._refreshed = time.monotonic()

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


def api_state(request: Request) -> ApiState:
    """The server state of the app handling `request`."""
    state = request.app.state.fundtrail
    assert isinstance(state, ApiState)
    return state


def reader(request: Request) -> Workspace:
    """Dependency: the read-only workspace (refreshed when due)."""
    return api_state(request).reader()
