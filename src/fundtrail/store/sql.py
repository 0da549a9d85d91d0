"""Helpers for reading DuckDB query results."""

from __future__ import annotations

from typing import Any

import duckdb


def one_row(cur: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The row an executed query that always returns one (an aggregate without GROUP BY) returned.

    Raises RuntimeError if there was none."""
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("the query returned no row")
    return row


def scalar(cur: duckdb.DuckDBPyConnection) -> Any:
    """The first value of `one_row(cur)`: of count(*), max(...) and the like."""
    return one_row(cur)[0]
