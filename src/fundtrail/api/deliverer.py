"""Alert delivery inside `serve`: one background task per server process (docs/api.md, "Monitoring").

Every `webhook_poll_seconds` (0: never) the task looks, in the server's thread pool and off the
event loop, at how many deliveries are pending (one read of the catalog, on the read-only
workspace); when some may be due it opens a short-lived writable workspace as the server's user
and delivers them a batch at a time (`Workspace.alerts_deliver(limit=DELIVERY_BATCH)`: one catalog
transaction claims the batch, another records it) until none is due; shutdown waits for the
batch under way (at most `webhook_timeout` per row of it) or leaves its claims to expire. Several
deliverers (workers, an `alerts deliver` beside the server) are safe: each row is claimed before it
is sent. One log line per failed attempt, naming the alert, the webhook and the one-line error (never a secret); the
server's request writer is not held meanwhile (a slow receiver does not stall an analyst's write).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from fundtrail.api.state import ApiState
from fundtrail.errors import FundtrailError
from fundtrail.workspace import Workspace
from fundtrail.workspace.delivery import DELIVERY_BATCH

__all__ = ["Deliverer", "install"]

log = logging.getLogger("fundtrail.api.delivery")
#: Seconds shutdown waits for the attempt under way, beyond `webhook_timeout`.
STOP_MARGIN_S = 10.0


class Deliverer:
    """The delivery loop of one server process."""

    def __init__(self, state: ApiState) -> None:
        self.state = state
        self.poll = state.settings.webhook_poll_seconds
        self._stop = threading.Event()  # seen by the round running in a thread
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        #: ((pending, all rows), next due) after the last round: nothing new and nothing due skips a round
        self._seen: tuple[tuple[int, int], dt.datetime | None] | None = None
        #: the catalog files' state when a round last found nothing pending: unchanged, nothing can be
        #: (a visit every poll in every worker, with no webhook at all, showed in the API's latency)
        self._idle_files: tuple[int, ...] | None = None
        self._last_error: str | None = None
        self.rounds = 0  # rounds that opened a writer (tests and logs)

    @property
    def running(self) -> bool:
        """Whether the loop's task is alive (False before start and once stopped)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop on the running event loop (no-op when `webhook_poll_seconds` is 0)."""
        if self.poll > 0 and self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="fundtrail-deliverer")

    async def stop(self) -> None:
        """Stop after the attempt under way (waiting at most `webhook_timeout` + a margin)."""
        self._stop.set()
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.state.settings.webhook_timeout + STOP_MARGIN_S)
            except TimeoutError:
                log.warning("alert delivery did not stop in time; its claim is left to expire (the row is "
                            "sent again later)")
                self._task.cancel()

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)
            if self._stop.is_set():
                return
            try:
                await self.state.run(self.round)
            except FundtrailError as exc:
                self._warn(f"alert delivery round failed: {exc.one_line()}")
            except Exception as exc:  # a bug: logged with its traceback (once while it repeats), the loop goes on
                first = str(exc).splitlines()[0] if str(exc) else ""
                line = f"alert delivery round failed: {type(exc).__name__}: {first}"
                if line != self._last_error:
                    log.exception("%s", line)
                self._last_error = line

    def _warn(self, line: str) -> None:
        if line != self._last_error:  # a store that stays unreadable is said once, not every poll
            log.warning("%s", line)
        self._last_error = line

    def round(self) -> None:
        """One round (blocking: in the thread pool): deliver what is due, if anything may be."""
        files = self.state.workspace.catalog_files()  # before the visit: a write after it shows next time
        if files == self._idle_files:
            return
        hooks = self.state.workspace.webhook_list().webhooks
        self._last_error = None
        rows = (sum(w.pending for w in hooks), sum(w.pending + w.delivered + w.dead for w in hooks))
        if rows[0] == 0:
            self._seen = (rows, None)
            self._idle_files = files
            return
        self._idle_files = None
        if self._seen is not None and self._seen[0] == rows and self._seen[1] is not None \
                and self._seen[1] > dt.datetime.now(dt.UTC):
            return  # no new row, and none due yet (backoff, or another deliverer's claim)
        self.rounds += 1
        ws = Workspace.open(self.state.settings, writable=True, actor=self.state.workspace.actor)
        while not self._stop.is_set():
            report = ws.alerts_deliver(limit=DELIVERY_BATCH)
            for o in report.outcomes:
                if o.status != "delivered":
                    log.warning("webhook delivery of %s to %s failed (attempt %d, %s): %s", o.alert_id,
                                o.webhook_id, o.attempts, "dead-lettered" if o.status == "dead" else "will retry",
                                o.error or "no error text")
            due = (dt.datetime.fromisoformat(report.next_attempt_at.replace("Z", "+00:00"))
                   if report.next_attempt_at else None)
            if not report.outcomes:
                after = self.state.workspace.webhook_list().webhooks
                self._seen = ((report.pending, sum(w.pending + w.delivered + w.dead for w in after)), due)
                return


def install(app: FastAPI, state: ApiState) -> Deliverer:
    """Run a `Deliverer` for the app's lifetime (around any lifespan the app already has)."""
    deliverer = Deliverer(state)
    inner: Callable[[Any], contextlib.AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as value:
            deliverer.start()
            try:
                yield value
            finally:
                await deliverer.stop()

    app.router.lifespan_context = lifespan
    app.state.fundtrail_deliverer = deliverer
    return deliverer
