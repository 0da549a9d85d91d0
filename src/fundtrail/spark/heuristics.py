"""The per-transaction clustering heuristics on Spark: the single-machine decision code, per chunk.

The executors assemble, for each chunk of `chunk_txs` transactions (the chunks the single-machine
engine walks: ids `[k*chunk, (k+1)*chunk)`), the columns `cluster.txview.load_txview` reads (inputs
with the script type of the address they spend from, outputs with their address's first appearance
and the transaction that spends them), and a grouped Arrow UDF turns each chunk into a `TxView` and
runs the same functions the engine runs (`coinjoin.detect`, `multi_input_links`, `change.consensus`,
`change_links`). The peel-chain rule looks at neighbouring transactions inside the view, so equal
chunks give links equal to the engine's, link for link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from fundtrail.cluster import change, coinjoin
from fundtrail.cluster.links import CHANGE, MULTI_INPUT, LinkBatch, change_links, multi_input_links
from fundtrail.cluster.txview import UNKNOWN, TxView
from fundtrail.spark.session import Lake
from fundtrail.store.tables import hash32_numpy

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

KIND_TX, KIND_IN, KIND_OUT = 0, 1, 2
LINK_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64()), ("tx_id", pa.int64()), ("heuristic", pa.int16()),
                         ("confidence", pa.float32()), ("txid", pa.binary())])
_SPARK_LINKS = "a long, b long, tx_id long, heuristic short, confidence float, txid binary"


def chunk_rows(spark: SparkSession, lake: Lake, chunk_txs: int) -> DataFrame:
    """One row per transaction, input and output, tagged with its kind and chunk (`kind`, `chunk`)."""
    from pyspark.sql import functions as F

    addrs = lake.table(spark, "addresses", ["address_id", "script_type", "first_tx_id"])
    blocks = lake.table(spark, "blocks", ["block_id", "time"])
    txs = (lake.transactions(spark, ["tx_id", "txid", "block_id", "block_height", "version", "locktime",
                                     "is_coinbase"]).join(blocks, "block_id", "left")
           .select("tx_id", F.lit(0).alias("n"), F.coalesce("block_height", F.lit(-1)).alias("height"),
                   F.coalesce("time", F.lit(0)).alias("time"), "version", "locktime", "is_coinbase", "txid"))
    public_in = lake.inputs(spark)
    ins = (public_in.join(addrs.select("address_id", F.col("script_type").alias("a_script")), "address_id", "left")
           .select("tx_id", "n", F.col("prev_output_id").alias("prev_output"), F.col("value").alias("value"),
                   F.col("address_id").alias("address"), "sequence",
                   F.coalesce("a_script", F.lit(0)).cast("short").alias("script")))
    spent = public_in.where(F.col("prev_output_id").isNotNull()).select(
        F.col("prev_output_id").alias("output_id"), F.col("tx_id").alias("spent_by"))
    outs = (lake.table(spark, "outputs", ["output_id", "tx_id", "n", "value", "script_type", "address_id"])
            .join(addrs.select("address_id", "first_tx_id"), "address_id", "left")
            .join(spent, "output_id", "left")
            .select("tx_id", "n", "output_id", "value", F.col("address_id").alias("address"),
                    F.col("script_type").cast("short").alias("script"), "first_tx_id", "spent_by"))
    parts = [txs.withColumn("kind", F.lit(KIND_TX)), ins.withColumn("kind", F.lit(KIND_IN)),
             outs.withColumn("kind", F.lit(KIND_OUT))]
    rows = parts[0].unionByName(parts[1], allowMissingColumns=True).unionByName(parts[2], allowMissingColumns=True)
    return rows.withColumn("chunk", (F.col("tx_id") / F.lit(chunk_txs)).cast("long"))


def _np(col: pa.ChunkedArray | pa.Array, dtype: type, fill: int = UNKNOWN) -> np.ndarray:
    if col.null_count:
        col = col.fill_null(fill)
    return np.asarray(col.to_numpy(zero_copy_only=False)).astype(dtype, copy=False)


def build_view(rows: pa.Table) -> TxView:
    """The `TxView` of one chunk's rows (as `load_txview` builds it from the store)."""
    kind = rows.column("kind").to_numpy(zero_copy_only=False)
    tx = rows.filter(pa.array(kind == KIND_TX)).sort_by("tx_id")
    ins = rows.filter(pa.array(kind == KIND_IN)).sort_by([("tx_id", "ascending"), ("n", "ascending")])
    outs = rows.filter(pa.array(kind == KIND_OUT)).sort_by([("tx_id", "ascending"), ("n", "ascending")])
    tx_id = _np(tx.column("tx_id"), np.int64)
    in_ptr = np.zeros(tx_id.size + 1, np.int64)
    out_ptr = np.zeros(tx_id.size + 1, np.int64)
    in_ptr[1:] = np.searchsorted(_np(ins.column("tx_id"), np.int64), tx_id, side="right")
    out_ptr[1:] = np.searchsorted(_np(outs.column("tx_id"), np.int64), tx_id, side="right")
    return TxView(
        tx_id=tx_id, height=_np(tx.column("height"), np.int64), time=_np(tx.column("time"), np.int64, 0),
        version=_np(tx.column("version"), np.int64, 0), locktime=_np(tx.column("locktime"), np.int64, 0),
        is_coinbase=_np(tx.column("is_coinbase"), np.bool_, 0), in_ptr=in_ptr,
        in_address=_np(ins.column("address"), np.int64), in_value=_np(ins.column("value"), np.int64),
        in_script=_np(ins.column("script"), np.uint8, 0), in_sequence=_np(ins.column("sequence"), np.int64, 0),
        in_prev_output=_np(ins.column("prev_output"), np.int64), out_ptr=out_ptr,
        out_id=_np(outs.column("output_id"), np.int64), out_address=_np(outs.column("address"), np.int64),
        out_value=_np(outs.column("value"), np.int64, 0), out_script=_np(outs.column("script"), np.uint8, 0),
        out_addr_first_tx=_np(outs.column("first_tx_id"), np.int64),
        out_spent_by=_np(outs.column("spent_by"), np.int64),
        txid=hash32_numpy(tx.column("txid")) if tx.num_rows else np.zeros((0, 32), np.uint8),
    )


def view_links(view: TxView, heuristics: tuple[str, ...], change_floor: float | None,
               coinjoin_floor: float) -> LinkBatch:
    """The links the engine forms over `view` (the engine's `_utxo_links`, stated again here)."""
    cj = coinjoin.detect(view)
    parts = []
    if MULTI_INPUT in heuristics:
        parts.append(multi_input_links(view, cj, coinjoin_floor))
    if CHANGE in heuristics and change_floor is not None:
        parts.append(change_links(view, cj, change.consensus(view), coinjoin_floor, change_floor))
    return LinkBatch.concat(parts)


def link_frame(spark: SparkSession, lake: Lake, heuristics: tuple[str, ...], change_floor: float | None,
               coinjoin_floor: float, chunk_txs: int) -> DataFrame:
    """Every heuristic link of the chain (a, b, tx_id, heuristic code, confidence, txid)."""
    rows = chunk_rows(spark, lake, chunk_txs)

    def per_chunk(table: pa.Table) -> pa.Table:
        view = build_view(table)
        if not len(view):
            return LINK_SCHEMA.empty_table()
        links = view_links(view, heuristics, change_floor, coinjoin_floor).ordered()
        pos = np.searchsorted(view.tx_id, links.tx_id)
        assert view.txid is not None
        hashes = np.ascontiguousarray(view.txid[pos]).reshape(-1)
        txid = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(pos), [None, pa.py_buffer(hashes)])
        return pa.table([pa.array(links.a, pa.int64()), pa.array(links.b, pa.int64()),
                         pa.array(links.tx_id, pa.int64()), pa.array(links.heuristic.astype(np.int16)),
                         pa.array(links.confidence, pa.float32()), txid.cast(pa.binary())], schema=LINK_SCHEMA)

    return rows.groupBy("chunk").applyInArrow(per_chunk, _SPARK_LINKS)
