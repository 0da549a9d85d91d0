"""One chunk of the exposure passes: the engine's arithmetic over a chunk's transactions, seeded
with the vectors that cross the chunk's boundary (docs/spark.md, "Exposure").

`risk/exposure.py` walks the whole chain in one loop per direction; a value it reads is the one
written earlier in that loop, or zero. Here the loop runs over one chunk of transactions, in the same
order, with the same float64 accumulation and the same float32 stores, on a local array whose rows
are the chunk's own outputs followed by the outside outputs its inputs spend. The rows that another
chunk wrote before this one in the loop's order are seeded with the exact float32 vectors it wrote
(the "carry" rows); every other row starts at zero, as in the whole-chain loop. So every vector
stored is bit for bit the engine's: the chunk runs the engine's own kernels
(`risk.exposure.incoming_pass`/`outgoing_pass`, whose result array the caller gives, here seeded);
tests/spark compares the two indexes byte for byte.

Rows in (one table per chunk; `kind`): 0 a transaction (tx_id, coinbase), 1 an input (tx_id, n,
prev = spent output id or null, value and cat of the spent output), 2 an output (output_id, tx_id,
value, cat, spender = spending tx id or null), 3 a carry row (output_id, v0..v{k-1}). `cat` is the
output's address's exposure column (-1: untagged or no address). Rows out: (dest, output_id,
v0..v{k-1}); dest -1 is a result row of the index, dest d >= 0 a carry row for chunk d.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fundtrail.errors import DataError
from fundtrail.risk.exposure import incoming_pass, outgoing_pass

KIND_TX, KIND_IN, KIND_OUT, KIND_CARRY = 0, 1, 2, 3
RESULT = -1


def _rows(ch: Chunk) -> np.ndarray:
    """Each local output row as its own "address" (so the engine's `addr_cat[out_address[o]]` reads
    the row's category)."""
    return np.arange(ch.out_value.shape[0], dtype=np.int64)


def _np(col: pa.ChunkedArray, dtype: type, fill: int = -1) -> np.ndarray:
    if col.null_count:
        col = col.fill_null(fill)
    return np.asarray(col.to_numpy()).astype(dtype, copy=False)


@dataclass
class Chunk:
    """A chunk's transactions as local arrays: outputs 0..n_own-1 are its own (by output id), the
    rest the outside outputs its inputs spend (`ext_ids`, sorted)."""

    tx_first_out: np.ndarray
    tx_in_ptr: np.ndarray
    in_prev: np.ndarray  # local row, -1 unresolved
    out_value: np.ndarray
    out_cat: np.ndarray
    coinbase: np.ndarray
    own_ids: np.ndarray
    own_spender: np.ndarray
    ext_ids: np.ndarray
    carry_ids: np.ndarray
    carry: np.ndarray  # float32 (rows, k)

    @property
    def n_own(self) -> int:
        return int(self.own_ids.shape[0])

    def global_ids(self, rows: np.ndarray) -> np.ndarray:
        """Output ids of local rows."""
        ids = np.empty(rows.shape, np.int64)
        own = rows < self.n_own
        ids[own] = self.own_ids[rows[own]]
        ids[~own] = self.ext_ids[rows[~own] - self.n_own]
        return ids


def chunk_of_rows(rows: pa.Table, k: int) -> Chunk:
    """The local arrays of one chunk's rows (module docstring)."""
    kind = rows.column("kind").to_numpy(zero_copy_only=False)
    tx = rows.filter(pa.array(kind == KIND_TX)).sort_by("tx_id")
    ins = rows.filter(pa.array(kind == KIND_IN)).sort_by([("tx_id", "ascending"), ("n", "ascending")])
    outs = rows.filter(pa.array(kind == KIND_OUT)).sort_by("output_id")
    carry = rows.filter(pa.array(kind == KIND_CARRY)).sort_by("output_id")
    tx_id = _np(tx.column("tx_id"), np.int64)
    own_ids, own_tx = _np(outs.column("output_id"), np.int64), _np(outs.column("tx_id"), np.int64)
    if own_tx.size and np.any(np.diff(own_tx) < 0):
        raise DataError("output ids do not follow transaction ids in this chunk; the exposure passes need the "
                        "ingest's order (outputs numbered contiguously per transaction)")
    in_tx = _np(ins.column("tx_id"), np.int64)
    tx_first_out = np.append(np.searchsorted(own_tx, tx_id, side="left"), own_ids.size).astype(np.int64)
    tx_in_ptr = np.append(np.searchsorted(in_tx, tx_id, side="left"), in_tx.size).astype(np.int64)
    prev = _np(ins.column("prev"), np.int64)
    pos = np.searchsorted(own_ids, prev)
    own_hit = (pos < own_ids.size) & (own_ids[np.minimum(pos, max(own_ids.size - 1, 0))] == prev) \
        if own_ids.size else np.zeros(prev.shape, bool)
    ext = (prev >= 0) & ~own_hit
    ext_ids, first = np.unique(prev[ext], return_index=True)
    local = np.full(prev.shape, -1, np.int64)
    local[own_hit] = pos[own_hit]
    local[ext] = own_ids.size + np.searchsorted(ext_ids, prev[ext])
    in_value, in_cat = _np(ins.column("value"), np.int64, 0)[ext], _np(ins.column("cat"), np.int8)[ext]
    out_value = np.concatenate([_np(outs.column("value"), np.int64, 0), in_value[first]])
    out_cat = np.concatenate([_np(outs.column("cat"), np.int8), in_cat[first]])
    vec = np.zeros((carry.num_rows, k), np.float32)
    for i in range(k if carry.num_rows else 0):  # a chunk without carry rows has no v columns
        vec[:, i] = _np(carry.column(f"v{i}"), np.float32, 0)
    return Chunk(tx_first_out, tx_in_ptr, local, out_value, out_cat,
                 _np(tx.column("coinbase"), np.bool_, 0), own_ids, _np(outs.column("spender"), np.int64),
                 ext_ids, _np(carry.column("output_id"), np.int64), vec)


def _seed(arr: np.ndarray, ids: np.ndarray, base: int, ch: Chunk) -> None:
    """Copy the carry rows whose output id is in `ids` (sorted) into rows base + position."""
    if not ids.size or not ch.carry_ids.size:
        return
    pos = np.searchsorted(ids, ch.carry_ids)
    hit = (pos < ids.size) & (ids[np.minimum(pos, ids.size - 1)] == ch.carry_ids)
    arr[base + pos[hit]] = ch.carry[hit]


def _table(dest: np.ndarray, ids: np.ndarray, vec: np.ndarray, k: int) -> pa.Table:
    cols = {"dest": pa.array(dest, pa.int32()), "output_id": pa.array(ids, pa.int64())}
    cols.update({f"v{i}": pa.array(np.ascontiguousarray(vec[:, i]), pa.float32()) for i in range(k)})
    return pa.table(cols)


def empty_table(k: int) -> pa.Table:
    return _table(np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros((0, k), np.float32), k)


def incoming(ch: Chunk, chunk: int, chunk_txs: int, k: int) -> pa.Table:
    """Incoming vectors of the chunk's own outputs (result rows, those not all zero) and the carry
    rows for later chunks: untagged outputs spent there, not all zero."""
    inc = np.zeros((ch.out_value.shape[0], k), np.float32)
    _seed(inc, ch.ext_ids, ch.n_own, ch)
    # the engine's own pass: local rows stand for addresses, so `out_cat` is the address categories
    incoming_pass(ch.tx_first_out, ch.tx_in_ptr, ch.in_prev, ch.out_value, _rows(ch), ch.out_cat, ch.coinbase,
                  inc.shape[1], inc)
    own = inc[:ch.n_own]
    nz = own.any(axis=1)
    spent_in = np.where(ch.own_spender >= 0, ch.own_spender // chunk_txs, -1)
    fwd = nz & (ch.out_cat[:ch.n_own] < 0) & (spent_in > chunk)
    dest = np.concatenate([np.full(int(nz.sum()), RESULT, np.int32), spent_in[fwd].astype(np.int32)])
    ids = np.concatenate([ch.own_ids[nz], ch.own_ids[fwd]])
    return _table(dest, ids, np.concatenate([own[nz], own[fwd]]), k)


def outgoing(ch: Chunk, chunk: int, first_out: np.ndarray, first_chunk: np.ndarray, k: int) -> pa.Table:
    """Outgoing vectors of the outputs the chunk's inputs spend (result rows, not all zero) and the
    carry rows for earlier chunks: untagged outside outputs of an earlier chunk, not all zero.
    `first_out`/`first_chunk`: the first output id of each chunk that has outputs, ascending."""
    out = np.zeros((ch.out_value.shape[0], k), np.float32)
    _seed(out, ch.own_ids, 0, ch)
    outgoing_pass(ch.tx_first_out, ch.tx_in_ptr, ch.in_prev, ch.out_value, _rows(ch), ch.out_cat, ch.coinbase,
                  out.shape[1], out)
    rows = np.unique(ch.in_prev[ch.in_prev >= 0])
    rows = rows[out[rows].any(axis=1)]
    ids = ch.global_ids(rows)
    ext = rows >= ch.n_own
    owner = np.full(rows.shape, chunk, np.int64)
    if ext.any():
        owner[ext] = first_chunk[np.maximum(np.searchsorted(first_out, ids[ext], side="right") - 1, 0)]
    back = ext & (ch.out_cat[rows] < 0) & (owner < chunk)
    dest = np.concatenate([np.full(rows.size, RESULT, np.int32), owner[back].astype(np.int32)])
    return _table(dest, np.concatenate([ids, ids[back]]), np.concatenate([out[rows], out[rows[back]]]), k)
