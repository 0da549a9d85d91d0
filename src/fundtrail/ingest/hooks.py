"""Work a layer above ingest does with each committed batch (the watch evaluator, docs/watch.md).

Ingest cannot import the layers above it, so the service layer hands a factory in through a
context variable (`batch_hooks`); every ingest pipeline constructed inside that block asks it for
the hook of its chain. One protocol for every chain family: the hook gets the decoded tables of a
batch about to be committed (UTXO: blocks/transactions/inputs/outputs/addresses; account chains:
`store.tables.ACCOUNT_TABLES`) and returns what to write inside the batch's catalog transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

import duckdb
import pyarrow as pa

from fundtrail.store import Store

#: Rows written inside the catalog transaction of a commit (`Store.commit_batch(extra=...)`).
CatalogWrite = Callable[[duckdb.DuckDBPyConnection], None]


class BatchHook(Protocol):
    """What an ingest pipeline calls around each commit and rollback."""

    def on_batch(self, chain: str, tables: dict[str, pa.Table]) -> CatalogWrite | None:
        """Given the decoded tables of a batch about to be committed, what to write with it."""

    def committed(self) -> None:
        """The batch last given to `on_batch` is committed (keep in-memory state from it)."""

    def on_rollback(self, chain: str, dropped: list[tuple[int, str]]) -> CatalogWrite | None:
        """Blocks (height, display hash) about to be dropped by a rollback: what to write with it."""


#: Makes the hook of one ingest run (or None), given the store and the chain.
HookFactory = Callable[[Store, str], BatchHook | None]
_HOOKS: ContextVar[HookFactory | None] = ContextVar("fundtrail_batch_hooks", default=None)


@contextmanager
def batch_hooks(factory: HookFactory | None) -> Iterator[None]:
    """Give every ingest pipeline constructed inside the block a hook made by `factory` (the service
    layer wraps an ingest job in it; a context variable, so concurrent jobs in threads don't mix)."""
    token = _HOOKS.set(factory)
    try:
        yield
    finally:
        _HOOKS.reset(token)


def hook_for(store: Store, chain: str) -> BatchHook | None:
    """The hook of the current `batch_hooks` block for `chain`, or None."""
    factory = _HOOKS.get()
    return factory(store, chain) if factory is not None else None
