"""Progress display for long jobs: a live line on stderr with blocks, transactions and rate."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator


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
