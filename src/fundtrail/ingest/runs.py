"""Ingest-run provenance shared by every pipeline: how a run ended, recorded in the catalog."""

from __future__ import annotations

from fundtrail.store import Store


def record_run_end(store: Store, run_id: int | None, exc: BaseException | None, blocks: int,
                   transactions: int) -> None:
    """Mark run `run_id` completed, interrupted (Ctrl-C) or failed with the error's one-line text."""
    if run_id is None:
        return
    if exc is None:
        status, message = "completed", None
    elif isinstance(exc, KeyboardInterrupt):
        status, message = "interrupted", "interrupted by the user"
    else:
        status = "failed"
        message = exc.one_line() if hasattr(exc, "one_line") else f"{type(exc).__name__}: {exc}"
    store.end_run(run_id, status, blocks, transactions, message)
