"""The evidence stream of a run: union link batches, write the joining ones, keep only counters.

A full run over a large chain makes about one union per address (a billion for Bitcoin), so the
evidence is written to the run's Parquet file batch by batch and nothing per union stays in
memory: only counts, the guard's findings and the growth bookkeeping of the clusters touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fundtrail.cluster.guard import GuardLimits, large_joins, track_growth
from fundtrail.cluster.links import HEURISTIC_BY_CODE, LinkBatch
from fundtrail.cluster.snapshot import Snapshot
from fundtrail.cluster.txview import TxView
from fundtrail.cluster.unionfind import UnionFind
from fundtrail.errors import StoreError

SCHEMA = pa.schema([
    ("a", pa.int64()), ("b", pa.int64()), ("tx_id", pa.int64()), ("txid", pa.binary()),
    ("heuristic", pa.string()), ("confidence", pa.float32()), ("into", pa.int64()), ("absorbed", pa.int64()),
    ("into_size", pa.int64()), ("absorbed_size", pa.int64()),
])
_NAMES = np.array(HEURISTIC_BY_CODE, dtype=object)


def txids(snap: Snapshot, tx: np.ndarray) -> pa.Array:
    """Hashes of transactions (32 bytes as stored: internal order for UTXO chains), in `tx` order;
    one ranged query per batch rather than a chain-wide join."""
    col = "hash" if snap.family == "account" else "txid"
    want = np.unique(tx)
    snap.con.register("_want_tx", pa.table({"tx_id": pa.array(want, pa.int64())}))
    try:
        tbl = snap.con.sql(f"""SELECT t.tx_id, t.{col}::BLOB AS h FROM {snap.prefix}_transactions t
                               JOIN _want_tx w ON t.tx_id = w.tx_id
                               WHERE t.tx_id >= {int(want[0])} AND t.tx_id <= {int(want[-1])}
                               ORDER BY t.tx_id""").to_arrow_table()
    finally:
        snap.con.unregister("_want_tx")
    found = tbl.column(0).to_numpy()
    if found.size != want.size:
        raise StoreError(f"evidence transactions missing from chain {snap.chain}: the store is damaged")
    return tbl.column(1).combine_chunks().cast(pa.binary()).take(pa.array(np.searchsorted(found, tx)))


def _hashes(view: TxView, tx: np.ndarray) -> pa.Array:
    """Hashes of transactions `tx` (all in `view`), in `tx` order, as `txids` gives them."""
    pos = np.searchsorted(view.tx_id, tx)
    if np.any(pos >= len(view)) or np.any(view.tx_id[np.minimum(pos, len(view) - 1)] != tx):
        raise StoreError(f"evidence transactions {tx[:3].tolist()}... are not all in the loaded range")
    assert view.txid is not None  # callers use `txids` for a view loaded without hashes
    rows = np.ascontiguousarray(view.txid[pos])
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(tx), [None, pa.py_buffer(rows)]).cast(pa.binary())


class EvidenceSink:
    """Unions links into the union-find and streams the unions that joined two sets to `path`."""

    def __init__(self, uf: UnionFind, snap: Snapshot, path: Path, limits: GuardLimits, *,
                 growth: bool, touched: bool) -> None:
        self.uf, self.snap, self.path, self.limits = uf, snap, path, limits
        self.writer: pq.ParquetWriter | None = None
        self.n_links = 0
        self.n_unions = 0
        self.cluster_delta = 0  # multi-address clusters made minus merged away
        self.largest_join = 0
        self.large: list[tuple[int, int, int, int]] = []
        self.core: dict[int, int] | None = {} if growth else None
        self.touched: list[np.ndarray] | None = [] if touched else None
        # an incremental run's unions, for its journal file (a full run's could be a billion)
        self.unions: list[tuple[np.ndarray, np.ndarray]] | None = [] if growth else None

    def add(self, links: LinkBatch, view: TxView | None = None) -> None:
        """Union `links`; the hashes of their transactions come from `view` when it carries them
        (`load_txview(..., txids=True)`), else from the store."""
        if not len(links):
            return
        links = links.ordered()
        j = self.uf.union_edges(links.a, links.b)
        self.n_links += len(links)
        m = j.mask
        if not m.any():
            return
        tx = links.tx_id[m]
        both = (j.into_size >= 2).astype(np.int64) + (j.absorbed_size >= 2)
        self.n_unions += int(m.sum())
        self.cluster_delta += int((both == 0).sum()) - int((both == 2).sum())
        self.largest_join = max(self.largest_join, int((j.into_size + j.absorbed_size).max()))
        self.large.extend(large_joins(tx, j.into, j.absorbed, j.into_size, j.absorbed_size, self.limits))
        if self.core is not None:
            track_growth(self.core, j.into, j.absorbed, j.into_size, j.absorbed_size)
        if self.touched is not None:
            self.touched.append(np.unique(j.into))
        if self.unions is not None:
            self.unions.append((links.a[m], links.b[m]))
        self._write(pa.table([
            pa.array(links.a[m]), pa.array(links.b[m]), pa.array(tx), _hashes(view, tx) if view is not None
            and view.txid is not None else txids(self.snap, tx),
            pa.array(_NAMES[links.heuristic[m]].tolist(), pa.string()), pa.array(links.confidence[m]),
            pa.array(j.into), pa.array(j.absorbed), pa.array(j.into_size), pa.array(j.absorbed_size),
        ], schema=SCHEMA))

    def _write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, SCHEMA, compression="zstd")
        self.writer.write_table(table)

    def close(self) -> None:
        """Finish the file (an empty one when no union joined anything)."""
        if self.writer is None:
            self._write(SCHEMA.empty_table())
        assert self.writer is not None  # opened by _write
        self.writer.close()

    def union_pairs(self) -> np.ndarray | None:
        """(2, n) endpoints of this run's unions in order (incremental runs; None otherwise)."""
        if self.unions is None:
            return None
        if not self.unions:
            return np.zeros((2, 0), np.int64)
        return np.stack([np.concatenate([a for a, _ in self.unions]),
                         np.concatenate([b for _, b in self.unions])]).astype(np.int64)

    def touched_roots(self) -> np.ndarray:
        """Current cluster ids of the clusters this run's unions touched."""
        if not self.touched:
            return np.zeros(0, np.int64)
        return np.unique(self.uf.find(np.concatenate(self.touched)))
