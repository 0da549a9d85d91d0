"""The whole-chain exposure index on Spark, written where and as `risk/exposure.py` writes it.

The index holds, per output, the float32 incoming and outgoing vectors of the engine's two passes
(forward and backward in transaction-id order). Each vector depends on the vectors the loop wrote
before it, so the chain is cut into chunks of `chunk_txs` transactions and processed chunk by chunk
in the loop's order (incoming: first chunk first; outgoing: last first), the two directions side by
side. One Spark task runs a chunk with the engine's arithmetic (`spark/exposure_passes.py`), its
rows assembled beforehand for all chunks at once (one shuffle: each output joined to the
transaction that spends it; tags broadcast), and the vectors crossing a chunk boundary joined in
from the chunks before it: each chunk writes, besides its results, "carry" rows keyed by the chunk
that will read them, so a chunk reads exactly its own carry files and nothing else.

The driver brings the graph index up to date (every reader of the exposure index needs it) and
resolves the tags with it, as `fundtrail risk` does, so the index's key (store state, categories,
tagged addresses) is the one the readers compute and they load Spark's index unchanged. The driver
writes the two arrays into memory-mapped files part by part and swaps them in by rename.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from fundtrail.errors import StoreError
from fundtrail.risk.exposure import FORMAT, exposure_key
from fundtrail.spark import exposure_passes as xp
from fundtrail.spark.session import Lake
from fundtrail.spark.staging import _staging, uploaded
from fundtrail.store import Store
from fundtrail.store.partitions import FILE_MODE, fsync_path, make_private_dir
from fundtrail.trace.attribution import TagMap
from fundtrail.trace.graph import GraphIndex

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Transactions per chunk: one Spark task each, run one after the other per direction.
CHUNK_TXS = 250_000


def index_key(graph: GraphIndex, categories: tuple[str, ...], tagged: np.ndarray) -> tuple[np.ndarray, str]:
    """(column per address id, key) exactly as `ExposureIndex.ensure` computes them: the key says
    which index the readers accept."""
    return exposure_key(graph, categories, tagged)


def pass_rows(spark: SparkSession, lake: Lake, tags: DataFrame, chunk_txs: int) -> DataFrame:
    """Every transaction, input and output as the chunk passes read them, with its `chunk`."""
    from pyspark.sql import functions as F

    tags = F.broadcast(tags.select("address_id", F.col("cat").cast("short").alias("cat")))
    cat = F.coalesce("cat", F.lit(-1).cast("short")).alias("cat")
    txs = lake.table(spark, "transactions", ["tx_id", "is_coinbase"]).select(
        "tx_id", F.coalesce("is_coinbase", F.lit(False)).alias("coinbase"))
    view = lake.inputs(spark)
    ins = view.select("tx_id", "n", F.col("prev_output_id").alias("prev"), "value", "address_id").join(
        tags, "address_id", "left").select("tx_id", "n", "prev", "value", cat)
    spent = view.where(F.col("prev_output_id").isNotNull()).groupBy(
        F.col("prev_output_id").alias("output_id")).agg(F.max("tx_id").alias("spender"))
    outs = (lake.table(spark, "outputs", ["output_id", "tx_id", "value", "address_id"])
            .join(tags, "address_id", "left").join(spent, "output_id", "left")
            .select("tx_id", "output_id", "value", cat, "spender"))
    parts = [d.withColumn("kind", F.lit(kind).cast("byte"))
             for d, kind in ((txs, xp.KIND_TX), (ins, xp.KIND_IN), (outs, xp.KIND_OUT))]
    rows = parts[0].unionByName(parts[1], allowMissingColumns=True).unionByName(parts[2], allowMissingColumns=True)
    return rows.withColumn("chunk", (F.col("tx_id") / F.lit(chunk_txs)).cast("long"))


@contextlib.contextmanager
def _scratch(lake: Lake) -> Iterator[tuple[str, pafs.FileSystem, str]]:
    """A staging directory for the job's intermediate files, removed afterwards."""
    uri, filesystem, root = _staging(lake, "exposure")
    try:
        yield uri, filesystem, root
    finally:
        with contextlib.suppress(OSError, FileNotFoundError):
            filesystem.delete_dir(root)


class _Pass:
    """One direction's chunk loop; results scattered into `target` (a memory-mapped .npy)."""

    def __init__(self, spark: SparkSession, direction: str, scratch: tuple[str, pafs.FileSystem, str],
                 target: np.ndarray, k: int, chunk_txs: int, first_out: np.ndarray, first_chunk: np.ndarray) -> None:
        self.spark, self.direction, self.target, self.k = spark, direction, target, k
        self.uri, self.fs, self.root = scratch
        self.chunk_txs, self.first_out, self.first_chunk = chunk_txs, first_out, first_chunk
        self.carries: dict[int, list[str]] = {}
        self.results = 0

    def _udf(self, chunk: int) -> Any:
        k, chunk_txs, first_out, first_chunk = self.k, self.chunk_txs, self.first_out, self.first_chunk
        direction = self.direction

        def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            got = list(batches)
            if not got:
                return
            ch = xp.chunk_of_rows(pa.Table.from_batches(got), k)
            res = (xp.incoming(ch, chunk, chunk_txs, k) if direction == "incoming"
                   else xp.outgoing(ch, chunk, first_out, first_chunk, k))
            yield from res.to_batches()

        return run

    def chunk(self, chunk: int) -> None:
        from pyspark.sql import functions as F

        df = self.spark.read.parquet(f"{self.uri}/rows/chunk={chunk}")
        if self.carries.get(chunk):
            carry = self.spark.read.parquet(*self.carries.pop(chunk)).withColumn(
                "kind", F.lit(xp.KIND_CARRY).cast("byte"))
            df = df.unionByName(carry, allowMissingColumns=True)
        schema = "dest int, output_id long, " + ", ".join(f"v{i} float" for i in range(self.k))
        where = f"{self.direction}/src={chunk}"
        df.coalesce(1).mapInArrow(self._udf(chunk), schema).write.partitionBy("dest").parquet(f"{self.uri}/{where}")
        for info in self.fs.get_file_info(pafs.FileSelector(f"{self.root}/{where}")):
            if info.type != pafs.FileType.Directory or not info.base_name.startswith("dest="):
                continue
            dest = int(info.base_name.split("=", 1)[1])
            if dest != xp.RESULT:
                self.carries.setdefault(dest, []).append(f"{self.uri}/{where}/{info.base_name}")
                continue
            for f in sorted(self.fs.get_file_info(pafs.FileSelector(info.path)), key=lambda i: i.path):
                if f.path.endswith(".parquet"):
                    self._scatter(pq.read_table(f.path, filesystem=self.fs))

    def _scatter(self, part: pa.Table) -> None:
        ids = part.column("output_id").to_numpy()
        if ids.size and (ids.min() < 0 or ids.max() >= self.target.shape[0]):
            raise StoreError(f"exposure pass wrote output id {int(ids.max())} beyond the graph index's "
                             f"{self.target.shape[0]:,} outputs", hint="run the job again")
        vec = np.column_stack([part.column(f"v{i}").to_numpy() for i in range(self.k)]).astype(np.float32)
        self.target[ids] = vec
        self.results += int(ids.size)

    def run(self, chunks: list[int]) -> int:
        for c in (chunks if self.direction == "incoming" else chunks[::-1]):
            self.chunk(c)
        return self.results


def _install(tmp: Path, final: Path) -> None:
    """Swap the new index directory in by rename (as `trace.graph.write_index`)."""
    for f in tmp.iterdir():
        os.chmod(f, FILE_MODE)
        fsync_path(f)
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    with contextlib.suppress(OSError):
        fsync_path(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def run_exposure(spark: SparkSession, store: Store, chain: str, categories: tuple[str, ...], *,
                 lake_uri: str | None = None, chunk_txs: int = CHUNK_TXS) -> dict[str, Any]:
    """Compute the exposure index of `chain` for `categories` (a profile's exposure categories)
    and the store's tags, and swap it in where `ExposureIndex.ensure` looks; returns figures."""
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    lake = Lake.open(store, chain, lake_uri)
    lake.require_utxo("exposure")
    graph = GraphIndex.ensure(store, chain)
    batches = graph.meta.get("state", {}).get("batches") or [[None, None]]
    if batches[-1][0] != lake.last_batch["batch_id"]:
        raise StoreError(f"a batch of {chain} was committed while the exposure job started (the lake ends at "
                         f"batch {lake.last_batch['batch_id']}, the graph index at {batches[-1][0]})",
                         hint="run the job again")
    tagmap = TagMap.load(store, graph)
    addr_cat, key = index_key(graph, categories, tagmap.category_array(graph.n_addresses))
    k = len(categories) + 1  # last column: tagged with a category outside the profile
    tagged = np.flatnonzero(addr_cat >= 0)
    tag_table = pa.table({"address_id": pa.array(tagged, pa.int64()), "cat": pa.array(addr_cat[tagged], pa.int16())})
    final = store.root / "derived" / chain / "exposure"
    tmp = final.with_name("exposure.spark-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    make_private_dir(tmp)
    figures: dict[str, Any] = {"outputs": graph.n_outputs, "categories": len(categories), "tagged_addresses":
                               int(tagged.size), "key": key, "chunk_txs": chunk_txs}
    try:
        with _scratch(lake) as scratch, uploaded(lake, tag_table, "exposure-tags") as tags_uri:
            uri = scratch[0]
            pass_rows(spark, lake, spark.read.parquet(tags_uri), chunk_txs).repartition("chunk").write.partitionBy(
                "chunk").parquet(f"{uri}/rows")
            firsts = (spark.read.parquet(f"{uri}/rows").groupBy("chunk")
                      .agg(F.min(F.when(F.col("kind") == xp.KIND_OUT, F.col("output_id"))).alias("first"))
                      .orderBy("chunk").collect())
            chunks = [int(r["chunk"]) for r in firsts]
            has = [(int(r["first"]), int(r["chunk"])) for r in firsts if r["first"] is not None]
            first_out = np.array([h[0] for h in has], np.int64)
            first_chunk = np.array([h[1] for h in has], np.int64)
            figures["chunks"], figures["prepare_seconds"] = len(chunks), round(time.perf_counter() - t0, 3)
            shape = (graph.n_outputs, k)
            arrays = {name: np.lib.format.open_memmap(tmp / f"{name}.npy", mode="w+", dtype=np.float32, shape=shape)
                      for name in ("incoming", "outgoing")}
            passes = [_Pass(spark, name, scratch, arr, k, chunk_txs, first_out, first_chunk)
                      for name, arr in arrays.items()]
            with ThreadPoolExecutor(2, thread_name_prefix="exposure") as pool:
                futures = [pool.submit(p.run, chunks) for p in passes]
                for name, fut in zip(arrays, futures):
                    figures[f"{name}_rows"] = fut.result()
            for arr in arrays.values():
                arr.flush()
            del arrays, passes
        (tmp / "meta.json").write_text(json.dumps({"format": FORMAT, "key": key, "categories": list(categories)},
                                                  indent=1))
        _install(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    figures["path"] = str(final)
    figures["seconds"] = round(time.perf_counter() - t0, 3)
    return figures
