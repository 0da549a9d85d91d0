"""Alert delivery inside `ingest --follow` (docs/watch.md, "Delivery"): the freeze race is won in
seconds, so an alert committed with a batch is sent at once, not at the next `alerts deliver`.

A thread beside the ingest is woken after every committed batch (the watch hook's `committed`),
and every `webhook_poll_seconds` for retries in backoff; each round delivers what is due, hundreds
of rows per catalog transaction, until nothing is (`watch.delivery.deliver_due`, which claims each row,
so an `alerts deliver` or a server running beside it is safe). The POSTs themselves go out from a
child process (`watch.poster.ProcessPoster`, kept-alive connections per webhook): in this process
every socket read would wait for the ingest's Python work to yield the interpreter. Failures are
logged in one line naming the alert and the webhook, never a secret. On stop the round under way
ends; what is left pending stays in the outbox for the next deliverer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

import pyarrow as pa

from fundtrail.errors import FundtrailError
from fundtrail.ingest.hooks import BatchHook, CatalogWrite, HookFactory
from fundtrail.settings import Settings
from fundtrail.store import Store
from fundtrail.watch import delivery
from fundtrail.watch.poster import ProcessPoster

log = logging.getLogger("fundtrail.delivery")


class _Signalling:
    """A batch hook that wakes the deliverer once its batch is committed."""

    def __init__(self, hook: BatchHook, wake: Callable[[], None]) -> None:
        self.hook, self.wake = hook, wake

    def on_batch(self, chain: str, tables: dict[str, pa.Table]) -> CatalogWrite | None:
        return self.hook.on_batch(chain, tables)

    def committed(self) -> None:
        self.hook.committed()
        self.wake()

    def on_rollback(self, chain: str, dropped: list[tuple[int, str]]) -> CatalogWrite | None:
        # the retractions go out with the new branch's first batch (its `committed`) or the next poll
        return self.hook.on_rollback(chain, dropped)


class FollowDelivery:
    """Use as a context manager around a follow ingest; `wrap` its hook factory."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store, self.settings = store, settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None
        self._poster = ProcessPoster(settings.webhook_timeout)
        self.delivered = 0

    def wrap(self, factory: HookFactory | None) -> HookFactory | None:
        if factory is None:
            return None

        def make(store: Store, chain: str) -> BatchHook | None:
            hook = factory(store, chain)
            return _Signalling(hook, self._wake.set) if hook is not None else None

        return make

    def __enter__(self) -> FollowDelivery:
        self._poster.start()
        self._thread = threading.Thread(target=self._run, name="fundtrail-follow-delivery", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.settings.webhook_timeout + delivery.ROUND_BUDGET_S + 10)
        self._poster.close()

    def _run(self) -> None:
        poll = self.settings.webhook_poll_seconds or 2.0
        while not self._stop.is_set():
            self._wake.wait(poll)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.round()
            except FundtrailError as exc:
                self._warn(f"alert delivery round failed: {exc.one_line()}")
            except Exception as exc:  # noqa: BLE001 (a bug: logged once while it repeats, the ingest goes on)
                self._warn(f"alert delivery round failed: {type(exc).__name__}: {str(exc).splitlines()[:1]}")

    def round(self) -> None:
        """Deliver what is due now, a claim batch at a time, until nothing is."""
        s = self.settings
        while not self._stop.is_set():
            report = delivery.deliver_due(self.store, limit=delivery.CLAIM_BATCH, timeout=s.webhook_timeout,
                                          base=s.webhook_retry_base, max_attempts=s.webhook_max_attempts,
                                          poster=self._poster, count_pending=False)
            for o in report.outcomes:
                if o.status == "delivered":
                    self.delivered += 1
                else:
                    log.warning("webhook delivery of %s to %s failed (attempt %d, %s): %s", o.alert_id,
                                o.webhook_id, o.attempts, "dead-lettered" if o.status == "dead" else "will retry",
                                o.error or "no error text")
            if len(report.outcomes) < delivery.CLAIM_BATCH and not report.untried:
                return  # nothing more was due (one catalog visit saved: no empty claim to learn it)

    def _warn(self, line: str) -> None:
        if line != self._last_error:
            log.warning("%s", line)
        self._last_error = line
