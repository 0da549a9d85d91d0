"""The store: immutable Parquet partitions per chain and table, plus a DuckDB catalog over them.

Layout under the store directory (docs/schema.md):
    catalog.duckdb                      batches, block index, runs, schema migrations
    lake/<chain>/<table>/batch-NNNNNNNN.parquet
A batch is committed when its catalog row exists; partition files not referenced by the catalog
(a crash mid-batch) are removed when the chain is next opened for writing. Each committed file's
size, rows and SHA-256 are in the catalog (`integrity.py`); `fsck.py` checks them and the store's
invariants. A store with data and no readable catalog is refused, never re-created.
"""

from fundtrail.store.lake import Store

__all__ = ["Store"]
