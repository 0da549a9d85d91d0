"""The Spark jobs behind the service layer (`fundtrail spark ...`; docs/spark.md).

Each job reads the chain's committed lake files and commits its result as the single-machine path
does (a late-resolution batch, a clustering run, the statistics or the exposure index under
`derived/`), so every other capability reads it unchanged. PySpark is the optional `spark` extra:
without it, a ConfigError naming the extra, before anything is opened.
"""

from __future__ import annotations

import time
from typing import Any

from fundtrail.workspace.core import WorkspaceBase
from fundtrail.workspace.spark_models import SparkJobResult, SparkRequest


class SparkOps(WorkspaceBase):
    """`spark_run`; the workspace must be writable."""

    def spark_run(self, req: SparkRequest) -> SparkJobResult:
        """Run one Spark job on `req.chain` and return what it committed."""
        from fundtrail.spark.session import check_master, open_session, require_pyspark

        require_pyspark()
        master = check_master(req.master)
        self.require_writable(f"spark {req.job}")
        ref = self.chain(req.chain, family="utxo", what=f"spark {req.job}")
        if req.job == "cluster":  # a bad combination is refused before a session starts
            from fundtrail.cluster.engine import check_params, parse_heuristics

            check_params("utxo", parse_heuristics(req.heuristics), req.change_floor, req.coinjoin_floor)
        categories = self._exposure_categories(req.profile) if req.job == "exposure" else ()
        from pyspark.sql import SparkSession

        t0 = time.perf_counter()
        ours = SparkSession.getActiveSession() is None  # a caller's session (a notebook) is left running
        spark = open_session(master, f"fundtrail {req.job} {ref.name}", req.shuffle_partitions)
        try:
            figures = self._spark_job(spark, req, ref.name, categories)
        finally:
            if ours:
                spark.stop()
        self.refresh()
        return SparkJobResult(job=req.job, chain=ref.name, master=master, seconds=round(time.perf_counter() - t0, 3),
                              figures=figures)

    @staticmethod
    def _exposure_categories(profile: str | None) -> tuple[str, ...]:
        """The profile's exposure categories (a bad profile: its ConfigError, on field `profile`)."""
        from fundtrail.errors import FundtrailError
        from fundtrail.risk.profile import load_profile

        try:
            return load_profile(profile).exposure_categories
        except FundtrailError as exc:
            exc.field = exc.field or "profile"
            raise

    def _spark_job(self, spark: Any, req: SparkRequest, chain: str, categories: tuple[str, ...]) -> dict[str, Any]:
        if req.job == "ingest-resolve":
            from fundtrail.spark.resolve import run_resolve

            return run_resolve(spark, self.store, chain, req.lake)
        if req.job == "cluster":
            from fundtrail.spark.cluster import run_cluster

            return run_cluster(spark, self.store, chain, heuristics=tuple(req.heuristics),
                               change_floor=req.change_floor, coinjoin_floor=req.coinjoin_floor,
                               chunk_txs=req.chunk_txs, lake_uri=req.lake)
        if req.job == "exposure":
            from fundtrail.spark.exposure import run_exposure

            return run_exposure(spark, self.store, chain, categories, lake_uri=req.lake, chunk_txs=req.chunk_txs)
        from fundtrail.spark.stats import run_stats

        return run_stats(spark, self.store, chain, req.lake)
