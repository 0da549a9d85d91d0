"""Building the account graph index's arrays (`trace.account_graph`) within a memory budget.

As `graph_build` does for the UTXO index, and with its helpers: every array proportional to the
chain comes from a `store.spill.Spill` (in memory while it fits the budget, else memory-mapped in
place in the index's staging directory), the old index's arrays are copied a chunk at a time, the
store is read in chunks sized to the budget, and the lookup keys and address -> events lists are
made in passes (`sorted_keys`, `address_lists`). Sizes are counted first, so every array is
allocated once at its final size and written in place.

A chunk of transfers ends at a block boundary: the index orders a block's transfers by
transaction, which their ids do not (the ingest numbers a block's internal and token transfers
after all of its transactions' own value and fees), so each block is sorted whole. Without a limit
every pass is one pass: the arrays are those of the in-memory build, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fundtrail.errors import StoreError
from fundtrail.store.lake import Store
from fundtrail.store.spill import Spill
from fundtrail.store.tables import fixed_numpy, hash32_numpy
from fundtrail.trace.graph_build import (Progress, address_lists, column_numpy, copy_chunked, cumsum_chunked,
                                         sorted_keys)

if TYPE_CHECKING:
    from fundtrail.trace.account_graph import AccountGraph

#: transfers.kind codes the index keeps: fungible value (native, internal, erc20, withdrawal, fee, reward)
VALUE_KINDS = (0, 1, 2, 5, 6, 7)
#: At most this many transfers per read, whatever the budget (the unbounded build's chunk).
CHUNK_TRANSFERS = 500_000
#: Bytes of temporaries per transfer read (the Arrow row with its amount and trace, numpy copies).
TRANSFER_ROW_BYTES = 512
#: Bytes of temporaries per address or transaction read (its bytes in Arrow and numpy, id, block, time).
ROW_BYTES = 160
#: The smallest amount kept in the side table (big_pos/big_raw), as a 32-byte big-endian amount_raw.
_BIG = (1 << 128).to_bytes(32, "big")
#: Event columns read from the store: (index array, store column, dtype); then ev_lo, ev_hi.
_COLUMNS = (("ev_transfer", "transfer_id", np.int64), ("ev_from", "from_id", np.int64),
            ("ev_to", "to_id", np.int64), ("ev_asset", "asset_id", np.int64), ("ev_kind", "kind", np.uint8),
            ("ev_block", "block_number", np.int64), ("ev_time", "block_time", np.int64),
            ("ev_tx", "tx_id", np.int64), ("ev_log", "log_index", np.int32), ("ev_batch", "batch_index", np.int32))
EVENT_DTYPES: dict[str, Any] = {**{c[0]: c[2] for c in _COLUMNS}, "ev_lo": np.uint64, "ev_hi": np.uint64}

NewArray = Callable[..., np.ndarray]


def build_account_arrays(store: Store, chain: str, old: AccountGraph | None, old_state: dict | None,
                         progress: Progress | None, sp: Spill, out: Path) -> dict[str, np.ndarray]:
    """Arrays of the whole chain: `old`'s (copied) plus the rows the store has beyond them, each
    placed by `sp` (spilled ones at `out/<name>.npy`)."""
    p = chain.replace("-", "_")
    last = old_state["batches"][-1] if old_state and old_state["batches"] else (0, 0, 0, 0, None)
    t0, tr0, a0 = (last[1], last[2], last[3]) if old is not None else (0, 0, 0)

    def new(name: str, shape: int | tuple[int, ...], dtype: Any, fill: Any = None) -> np.ndarray:
        return sp.array(name, shape, dtype, fill, path=out / f"{name}.npy")

    with store.query() as con:
        if progress:
            progress("addresses", 0, 1)
        arr = {"addr_bytes": _read_addresses(con, p, old, a0, sp, new)}
        arr.update(_read_transfers(con, chain, old, tr0, arr["addr_bytes"], sp, new, progress))
        arr.update(_read_transactions(con, p, old, t0, sp, new))
    return derive(arr, sp, new)


def derive(arr: dict[str, np.ndarray], sp: Spill, new: NewArray) -> dict[str, np.ndarray]:
    """Add the lookup keys and adjacency arrays computed from the event, address and tx columns:
    keys big-endian (`AccountGraph.find_address`), an event listed under its sender and its
    receiver (a self-transfer once), in execution order."""
    arr.update(sorted_keys(arr["addr_bytes"], sp, new, ("addr_key", "addr_key_ids"), byteorder=">"))
    arr.update(address_lists((arr["ev_from"], arr["ev_to"]), arr["addr_bytes"].shape[0], sp, new,
                             ("addr_ptr", "addr_events")))
    arr.update(_tx_events(arr["ev_tx"], arr["tx_block"].shape[0], sp, new))
    arr.update(sorted_keys(arr["tx_hash"], sp, new, ("tx_key", "tx_key_ids"), byteorder=">"))
    return arr


def _one(con: Any, sql: str, params: list) -> tuple:
    return tuple(int(x or 0) for x in con.execute(sql, params).fetchall()[0])


def _limbs(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low 64 bits, high 64 bits, mask of amounts >= 2**128) of (n, 32) big-endian amounts."""
    lo = raw[:, 24:32].copy().view(">u8").ravel().astype(np.uint64)
    hi = raw[:, 16:24].copy().view(">u8").ravel().astype(np.uint64)
    return lo, hi, np.asarray(raw[:, :16].any(axis=1))


def _read_addresses(con: Any, p: str, old: AccountGraph | None, a0: int, sp: Spill, new: NewArray) -> np.ndarray:
    """addr_bytes: the old index's, then the store's addresses from id `a0` on (by id ranges)."""
    rows = sp.rows(ROW_BYTES)
    base = old.n_addresses if old is not None else 0
    (a1,) = _one(con, f"SELECT max(address_id) + 1 FROM {p}_addresses WHERE address_id >= ?", [a0])
    a1 = max(a0, a1)
    addr = new("addr_bytes", (base + a1 - a0, 20), np.uint8, 0)
    if old is not None:
        copy_chunked(addr, old.arrays["addr_bytes"], rows)
    for lo in range(a0, a1, rows):
        tbl = con.sql(f"SELECT address_id, address FROM {p}_addresses WHERE address_id >= ? AND address_id < ?",
                      params=[lo, lo + rows]).to_arrow_table()
        if tbl.num_rows:
            addr[base + column_numpy(tbl, "address_id", np.int64) - a0] = fixed_numpy(tbl.column("address"), 20)
    return addr


def _zero_address(addr_bytes: np.ndarray, rows: int) -> int:
    """Id of the zero address (the first all-zero row), or -1."""
    for s in range(0, addr_bytes.shape[0], rows):
        z = np.flatnonzero(~np.asarray(addr_bytes[s:s + rows]).any(axis=1))
        if z.size:
            return s + int(z[0])
    return -1


def _read_transfers(con: Any, chain: str, old: AccountGraph | None, tr0: int, addr_bytes: np.ndarray, sp: Spill,
                    new: NewArray, progress: Progress | None) -> dict[str, np.ndarray]:
    """The event columns, trace addresses and big amounts: the old index's, then the value
    transfers from id `tr0` on in execution order, a chunk of whole blocks at a time."""
    p = chain.replace("-", "_")
    value = f"success AND kind IN ({', '.join(str(k) for k in VALUE_KINDS)})"
    (tr1,) = _one(con, f"SELECT max(transfer_id) + 1 FROM {p}_transfers", [])
    tr1 = max(tr0, tr1)
    n_new, n_trace, n_big = _one(con, f"""SELECT count(*), sum(len(trace_address)),
                                                count(*) FILTER (WHERE amount_raw >= ?) FROM {p}_transfers
                                         WHERE transfer_id >= ? AND transfer_id < ? AND {value}""",
                                 [_BIG, tr0, tr1])
    e0 = old.n_events if old is not None else 0
    t_old = int(old.arrays["ev_trace"].shape[0]) if old is not None else 0
    b_old = int(old.arrays["big_pos"].shape[0]) if old is not None else 0
    rows = min(CHUNK_TRANSFERS, sp.rows(TRANSFER_ROW_BYTES))
    ev = {name: new(name, e0 + n_new, dtype) for name, dtype in EVENT_DTYPES.items()}
    ev["ev_trace_ptr"] = new("ev_trace_ptr", e0 + n_new + 1, np.int64, 0)  # lengths at [e0+1:] until the cumsum
    ev["ev_trace"] = new("ev_trace", t_old + n_trace, np.int32)
    ev["big_pos"] = new("big_pos", b_old + n_big, np.int64)
    ev["big_raw"] = new("big_raw", (b_old + n_big, 32), np.uint8)
    if old is not None:
        for name in (*EVENT_DTYPES, "ev_trace", "big_pos", "big_raw"):
            copy_chunked(ev[name], old.arrays[name], rows)
        copy_chunked(ev["ev_trace_ptr"], old.arrays["ev_trace_ptr"], rows)
    zero = _zero_address(addr_bytes, sp.rows(20, share=16))
    top = -1  # the largest address id the new transfers name
    e, tc, bc = e0, t_old, b_old
    lo, span = tr0, rows
    while lo < tr1:
        hi = min(lo + span, tr1)
        if progress:
            progress("transfers", lo - tr0, tr1 - tr0)
        tbl = con.sql(
            f"""SELECT transfer_id, from_id, to_id, asset_id, kind, block_number, block_time, tx_id, log_index,
                       batch_index, amount_raw, trace_address, coalesce(len(trace_address), 0) AS trace_len
                FROM {p}_transfers WHERE transfer_id >= ? AND transfer_id < ? AND {value}
                ORDER BY block_number, tx_id NULLS LAST, transfer_id""", params=[lo, hi]).to_arrow_table()
        nxt = hi
        if hi < tr1 and tbl.num_rows:  # the last block may go on past `hi`: read it again with the next chunk
            block = column_numpy(tbl, "block_number", np.int64)
            cut = int(np.searchsorted(block, block[-1]))
            if cut == 0:  # one block fills the chunk: read it whole
                span *= 2
                continue
            nxt = int(column_numpy(tbl, "transfer_id", np.int64)[cut:].min())
            tbl = tbl.slice(0, cut)
        m = tbl.num_rows
        if e + m > e0 + n_new:
            raise StoreError(f"account graph of {chain}: more transfers read than counted",
                             hint="run `fundtrail graph build --full`")
        for name, column, dtype in _COLUMNS:
            v = column_numpy(tbl, column, dtype)
            if name in ("ev_from", "ev_to", "ev_asset"):
                top = max(top, int(v.max(initial=-1)))
            if name in ("ev_from", "ev_to") and zero >= 0:  # the zero address is no one: mints, burns
                v = np.where(v == zero, -1, v)
            ev[name][e:e + m] = v
        raw = hash32_numpy(tbl.column("amount_raw")) if m else np.zeros((0, 32), np.uint8)
        ev["ev_lo"][e:e + m], ev["ev_hi"][e:e + m], big = _limbs(raw)
        b = np.flatnonzero(big)
        ev["big_pos"][bc:bc + b.size], ev["big_raw"][bc:bc + b.size] = b + e, raw[b]
        ev["ev_trace_ptr"][e + 1:e + m + 1] = column_numpy(tbl, "trace_len", np.int64)
        flat = tbl.column("trace_address").combine_chunks().flatten()
        trace = flat.fill_null(0).to_numpy().astype(np.int32) if len(flat) else np.zeros(0, np.int32)
        ev["ev_trace"][tc:tc + trace.shape[0]] = trace
        e, tc, bc = e + m, tc + trace.shape[0], bc + b.size
        lo, span = nxt, rows
    if (e, tc, bc) != (e0 + n_new, ev["ev_trace"].shape[0], ev["big_pos"].shape[0]):
        raise StoreError(f"account graph of {chain}: {e - e0} transfers read, {n_new} counted",
                         hint="run `fundtrail graph build --full`")
    cumsum_chunked(ev["ev_trace_ptr"][e0:], rows)
    if top >= addr_bytes.shape[0]:
        raise StoreError(f"account graph of {chain}: transfers name address id {top} but the store "
                         f"lists {addr_bytes.shape[0]} addresses", hint="run `fundtrail graph build --full`")
    return ev


def _read_transactions(con: Any, p: str, old: AccountGraph | None, t0: int, sp: Spill,
                       new: NewArray) -> dict[str, np.ndarray]:
    """tx_hash, tx_block, tx_time: the old index's, then the store's transactions from id `t0` on."""
    rows = sp.rows(ROW_BYTES)
    base = old.n_tx if old is not None else 0
    n_new, t1 = _one(con, f"SELECT count(*), max(tx_id) + 1 FROM {p}_transactions WHERE tx_id >= ?", [t0])
    arr = {"tx_hash": new("tx_hash", (base + n_new, 32), np.uint8), "tx_block": new("tx_block", base + n_new, np.int64),
           "tx_time": new("tx_time", base + n_new, np.int64)}
    if old is not None:
        for name, a in arr.items():
            copy_chunked(a, old.arrays[name], rows)
    cur = base
    for lo in range(t0, t1, rows):
        tbl = con.sql(f"""SELECT hash, block_number, block_time FROM {p}_transactions
                          WHERE tx_id >= ? AND tx_id < ? ORDER BY tx_id""", params=[lo, lo + rows]).to_arrow_table()
        m = tbl.num_rows
        if not m:
            continue
        if cur + m > base + n_new:
            raise StoreError(f"account graph of {p}: more transactions read than counted",
                             hint="run `fundtrail graph build --full`")
        arr["tx_hash"][cur:cur + m] = hash32_numpy(tbl.column("hash"))
        arr["tx_block"][cur:cur + m] = column_numpy(tbl, "block_number", np.int64)
        arr["tx_time"][cur:cur + m] = column_numpy(tbl, "block_time", np.int64, 0)
        cur += m
    if cur != base + n_new:
        raise StoreError(f"account graph of {p}: {cur - base} transactions read, {n_new} counted",
                         hint="run `fundtrail graph build --full`")
    return arr


def _tx_events(ev_tx: np.ndarray, n_tx: int, sp: Spill, new: NewArray) -> dict[str, np.ndarray]:
    """Each transaction's first event and event count (its events are contiguous), in one scan."""
    start, count = new("tx_ev_start", n_tx, np.int64, 0), new("tx_ev_count", n_tx, np.int64, 0)
    rows = sp.rows(48)
    for s in range(0, ev_tx.shape[0], rows):
        chunk = np.asarray(ev_tx[s:s + rows])
        has = chunk >= 0
        ids, n = np.unique(chunk[has], return_counts=True)
        count[ids] += n
        change = np.ones(chunk.shape[0], bool)
        change[1:] = chunk[1:] != chunk[:-1]
        if s:
            change[0] = chunk[0] != ev_tx[s - 1]
        first = np.flatnonzero(has & change)
        start[chunk[first]] = first + s
    return {"tx_ev_start": start, "tx_ev_count": count}
