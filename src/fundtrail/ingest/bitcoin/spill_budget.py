"""How an ingest run's memory budget (the `memory_limit` setting) is shared out.

The budget is set for the run by the service layer (`memory_budget(limit)`, a context variable, so
a server's concurrent jobs each see their own) and read where the state is built. Shares of the
limit L:

- the hot tables: 40% (address index 16%, unspent outputs 24%), each holding its slot arrays and
  their growth peak; plus 1/16 of each share for the Bloom filter of spilled keys;
- the batches: about 6x a batch's bytes in column arrays and Arrow tables, and two batches are in
  memory at once (the pipeline prepares the next while it stores one), so the effective batch size
  is at most L/48 (12x it is a quarter of L), and at least 1 MB;
- DuckDB (the state rebuild, late input resolution, commits): 25%, its `memory_limit`, at least
  128 MB (below that its joins fail rather than spill); above it DuckDB spills to its temp directory;
- the rest: run merges (one partition's runs at a time) and Python, numba, Arrow themselves.

Unset (None): today's unbounded in-memory tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_BUDGET: ContextVar[int | None] = ContextVar("fundtrail_ingest_memory_budget", default=None)
_TEST_HOT_ENV = "FUNDTRAIL_TEST_HOT_ENTRIES"  # tests only: a tiny hot table that spills at once

HOT_SHARE = 0.40
ADDR_SHARE, UTXO_SHARE = 0.16, 0.24
DUCKDB_SHARE = 0.25
BATCH_DIVISOR = 48  # two batches of 6x their bytes within a quarter of the limit
MIN_BATCH_BYTES = 1 << 20


@contextmanager
def memory_budget(limit: int | None) -> Iterator[None]:
    """Ingest state built inside this block keeps to `limit` bytes (None: unbounded)."""
    token = _BUDGET.set(limit)
    try:
        yield
    finally:
        _BUDGET.reset(token)


def current_budget() -> int | None:
    return _BUDGET.get()


def table_budgets(limit: int) -> dict[str, int]:
    """Bytes for each hot table under `limit`."""
    return {"addr": int(limit * ADDR_SHARE), "utxo": int(limit * UTXO_SHARE)}


def batch_bytes_for(limit: int | None, configured: int) -> int:
    """The batch size to use: `configured`, lowered so that a batch's arrays fit its share."""
    if limit is None:
        return configured
    return max(MIN_BATCH_BYTES, min(configured, limit // BATCH_DIVISOR))


DUCKDB_FLOOR = 128 << 20  # late input resolution's join at 1M transactions fails in 32 MB


def duckdb_limit(limit: int) -> int:
    """DuckDB's memory limit: its share of `limit`, but not below what its joins need."""
    return max(DUCKDB_FLOOR, int(limit * DUCKDB_SHARE))


def test_max_hot() -> int | None:
    """The hot-table size tests force through the environment (None: from the budget)."""
    value = os.environ.get(_TEST_HOT_ENV)
    return int(value) if value else None
