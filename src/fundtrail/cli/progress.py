"""Progress display for long jobs: the CLI's renderer of the service layer's progress callback
`(stage, done, total)` (a live line on stderr in a terminal, periodic plain lines otherwise), and
plain announced steps for anything else that can take more than about a second."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO

#: A context manager per named step (the risk service's `Step`): announced when it runs long.
Step = Callable[[str], contextlib.AbstractContextManager[None]]
#: The service layer's progress callback: (stage, done, total); total 0 when unknown.
Progress = Callable[[str, int, int], None]


def _silent(stage: str, done: int, total: int) -> None:
    """Shows nothing."""


def _describe(label: str, stages: dict[str, tuple[int, int]], rate_of: str | None, t0: float) -> str:
    parts = [f"{d:,}/{t:,} {s}" if t else f"{d:,} {s}" for s, (d, t) in stages.items()]
    text = f"{label}: " + ", ".join(parts)
    if rate_of in stages:
        rate = stages[rate_of][0] / max(time.perf_counter() - t0, 1e-9)
        text += f" ({rate:,.0f} {'tx' if rate_of == 'transactions' else rate_of}/s)"
    return text


@contextlib.contextmanager
def job_progress(quiet: bool, label: str, *, rate_of: str | None = None, plain: bool = False,
                 every: float = 1.0, stream: IO[str] | None = None) -> Iterator[Progress]:
    """A progress callback for a service-layer job, showing each stage's latest count.

    In a terminal the line on stderr is redrawn in place; elsewhere (a log file, CI) nothing is
    shown, or with `plain` (or a `stream` given) a plain line at most every `every` seconds.
    `rate_of` names the stage whose rate per second is shown (ingest: transactions)."""
    out = stream or sys.stderr
    stages: dict[str, tuple[int, int]] = {}
    t0 = time.perf_counter()
    if quiet or not (plain or stream is not None or out.isatty()):
        yield _silent
    elif stream is None and out.isatty():
        from rich.console import Console

        with Console(stderr=True).status(f"{label}…") as status:
            def redraw(stage: str, done: int, total: int) -> None:
                stages[stage] = (done, total)
                status.update(_describe(label, stages, rate_of, t0))

            yield redraw
    else:
        last = [0.0]

        def write(stage: str, done: int, total: int) -> None:
            stages[stage] = (done, total)
            now = time.monotonic()
            if now - last[0] >= every or (total and done >= total):
                last[0] = now
                out.write(_describe(label, stages, rate_of, t0) + "\n")
                out.flush()

        yield write


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
