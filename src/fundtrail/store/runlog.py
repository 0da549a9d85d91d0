"""Ingest run provenance kept in the catalog: which run committed which batch and how it ended.

A mixin of `Store` (it needs only `connect`), kept apart so that the store module stays small.
"""

from __future__ import annotations

import contextlib
from typing import Any

import duckdb

from fundtrail.store.sql import scalar


class RunLog:
    """`ingest_runs` rows: begun by an ingest, ended with its outcome, listed by `status`."""

    def connect(self, *, read_only: bool = False) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        raise NotImplementedError  # provided by Store

    def begin_run(self, chain: str, source: str) -> int:
        """Record the start of an ingest run; returns its id (batches refer to it)."""
        with self.connect() as con:
            run_id = scalar(con.execute("SELECT coalesce(max(run_id), -1) + 1 FROM ingest_runs"))
            con.execute("INSERT INTO ingest_runs (run_id, chain, source, started_at, status) "
                        "VALUES (?, ?, ?, now(), 'running')", [run_id, chain, source])
        return int(run_id)

    def end_run(self, run_id: int, status: str, blocks: int, transactions: int,
                message: str | None = None) -> None:
        """Record how a run ended: completed, failed (with the error) or interrupted."""
        with self.connect() as con:
            con.execute("UPDATE ingest_runs SET finished_at = now(), status = ?, blocks = ?, "
                        "transactions = ?, message = ? WHERE run_id = ?",
                        [status, blocks, transactions, message, run_id])

    def mark_interrupted_runs(self, chain: str) -> int:
        """Runs of `chain` still 'running' when its writer lock is free were killed: say so."""
        with self.connect() as con:
            n = scalar(con.execute("SELECT count(*) FROM ingest_runs WHERE chain = ? AND status = 'running'",
                                   [chain]))
            if n:
                con.execute("UPDATE ingest_runs SET status = 'interrupted', "
                            "message = 'process ended before the run finished' "
                            "WHERE chain = ? AND status = 'running'", [chain])
        return int(n)

    def runs(self, chain: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The most recent ingest runs, newest first."""
        with self.connect(read_only=True) as con:
            cur = con.execute(
                "SELECT run_id, chain, source, started_at, finished_at, status, blocks, transactions, "
                "message FROM ingest_runs WHERE ? IS NULL OR chain = ? ORDER BY run_id DESC LIMIT ?",
                [chain, chain, limit])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
