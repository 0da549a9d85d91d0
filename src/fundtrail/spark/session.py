"""The Spark session and the lake as Spark reads it: committed files only, the public views rebuilt.

A reader must see exactly what `Store.query()` sees: the files the catalog's committed batches list
(a batch being written by a concurrent ingest is never half-read), with the late input links and fee
updates folded into `inputs` and `transactions` as the public views fold them. The catalog stays on
the machine that runs the driver; the lake files may be read from elsewhere (`--lake URI`: a copy of
`<store>/lake` on HDFS or S3-compatible storage, at the same relative paths).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pyarrow as pa

from fundtrail.errors import ConfigError, StoreError, UsageError
from fundtrail.store import Store
from fundtrail.store.tables import UTXO_TABLES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

EXTRA_HINT = "install the optional extra: pip install 'fundtrail[spark]' (PySpark 4.x; Java 17 or later)"


def require_pyspark() -> None:
    """ConfigError naming the extra when PySpark is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError("PySpark is not installed: the spark commands need the 'spark' extra",
                          hint=EXTRA_HINT) from None


def check_master(master: str) -> str:
    """`local`, `local[N]`, `local[*]` or a `spark://host:port` URL; UsageError otherwise."""
    m = master.strip()
    if m in ("local", "local[*]") or (m.startswith("local[") and m.endswith("]") and m[6:-1].isdigit()):
        return m
    if m.startswith("spark://") and len(m) > len("spark://"):
        return m
    raise UsageError(f"unknown Spark master {master!r}; give local[N] or spark://host:port", field="master")


def open_session(master: str, app: str = "fundtrail", shuffle_partitions: int | None = None) -> SparkSession:
    """A Spark session for one job. The driver binds to loopback in local mode (air-gapped), the
    Python workers run this interpreter (so they import this fundtrail), the UI is off, and in local
    mode the JVM's heap follows `memory_limit` (`local_heap`)."""
    require_pyspark()
    from pyspark.sql import SparkSession

    master = check_master(master)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    parts = shuffle_partitions or (8 if master.startswith("local") else 200)
    builder = (SparkSession.builder.master(master).appName(app)
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", str(parts))
               .config("spark.sql.adaptive.enabled", "true")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.sql.parquet.compression.codec", "zstd")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.pyspark.python", sys.executable))
    if master.startswith("local"):
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        if "SPARK_DRIVER_MEMORY" not in os.environ:  # the executors live in the driver's JVM
            builder = builder.config("spark.driver.memory", local_heap())
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def local_heap(limit: int | None = None) -> str:
    """The JVM heap of a local session: 60 % of `memory_limit` (the rest for the Python workers, the
    JVM's own overhead and the page cache), at least 1 GB. Spark's default of 1 GB ran out of heap in
    the clustering of a 10M-transaction chain; SPARK_DRIVER_MEMORY overrides it."""
    from fundtrail.store.spill import default_limit

    limit = default_limit() if limit is None else limit
    mb = max(1024, int((limit or 0) * 0.6) >> 20)
    return f"{mb}m"


def spark_type(t: pa.DataType) -> Any:
    """The Spark SQL type Spark gives a Parquet column of Arrow type `t` (unsigned types widen)."""
    from pyspark.sql import types as T

    if pa.types.is_boolean(t):
        return T.BooleanType()
    if pa.types.is_uint8(t) or pa.types.is_int16(t):
        return T.ShortType()
    if pa.types.is_int8(t):
        return T.ByteType()
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return T.IntegerType()
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return T.LongType()
    if pa.types.is_uint64(t):
        return T.DecimalType(20, 0)
    if pa.types.is_binary(t) or pa.types.is_fixed_size_binary(t):
        return T.BinaryType()
    if pa.types.is_string(t):
        return T.StringType()
    if pa.types.is_decimal(t):
        return T.DecimalType(t.precision, t.scale)
    raise TypeError(f"no Spark type for {t}")


@dataclass(frozen=True)
class Lake:
    """One chain of a store as Spark reads it: the committed files of each table, under `base`."""

    store: Store
    chain: str
    family: str
    base: str  # where `<chain>/<table>/<file>` are read from: the store's lake or a URI
    local: Path | None  # that place as a local directory, when it is one
    files: dict[str, list[str]]
    last_batch: dict[str, Any]

    @classmethod
    def open(cls, store: Store, chain: str, lake_uri: str | None = None) -> Lake:
        """The committed state of `chain` now (later commits are not seen by this object)."""
        with store.connect(read_only=True) as con:
            row = con.execute("SELECT family FROM chains WHERE chain = ?", [chain]).fetchone()
            if row is None:
                known = ", ".join(r[0] for r in con.execute("SELECT chain FROM chains ORDER BY chain").fetchall())
                raise UsageError(f"chain {chain!r} is not in store {store.root} (stored chains: {known or 'none'})",
                                 field="chain")
            cur = con.execute("SELECT * FROM batches WHERE chain = ? ORDER BY batch_id", [chain])
            names = [d[0] for d in cur.description]
            batches = [dict(zip(names, r)) for r in cur.fetchall()]
        if not batches:
            raise UsageError(f"chain {chain} has no committed batches in {store.root}", field="chain")
        files: dict[str, list[str]] = {}
        for b in batches:
            for f in b["files"]:
                files.setdefault(f.split("/", 1)[0], []).append(f)
        local: Path | None = None
        if not lake_uri:
            local = store.lake.resolve()
        elif lake_uri.startswith("file:"):
            local = Path(unquote(urlparse(lake_uri).path)).resolve()
        elif "://" not in lake_uri:
            local = Path(lake_uri).resolve()
        if local is not None and not local.is_dir():
            raise UsageError(f"lake {lake_uri}: no such directory", field="lake")
        # Hadoop paths are not percent-encoded: a store path with a space is read as it is written
        base = f"file://{local.as_posix()}" if local is not None else str(lake_uri).rstrip("/")
        return cls(store, chain, str(row[0]), base, local, files, batches[-1])

    def require_utxo(self, job: str) -> None:
        if self.family != "utxo":
            raise UsageError(f"spark {job} runs on UTXO chains; {self.chain} is an account chain", field="chain")

    def paths(self, table: str) -> list[str]:
        return [f"{self.base}/{self.chain}/{f}" for f in self.files.get(table, [])]

    def table(self, spark: SparkSession, table: str, columns: list[str]) -> DataFrame:
        """Columns of a base table (`<chain>__<table>`): its committed files, or no rows."""
        from pyspark.sql import types as T

        paths = self.paths(table)
        if paths:
            from pyspark.errors import AnalysisException

            try:
                return spark.read.parquet(*paths).select(*columns)
            except AnalysisException as exc:  # one line naming the file, not a JVM stack
                if "PATH_NOT_FOUND" not in str(exc):
                    raise
                first = str(exc).split("Path does not exist:", 1)[-1].split("SQLSTATE")[0].strip().rstrip(".")
                raise StoreError(f"committed lake file {first} is missing from the lake Spark reads ({self.base})",
                                 hint="copy the store's lake there again (docs/spark.md)") from None
        schema = UTXO_TABLES[table]
        return spark.createDataFrame([], T.StructType([
            T.StructField(c, spark_type(schema.field(c).type), True) for c in columns]))

    def inputs(self, spark: SparkSession) -> DataFrame:
        """The public `inputs` view: late links folded in (as `UTXO_VIEWS['inputs']`)."""
        from pyspark.sql import functions as F

        i = self.table(spark, "inputs", ["tx_id", "n", "prev_txid", "prev_vout", "sequence", "prev_output_id",
                                         "value", "address_id", "block_height"])
        lk = self.table(spark, "input_links", ["tx_id", "n", "prev_output_id", "value", "address_id"])
        lk = lk.select("tx_id", "n", *[F.col(c).alias(f"l_{c}") for c in ("prev_output_id", "value", "address_id")])
        j = i.join(lk, ["tx_id", "n"], "left")
        return j.select("tx_id", "n", "prev_txid", "prev_vout", "sequence",
                        F.coalesce("prev_output_id", "l_prev_output_id").alias("prev_output_id"),
                        F.coalesce("value", "l_value").alias("value"),
                        F.coalesce("address_id", "l_address_id").alias("address_id"), "block_height")

    def transactions(self, spark: SparkSession, columns: list[str]) -> DataFrame:
        """The public `transactions` view's `columns` (fee updates folded in)."""
        from pyspark.sql import functions as F

        t = self.table(spark, "transactions", sorted({*columns, "tx_id"}))
        if not {"input_value", "fee"} & set(columns):
            return t.select(*columns)
        u = self.table(spark, "tx_updates", ["tx_id", "input_value", "fee"])
        u = u.select("tx_id", F.col("input_value").alias("u_input_value"), F.col("fee").alias("u_fee"))
        t = t.join(u, "tx_id", "left")
        for c in ("input_value", "fee"):
            if c in columns:
                t = t.withColumn(c, F.coalesce(c, f"u_{c}"))
        return t.select(*columns)
