"""Address clustering on Spark, committed as a full clustering run in the single-machine layout.

The links come from the engine's own decision code per chunk (`spark/heuristics.py`), the
components from large-star/small-star (`spark/components.py`). The result is committed as the
engine commits a full run (`cluster/runs.py`): a `cluster_runs` row, and a run directory with the
union-find arrays (every address pointing at its cluster's smallest id, set sizes at the roots),
the address facts, the mapping with today's analyst overrides applied, and the evidence: the first
link (by transaction, multi-input before change) of each linked address pair, which connects every
cluster, so `cluster show`, `why`, trace attribution and the next incremental `cluster run` work on
it unchanged. The size guard is the engine's and is not run here (no suspects are recorded).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fundtrail.cluster import overrides, runs
from fundtrail.cluster.engine import CHUNK_TXS, check_params, parse_heuristics
from fundtrail.cluster.evidence import SCHEMA as EVIDENCE_SCHEMA
from fundtrail.cluster.links import HEURISTIC_BY_CODE
from fundtrail.cluster.snapshot import capture
from fundtrail.cluster.txview import UNKNOWN
from fundtrail.spark.components import components
from fundtrail.spark.heuristics import link_frame
from fundtrail.spark.session import Lake
from fundtrail.spark.staging import staged
from fundtrail.store import Store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def evidence_frame(links: DataFrame) -> DataFrame:
    """The first link of each address pair, in evidence order (transaction, then heuristic)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy(F.least("a", "b"), F.greatest("a", "b")).orderBy("tx_id", "heuristic", "a", "b")
    return (links.where(F.col("a") != F.col("b")).withColumn("k", F.row_number().over(w))
            .where(F.col("k") == 1).drop("k").orderBy("tx_id", "heuristic", "a", "b"))


def _labels(lake: Lake, roots: DataFrame, n: int) -> np.ndarray:
    """Cluster id per address id (its own id when on no link)."""
    labels = np.arange(n, dtype=np.int64)
    with staged(lake, roots.orderBy("v"), "cluster-roots") as parts:
        for part in parts:
            labels[part.column("v").to_numpy()] = part.column("root").to_numpy()
    return labels


def _facts(spark: SparkSession, lake: Lake, n: int, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Script type and first transaction per address id (the facts a checkpoint caches)."""
    script = np.zeros(cap, np.uint8)
    first = np.full(cap, UNKNOWN, np.int64)
    df = lake.table(spark, "addresses", ["address_id", "script_type", "first_tx_id"]).orderBy("address_id")
    with staged(lake, df, "cluster-facts") as parts:
        for part in parts:
            ids = part.column("address_id").to_numpy()
            script[ids] = part.column("script_type").fill_null(0).to_numpy().astype(np.uint8)
            first[ids] = part.column("first_tx_id").fill_null(UNKNOWN).to_numpy()
    return script, first


def _write_evidence(lake: Lake, evidence: DataFrame, labels: np.ndarray, path: Any) -> int:
    """Stream the evidence parts into the run's evidence file; returns the number of rows."""
    names = np.array(HEURISTIC_BY_CODE, dtype=object)
    rows = 0
    with pq.ParquetWriter(path, EVIDENCE_SCHEMA, compression="zstd") as writer, \
            staged(lake, evidence, "cluster-evidence") as parts:
        for part in parts:
            a = part.column("a").to_numpy()
            b = part.column("b").to_numpy()
            null = pa.nulls(part.num_rows, pa.int64())
            writer.write_table(pa.table([
                pa.array(a, pa.int64()), pa.array(b, pa.int64()), part.column("tx_id"),
                part.column("txid").cast(pa.binary()),
                pa.array(names[part.column("heuristic").to_numpy()].tolist(), pa.string()),
                part.column("confidence").cast(pa.float32()), pa.array(labels[a], pa.int64()),
                pa.array(np.maximum(a, b), pa.int64()), null, null], schema=EVIDENCE_SCHEMA))
            rows += part.num_rows
    return rows


def run_cluster(spark: SparkSession, store: Store, chain: str, *, heuristics: tuple[str, ...] = ("multi-input",),
                change_floor: float | None = None, coinjoin_floor: float = 0.5, chunk_txs: int = CHUNK_TXS,
                lake_uri: str | None = None) -> dict[str, Any]:
    """Cluster `chain` on Spark and commit the result as a full run; returns the run's figures."""
    t0 = time.perf_counter()
    names = parse_heuristics(heuristics)
    with runs.run_lock(store, chain):
        with store.connect() as cat:
            cp = capture(store, chain, cat)
            lake = Lake.open(store, chain, lake_uri)  # the same committed batches as `cp`
            if cp.family != "utxo":
                from fundtrail.errors import UsageError
                raise UsageError(f"spark cluster runs on UTXO chains; {chain} is an account chain", field="chain")
            heur, change_floor = check_params(cp.family, names, change_floor, coinjoin_floor)
            params = (",".join(heur), change_floor, coinjoin_floor)
            runs.recover(store, chain, cat)
            ovs = overrides.list_overrides(store, chain, con=cat)
            run_id = runs.begin(cat, chain, "full", f"computed by Spark ({spark.sparkContext.master}): "
                                "large-star/small-star connected components", None, *params)
        try:
            out = _run(spark, store, lake, cp, run_id, heur, change_floor, coinjoin_floor, chunk_txs, ovs)
        except BaseException as exc:
            runs.fail(store, run_id, "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                      str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def _run(spark: SparkSession, store: Store, lake: Lake, cp: Any, run_id: int, heur: tuple[str, ...],
         change_floor: float | None, coinjoin_floor: float, chunk_txs: int,
         ovs: list[overrides.Override]) -> dict[str, Any]:
    links = link_frame(spark, lake, heur, change_floor, coinjoin_floor, chunk_txs).localCheckpoint(eager=True)
    n_links = links.count()
    roots, rounds = components(links)
    n = cp.batches[-1].next_address_id if cp.batches else 0
    labels = _labels(lake, roots, n)
    size = np.bincount(labels, minlength=n).astype(np.int64) if n else np.zeros(0, np.int64)
    roots_ = np.flatnonzero(labels == np.arange(n))
    n_clusters = int((size[roots_] >= 2).sum())
    largest = int(size[roots_].max()) if roots_.size else 0
    cap = n + n // 4 + 1024
    parent = np.arange(cap, dtype=np.int64)
    parent[:n] = labels
    sizes = np.ones(cap, np.int64)
    sizes[:n] = np.where(labels == np.arange(n), size, 1)
    script, first = _facts(spark, lake, n, cap)
    post = overrides.apply(labels, ovs) if ovs else labels
    post_size = np.bincount(post, minlength=n) if n else np.zeros(0, np.int64)
    multi = np.flatnonzero(post_size[post] >= 2)
    mapping = pa.table({"address_id": pa.array(multi, pa.int64()), "cluster_id": pa.array(post[multi], pa.int64())})
    tmp = runs.new_run_dir(store, lake.chain, run_id)
    n_evidence = _write_evidence(lake, evidence_frame(links), labels, tmp / runs.EVIDENCE)
    arrays = {runs.PARENT: parent, runs.SIZE: sizes, runs.FACT_SCRIPT: script, runs.FACT_FIRST: first}
    path = runs.finish_run_dir(store, lake.chain, run_id, tmp, (arrays, mapping))
    tx_hi = cp.batches[-1].next_tx_id if cp.batches else 0
    values = {
        "tx_lo": 0, "tx_hi": tx_hi, "last_batch_id": cp.batches[-1].batch_id if cp.batches else -1,
        "last_block_id": cp.tip_block_id, "last_block_hash": cp.tip_block_hash, "n_addresses": n, "n_tx": tx_hi,
        "n_links": n_links, "n_unions": int(n - roots_.size), "n_clusters": n_clusters, "largest": largest,
        "path": path, "checkpoint": True, "suspects": "[]",
        "overrides_applied": ovs[-1].override_id if ovs else None,
    }
    runs.complete(store, run_id, values)
    runs.drop_superseded_state(store, lake.chain, path)
    return {"run_id": run_id, "n_addresses": n, "n_tx": tx_hi, "n_links": n_links, "n_unions": values["n_unions"],
            "n_clusters": n_clusters, "largest": largest, "evidence_edges": n_evidence, "rounds": rounds}
