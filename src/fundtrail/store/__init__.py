"""The store: immutable Parquet partitions per chain and table, plus a DuckDB catalog over them.

Layout under the store directory (docs/schema.md):
    catalog.duckdb                      batches, block index, runs, schema migrations
    lake/<chain>/<table>/batch-NNNNNNNN.parquet
A batch is committed when its catalog row exists; files not referenced by the catalog (a crash
mid-batch) are removed when the store is next opened for writing.
"""

from fundtrail.store.lake import Store

__all__ = ["Store"]
