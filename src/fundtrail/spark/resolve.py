"""Input resolution at full-chain scale: inputs stored unresolved joined to the outputs they spend.

The same rows the single-machine late resolution writes (`ingest/bitcoin/links.py`, over the whole
chain): one `input_links` row per stored-unresolved input whose spent output is now in the lake,
and one `tx_updates` row per transaction whose fee that makes known, committed as one batch of
their own, so the public views fold them in for every other command. The join is a shuffle join on
the spent transaction's hash: no unspent set in anyone's memory.

Crash safety is the ingest's: the chain's writer lock is held, the files are written before the
catalog commit, and files of a killed run are orphans the next run removes; a rerun finds the
inputs already linked and links only the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fundtrail.spark.session import Lake
from fundtrail.spark.staging import staged
from fundtrail.store import Store
from fundtrail.store.tables import UTXO_TABLES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def link_frames(spark: SparkSession, lake: Lake) -> tuple[DataFrame, DataFrame]:
    """(input_links, tx_updates) as DataFrames, sorted as the single-machine pass writes them."""
    from pyspark.sql import functions as F

    ins = lake.inputs(spark).where(F.col("prev_output_id").isNull()).select("tx_id", "n", "prev_txid", "prev_vout")
    txs = lake.table(spark, "transactions", ["tx_id", "txid"]).withColumnRenamed("tx_id", "prev_tx_id")
    outs = lake.table(spark, "outputs", ["output_id", "tx_id", "n", "value", "address_id"]).select(
        F.col("tx_id").alias("prev_tx_id"), F.col("n").cast("long").alias("prev_vout"),
        F.col("output_id").alias("prev_output_id"), "value", "address_id")
    links = (ins.join(txs, ins.prev_txid == txs.txid).drop("txid")
             .join(outs, ["prev_tx_id", "prev_vout"])
             .select("tx_id", "n", "prev_output_id", "value", "address_id"))
    links = links.localCheckpoint(eager=True)
    linked = links.select(F.col("tx_id").alias("l_tx"), F.col("n").alias("l_n"), F.col("value").alias("l_value"))
    touched = links.select("tx_id").distinct()
    allin = lake.inputs(spark).select("tx_id", "n", "value").join(touched, "tx_id")
    allin = allin.join(linked, (allin.tx_id == linked.l_tx) & (allin.n == linked.l_n), "left").select(
        "tx_id", F.coalesce("value", "l_value").alias("value"))
    sums = allin.groupBy("tx_id").agg(F.sum("value").alias("s"), F.count("value").alias("c"))
    txv = lake.transactions(spark, ["tx_id", "output_value", "input_count", "fee"]).where(F.col("fee").isNull())
    updates = (sums.join(txv, "tx_id").where(F.col("c") == F.col("input_count"))
               .select("tx_id", F.col("s").cast("long").alias("input_value"),
                       (F.col("s") - F.col("output_value")).cast("long").alias("fee")))
    return links.orderBy("tx_id", "n"), updates.orderBy("tx_id")


def _write(store: Store, lake: Lake, df: DataFrame, table: str, batch_id: int) -> tuple[list[str], int]:
    """Stage `df` and write its parts as the batch's partitions of `table`: (files, rows)."""
    files: list[str] = []
    rows = 0
    with staged(lake, df, table) as parts:
        for k, part in enumerate(parts):
            name = f"batch-{batch_id:08d}.parquet" if k == 0 else f"batch-{batch_id:08d}-s{k:04d}.parquet"
            files.append(store.write_partition(lake.chain, table, name, part.cast(UTXO_TABLES[table])))
            rows += part.num_rows
    return files, rows


def run_resolve(spark: SparkSession, store: Store, chain: str, lake_uri: str | None = None) -> dict[str, Any]:
    """Link every stored-unresolved input of `chain` whose spent output is in the lake, and commit
    the links (and fee updates) as one batch. Returns counts and the batch id (None: nothing to link)."""
    release = store.lock_writer(chain)
    try:
        store.mark_interrupted_runs(chain)
        removed = store.remove_orphans(chain)
        lake = Lake.open(store, chain, lake_uri)
        lake.require_utxo("ingest-resolve")
        links, updates = link_frames(spark, lake)
        last = lake.last_batch
        batch_id = int(last["batch_id"]) + 1
        run_id = store.begin_run(chain, "spark ingest-resolve")
        try:
            files, n_links = _write(store, lake, links, "input_links", batch_id)
            if not n_links:
                store.end_run(run_id, "completed", 0, 0, "no input to link")
                return {"batch_id": None, "input_links": 0, "tx_updates": 0, "orphans_removed": removed}
            more, n_updates = _write(store, lake, updates, "tx_updates", batch_id)
            row = {
                "batch_id": batch_id, "source": "late input resolution (spark)", "first_block_id": None,
                "last_block_id": None, "min_height": None, "max_height": None, "n_blocks": 0, "n_tx": 0,
                "n_inputs": n_links, "n_outputs": 0, "n_new_addresses": 0,
                **{k: last[k] for k in ("next_block_id", "next_tx_id", "next_output_id", "next_address_id")},
                "run_id": run_id,
            }
            store.commit_batch(chain, row, files + more, [])
        except BaseException as exc:
            store.end_run(run_id, "failed", 0, 0, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
        store.end_run(run_id, "completed", 0, 0)
        return {"batch_id": batch_id, "input_links": n_links, "tx_updates": n_updates, "orphans_removed": removed}
    finally:
        release()
