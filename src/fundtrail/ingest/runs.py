"""What every ingest pipeline does around its batches: one writer per chain, recovery after an
interrupted run, and the provenance of each run (which run committed which batch, how it ended)."""

from __future__ import annotations

import logging
import weakref
from typing import Any, Self

from fundtrail.errors import StoreError
from fundtrail.model.chains import check_chain_name
from fundtrail.store import Store

log = logging.getLogger(__name__)


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


class ChainWriter:
    """Base of the ingest pipelines: holds the chain's writer lock and records the run.

    Subclasses call `_open_writer` once they know their chain, `_begin_run` before their first
    commit, and keep `self.report` with `blocks` and `transactions`; used as a context manager, the
    run's outcome is recorded and the lock released on exit.
    """

    store: Store
    report: Any

    def _open_writer(self, store: Store, chain: str) -> None:
        """Validate the chain name, take its writer lock, then recover: mark killed runs, remove
        uncommitted files, and record (or re-check) the committed files' checksums."""
        check_chain_name(chain)  # before it becomes a lock file name or a lake directory
        self.store = store
        self._writer_chain = chain
        self._finalizer = weakref.finalize(self, store.lock_writer(chain))  # until close() or GC
        self.run_id: int | None = None
        try:
            if store.mark_interrupted_runs(chain):
                log.warning("an earlier ingest run of %s was interrupted; continuing after its last "
                            "commit", chain)
            removed = store.remove_orphans(chain)
            if removed:
                log.warning("removed %d partition file(s) left by an interrupted run", removed)
            recorded = store.refresh_records(chain)
            if recorded:
                log.info("recorded the checksums of %d lake file(s) of %s", recorded, chain)
        except BaseException:
            self.close()
            raise

    def _declare_chain(self, family: str, network: str) -> None:
        """Check that the chain name is free or of this network; register it only at the first
        commit (`_register_chain`), so that a run failing before it leaves no empty chain."""
        self._chain_decl = (family, network)
        found = next((c for c in self.store.chains() if c["chain"] == self._writer_chain), None)
        self._chain_registered = found is not None
        if found is not None and (found["family"], found["network"]) != (family, network):
            raise StoreError(f"chain {self._writer_chain} in {self.store.root} is {found['network']}, "
                             f"not {network}")

    def _register_chain(self) -> None:
        """Register the chain in the catalog (before its first batch is committed)."""
        if not self._chain_registered:
            self.store.ensure_chain(self._writer_chain, *self._chain_decl)
            self._chain_registered = True

    def _begin_run(self, source: str) -> None:
        if self.run_id is None:
            self.run_id = self.store.begin_run(self._writer_chain, source)

    def close(self) -> None:
        """Release the chain's writer lock; the object must not ingest afterwards."""
        self._finalizer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            record_run_end(self.store, self.run_id, exc, self.report.blocks, self.report.transactions)
        finally:
            self.close()
