"""Progress display for long jobs: a live line on stderr with blocks, transactions and rate (ingest),
and plain announced steps for anything else that can take more than about a second."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO

from fundtrail.risk.assess import Step


@contextlib.contextmanager
def ingest_progress(quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a progress callback (or None when quiet or stderr is not a terminal)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    console = Console(stderr=True)
    t0 = time.perf_counter()
    with console.status("ingesting…") as status:
        def update(blocks: int, txs: int) -> None:
            rate = txs / max(time.perf_counter() - t0, 1e-9)
            status.update(f"ingesting: {blocks:,} blocks, {txs:,} transactions ({rate:,.0f} tx/s)")

        yield update


#: A step that runs longer than this many seconds is announced on stderr (and its end too).
PROGRESS_AFTER = 1.0


def progress_steps(quiet: bool, after: float = PROGRESS_AFTER, stream: IO[str] | None = None) -> Step:
    """A `Step` that writes `fundtrail: <step>…` to stderr once the step has run `after` seconds,
    and `… done in N s` when it ends; nothing for quicker steps or when quiet. Plain lines, so
    they read the same in a terminal, a log file or a CI job."""
    @contextlib.contextmanager
    def step(label: str) -> Iterator[None]:
        if quiet:
            yield
            return
        out = stream or sys.stderr
        t0 = time.perf_counter()
        lock, state = threading.Lock(), {"shown": False, "done": False}

        def announce() -> None:
            with lock:
                if not state["done"]:
                    out.write(f"fundtrail: {label}…\n")
                    out.flush()
                    state["shown"] = True

        timer = threading.Timer(max(after, 0.0), announce)
        timer.daemon = True
        if after <= 0:
            announce()
        else:
            timer.start()
        try:
            yield
        finally:
            timer.cancel()
            with lock:
                state["done"] = True
                if state["shown"]:
                    out.write(f"fundtrail: {label}: done in {time.perf_counter() - t0:.1f}s\n")
                    out.flush()

    return step
