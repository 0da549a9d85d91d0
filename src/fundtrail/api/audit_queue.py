"""The records of a server's requests handed to the audit log by one thread, in batches.

With one pool thread per record, a worker's group commit held at most as many records as the pool
had threads: under 32 connections the rest queued for a thread, and each batch's thread had to win
the interpreter lock back after every system call while the other worker waited on the log's file
lock (measured: 10-15 ms median wait for the record of a 0.4 ms summary). Here a request on the
event loop puts its record in a list and awaits a future; one committer thread takes everything
waiting, writes it in one `append_many` (one write, one fsync) and settles the futures with one call
back into the loop. The record is on disk before the response leaves, as for every request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from fundtrail.errors import AuditError
from fundtrail.workspace.access import AuditEntry, AuditRecord

_Waiting = tuple[AuditEntry, "asyncio.Future[AuditRecord]", asyncio.AbstractEventLoop]


class AuditQueue:
    """The committer of one server (a daemon thread, started on first use)."""

    def __init__(self, append_many: Callable[[list[AuditEntry]], list[AuditRecord | AuditError]]) -> None:
        self._append_many = append_many
        self._cond = threading.Condition(threading.Lock())
        self._waiting: list[_Waiting] = []
        self._thread: threading.Thread | None = None

    async def append(self, entry: AuditEntry) -> AuditRecord:
        """`entry` on disk, returned as stored; AuditError when it could not be written."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AuditRecord] = loop.create_future()
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fundtrail-audit", daemon=True)
                self._thread.start()
            self._waiting.append((entry, future, loop))
            self._cond.notify()
        return await future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    self._cond.wait()
                batch, self._waiting = self._waiting, []
            try:
                results: list[AuditRecord | BaseException] = list(self._append_many([w[0] for w in batch]))
            except Exception as exc:  # noqa: BLE001 - every waiting request must learn it failed
                results = [exc] * len(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[AuditRecord], object]]] = {}
            for (_entry, future, loop), result in zip(batch, results):
                by_loop.setdefault(loop, []).append((future, result))
            for loop, settled in by_loop.items():  # one wake-up of each loop for its whole share
                try:
                    loop.call_soon_threadsafe(_settle, settled)
                except RuntimeError:  # that loop closed (its server stopped): nobody waits there
                    pass


def _settle(settled: list[tuple[asyncio.Future[AuditRecord], object]]) -> None:
    for future, result in settled:
        if future.done():  # the request was cancelled (client gone)
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)  # type: ignore[arg-type]
