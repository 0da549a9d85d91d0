"""Per-address and per-cluster statistics of a whole chain on Spark.

Definitions are those of the single-machine readers: received = satoshi paid to the address (its
outputs), sent = the value of its outputs spent by stored inputs (the public `inputs` view, late
links folded in), balance = received - sent, transaction count = distinct transactions that pay
it or spend from it, first/last seen = the block time of its first and last such transaction (the
address summary's `first_seen`/`last_seen`). A cluster (of two or more addresses in the current
clustering, analyst overrides applied) sums its members, counting payments between members on
both sides, with first/last activity the earliest and latest block time (`fundtrail cluster show`).

The result replaces `<store>/derived/<chain>/stats/` (address_stats.parquet, cluster_stats.parquet,
meta.json naming the batch and clustering run it reflects), swapped in by rename.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fundtrail.cluster.query import load_clustering
from fundtrail.errors import NotFoundError
from fundtrail.spark.session import Lake
from fundtrail.spark.staging import staged, uploaded
from fundtrail.store import Store
from fundtrail.store.partitions import FILE_MODE, fsync_path, make_private_dir

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FORMAT = "fundtrail-spark-stats/1"
_SUMS = ("received", "received_count", "sent", "sent_count", "balance", "tx_count")


def activity(spark: SparkSession, lake: Lake) -> DataFrame:
    """One row per (address, transaction, side): `got` paid to it, `gave` spent from it, block time."""
    from pyspark.sql import functions as F

    blocks = lake.table(spark, "blocks", ["block_id", "time"])
    tx_time = lake.table(spark, "transactions", ["tx_id", "block_id"]).join(blocks, "block_id", "left").select(
        "tx_id", "time")
    outs = lake.table(spark, "outputs", ["tx_id", "address_id", "value"]).where(F.col("address_id").isNotNull())
    ins = lake.inputs(spark).where(F.col("address_id").isNotNull()).select("tx_id", "address_id", "value")
    rows = (outs.select("address_id", "tx_id", F.col("value").alias("got"), F.lit(None).cast("long").alias("gave"))
            .unionByName(ins.select("address_id", "tx_id", F.lit(None).cast("long").alias("got"),
                                    F.col("value").alias("gave"))))
    return rows.join(tx_time, "tx_id", "left")


def address_frame(act: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    g = act.groupBy("address_id").agg(
        F.coalesce(F.sum("got"), F.lit(0)).cast("long").alias("received"), F.count("got").alias("received_count"),
        F.coalesce(F.sum("gave"), F.lit(0)).cast("long").alias("sent"), F.count("gave").alias("sent_count"),
        F.countDistinct("tx_id").alias("tx_count"),
        F.min(F.struct("tx_id", "time")).alias("first"), F.max(F.struct("tx_id", "time")).alias("last"))
    return g.select("address_id", "received", "received_count", "sent", "sent_count",
                    (F.col("received") - F.col("sent")).alias("balance"), "tx_count",
                    F.col("first.tx_id").alias("first_tx_id"), F.col("first.time").alias("first_seen"),
                    F.col("last.tx_id").alias("last_tx_id"), F.col("last.time").alias("last_seen"))


def cluster_frame(act: DataFrame, members: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    g = act.join(members, "address_id").groupBy("cluster_id").agg(
        F.coalesce(F.sum("got"), F.lit(0)).cast("long").alias("received"), F.count("got").alias("received_count"),
        F.coalesce(F.sum("gave"), F.lit(0)).cast("long").alias("sent"), F.count("gave").alias("sent_count"),
        F.countDistinct("tx_id").alias("tx_count"),
        F.min("time").alias("first_activity"), F.max("time").alias("last_activity"))
    sizes = members.groupBy("cluster_id").agg(F.count("*").alias("members"))
    return sizes.join(g, "cluster_id", "left").select(
        "cluster_id", "members", *[F.coalesce(c, F.lit(0)).alias(c) for c in
                                   ("received", "received_count", "sent", "sent_count")],
        (F.coalesce("received", F.lit(0)) - F.coalesce("sent", F.lit(0))).alias("balance"),
        F.coalesce("tx_count", F.lit(0)).alias("tx_count"), "first_activity", "last_activity")


def _write(lake: Lake, df: DataFrame, path: Any, job: str) -> int:
    rows = 0
    writer: pq.ParquetWriter | None = None
    with staged(lake, df, job) as parts:
        for part in parts:
            if writer is None:
                writer = pq.ParquetWriter(path, part.schema, compression="zstd")
            writer.write_table(part.cast(writer.schema))
            rows += part.num_rows
    if writer is None:
        pq.write_table(df.limit(0).toArrow(), path, compression="zstd")
    else:
        writer.close()
    return rows


def run_stats(spark: SparkSession, store: Store, chain: str, lake_uri: str | None = None) -> dict[str, Any]:
    """Compute and swap in the statistics of `chain` (clusters: only when it has been clustered)."""
    lake = Lake.open(store, chain, lake_uri)
    lake.require_utxo("stats")
    try:
        cl = load_clustering(store, chain)
        n = int(lake.last_batch["next_address_id"] or 0)
        labels = cl.labels[:n]
        size = np.bincount(labels, minlength=n) if n else np.zeros(0, np.int64)
        multi = np.flatnonzero(size[labels] >= 2)
        member_table: pa.Table | None = pa.table({"address_id": pa.array(multi, pa.int64()),
                                                  "cluster_id": pa.array(labels[multi], pa.int64())})
        run_id: int | None = cl.run.run_id
    except NotFoundError:
        member_table, run_id = None, None
    act = activity(spark, lake).localCheckpoint(eager=True)
    final = store.root / "derived" / chain / "stats"
    tmp = final.with_name("stats.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    make_private_dir(tmp)
    n_addr = _write(lake, address_frame(act).orderBy("address_id"), tmp / "address_stats.parquet", "stats-addresses")
    n_clusters = 0
    if member_table is not None:
        with uploaded(lake, member_table, "stats-members") as uri:
            members = spark.read.parquet(uri)
            n_clusters = _write(lake, cluster_frame(act, members).orderBy("cluster_id"),
                                tmp / "cluster_stats.parquet", "stats-clusters")
    meta = {"format": FORMAT, "chain": chain, "last_batch_id": int(lake.last_batch["batch_id"]),
            "cluster_run": run_id, "addresses": n_addr, "clusters": n_clusters}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    for f in tmp.iterdir():
        os.chmod(f, FILE_MODE)
        fsync_path(f)
    old = final.with_name("stats.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    with contextlib.suppress(OSError):
        fsync_path(final.parent)
    shutil.rmtree(old, ignore_errors=True)
    return {**meta, "path": str(final)}
