"""Handing a job's result from the executors to the store: Parquet parts staged, then read in order.

The executors write a sorted result as Parquet parts in a staging directory (beside the lake on a
cluster: `<lake URI>/_spark-staging/`; in the store's `cache/` in local mode); the driver reads the
parts one at a time, in order, and passes each to the store's own writers, which record its size,
rows and SHA-256 and commit it as a single-machine run would. The driver never holds more than one
part; the staging directory is removed afterwards, whatever happened.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from fundtrail.spark.session import Lake
from fundtrail.store.partitions import make_private_dir

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def _staging(lake: Lake, job: str) -> tuple[str, pafs.FileSystem, str]:
    """A fresh staging place: (URI as Spark takes it, filesystem, path in it). In the store's cache
    when the lake is read from the store, beside the lake otherwise."""
    token = f"{job}-{secrets.token_hex(6)}"
    if lake.local is not None:
        if lake.local == lake.store.lake.resolve():
            folder = lake.store.root.resolve() / "cache" / "spark-staging"
        else:
            folder = lake.local / "_spark-staging"
        make_private_dir(folder)
        path = (folder / token).as_posix()
        return f"file://{path}", pafs.LocalFileSystem(), path
    uri = f"{lake.base}/_spark-staging/{token}"
    filesystem, path = pafs.FileSystem.from_uri(uri)
    return uri, filesystem, path


@contextlib.contextmanager
def staged(lake: Lake, df: DataFrame, job: str) -> Iterator[Iterator[pa.Table]]:
    """Write `df` (already sorted as wanted) to a fresh staging directory and yield an iterator over
    its parts as Arrow tables, in order. Empty parts are skipped."""
    uri, filesystem, root = _staging(lake, job)
    try:
        df.write.mode("error").parquet(uri)

        def parts() -> Iterator[pa.Table]:
            infos = filesystem.get_file_info(pafs.FileSelector(root))
            for info in sorted((i for i in infos if i.path.endswith(".parquet")), key=lambda i: i.path):
                table = pq.read_table(info.path, filesystem=filesystem)
                if table.num_rows:
                    yield table

        yield parts()
    finally:
        with contextlib.suppress(OSError, FileNotFoundError):
            filesystem.delete_dir(root)


@contextlib.contextmanager
def uploaded(lake: Lake, table: pa.Table, job: str) -> Iterator[str]:
    """A table the driver made (e.g. cluster members) written where the executors read, as one
    Parquet file; yields its URI and removes it afterwards."""
    uri, filesystem, root = _staging(lake, job)
    try:
        filesystem.create_dir(root)
        pq.write_table(table, f"{root}/part-00000.parquet", filesystem=filesystem, compression="zstd")
        yield uri
    finally:
        with contextlib.suppress(OSError, FileNotFoundError):
            filesystem.delete_dir(root)
