"""Sending a round's claimed outbox rows: per webhook in order, different webhooks at once.

`ThreadPoster` keeps one `WebhookSession` (a kept-alive connection) per webhook across rounds and
POSTs each webhook's rows one after another in a thread of its own, so a slow receiver delays only
its own alerts. A webhook's first failure ends its part of the round (its later rows are released:
the order of what one receiver sees is the order of the alerts); a round also stops starting POSTs
once its time budget is spent, so the claims' leases can be short.

`ProcessPoster` runs a ThreadPoster in a child process (`python -m fundtrail.watch.poster`,
started with the follow run or on first use). An
`ingest --follow` run is busy in Python between batches, and a deliverer thread beside it waits up
to the interpreter's switch interval (5 ms) for every socket read: hundreds of alerts a block then
took seconds. The child only POSTs; claiming and recording stay in the parent (the catalog has one
writer process), so a dead child loses nothing: its rows fall due again when their leases end.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, Protocol

from fundtrail.watch.delivery_http import Attempt, WebhookSession

__all__ = ["PostJob", "Poster", "ProcessPoster", "ThreadPoster"]

MAX_PARALLEL_WEBHOOKS = 8


@dataclass(frozen=True)
class PostJob:
    """One claimed row to send: the webhook, its URL and secret, the alert's exact bytes and key."""

    webhook_id: str
    url: str
    body: bytes
    alert_id: str
    key: str
    secret: bytes


class Poster(Protocol):
    def post(self, jobs: Sequence[PostJob], budget_s: float) -> list[Attempt | None]:
        """The attempt of each job, or None for one not tried (its webhook failed earlier in the
        round, or the budget was spent)."""

    def close(self) -> None: ...


class ThreadPoster:
    """POSTs in this process (see the module docstring)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._sessions: dict[tuple[str, str], WebhookSession] = {}
        self._pool = ThreadPoolExecutor(MAX_PARALLEL_WEBHOOKS, thread_name_prefix="fundtrail-webhook")

    def post(self, jobs: Sequence[PostJob], budget_s: float) -> list[Attempt | None]:
        results: list[Attempt | None] = [None] * len(jobs)
        by_hook: dict[str, list[int]] = {}
        for i, job in enumerate(jobs):
            by_hook.setdefault(job.webhook_id, []).append(i)
        stop_at = time.monotonic() + budget_s

        def run(indexes: list[int]) -> None:
            for i in indexes:
                if time.monotonic() >= stop_at:
                    return
                job = jobs[i]
                session = self._session(job)
                results[i] = attempt = session.post(job.body, alert_id=job.alert_id, idempotency_key=job.key,
                                                    secret=job.secret)
                if not attempt.ok:
                    return

        groups = list(by_hook.values())
        if len(groups) == 1:
            run(groups[0])
        else:
            for f in [self._pool.submit(run, g) for g in groups]:
                f.result()
        return results

    def _session(self, job: PostJob) -> WebhookSession:
        key = (job.webhook_id, job.url)
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = WebhookSession(job.url, self.timeout)
        return session

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
        self._pool.shutdown(wait=False)


def _send(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the other side of the poster pipe closed")
    (size,) = struct.unpack("<Q", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other side of the poster pipe closed mid-message")
    return pickle.loads(data)  # our own child, over its own pipe


class ProcessPoster:
    """A ThreadPoster in a child process (see the module docstring); started on first use."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the child now (its interpreter's start-up, ~0.3 s, is then not paid by a first alert)."""
        with self._lock:
            self._child()

    def _child(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
            self._proc = subprocess.Popen([sys.executable, "-m", "fundtrail.watch.poster", repr(self.timeout)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        return self._proc

    def post(self, jobs: Sequence[PostJob], budget_s: float) -> list[Attempt | None]:
        with self._lock:
            proc = self._child()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _send(proc.stdin, (list(jobs), budget_s))
                results: list[Attempt | None] = _receive(proc.stdout)
            except (OSError, EOFError, pickle.UnpicklingError) as exc:
                self._kill()
                # what was sent is unknown: each webhook's first row counts a failed attempt, its later
                # rows are released (at least once on the wire; the idempotency key does the rest)
                why = f"the delivery process ended: {type(exc).__name__}"
                first: set[str] = set()
                out: list[Attempt | None] = []
                for job in jobs:
                    out.append(None if job.webhook_id in first else Attempt(False, None, why))
                    first.add(job.webhook_id)
                return out
            return results

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()  # the child's loop ends at end of input
                try:
                    self._proc.wait(self.timeout + 5)
                except subprocess.TimeoutExpired:
                    self._kill()
                self._proc = None


def _main() -> None:
    """The child: read (jobs, budget) messages from stdin, answer each with its results, until EOF."""
    poster = ThreadPoster(float(sys.argv[1]))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        while True:
            try:
                jobs, budget = _receive(stdin)
            except EOFError:
                return
            _send(stdout, poster.post(jobs, budget))
    finally:
        poster.close()


if __name__ == "__main__":
    _main()
