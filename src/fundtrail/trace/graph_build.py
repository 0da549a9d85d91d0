"""Building the graph index's arrays (`trace.graph`) within a memory budget.

Every array is allocated through a `store.spill.Spill`: in memory while it fits the budget, else
memory-mapped in place in the index's staging directory, so an array too large for memory is
written once, straight to its final file. The store is read in chunks of transactions and of
address ids sized to the budget, and the three sorted arrays are made in passes over key ranges:

- the address fingerprints, by ranges of `fp1` (a hash, so ranges hold about equal shares);
- the txid keys, by ranges of the key;
- the address -> outputs lists (a counting sort), by ranges of address ids holding about equal
  shares of the outputs (counted first; an address with more than a share is a pass alone).

Each pass sorts only its range in memory and appends it, so the result is the one sort of the
whole array gives (ties broken by id, as the in-memory sort did by scan order). Without a limit
every pass is one pass and every chunk one chunk: the arrays are those of the unbounded build.
The account index (`account_graph_build`) uses the same helpers (`sorted_keys`, `address_lists`,
`copy_chunked`, `cumsum_chunked`).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from fundtrail.errors import StoreError
from fundtrail.store.lake import Store
from fundtrail.store.partitions import FILE_MODE
from fundtrail.store.spill import MIN_ROWS, Spill
from fundtrail.store.tables import hash32_numpy

if TYPE_CHECKING:
    from fundtrail.trace.graph import GraphIndex

Progress = Callable[[str, int, int], None]
#: At most this many transactions per read, whatever the budget (the unbounded build's chunk).
CHUNK_TXS = 1_000_000
#: Bytes of temporaries per transaction read (its row, ~2 outputs and ~2 inputs, numpy copies).
TX_ROW_BYTES = 480
#: Bytes per address read (script, payload length; the payload bytes; fingerprints and sorting).
ADDR_ROW_BYTES = 160
#: Bytes per element sorted in a pass (key, id, the argsort and the gathered copies).
SORT_ROW_BYTES = 64


def column_numpy(tbl: Any, name: str, dtype: Any, fill: int = -1) -> np.ndarray:
    """A table column as a numpy array of `dtype`, nulls replaced by `fill`."""
    col = tbl.column(name)
    if col.null_count:
        col = col.fill_null(fill)
    return col.to_numpy().astype(dtype, copy=False)


def copy_chunked(dst: np.ndarray, src: np.ndarray, rows: int) -> None:
    """dst[:len(src)] = src, a chunk at a time (neither side need be resident)."""
    n = src.shape[0]
    for lo in range(0, n, rows):
        dst[lo:min(lo + rows, n)] = src[lo:min(lo + rows, n)]


def cumsum_chunked(ptr: np.ndarray, rows: int) -> None:
    """In place: counts in ptr[1:] (ptr[0] = 0) become offsets, a chunk at a time."""
    carry = 0
    for lo in range(0, ptr.shape[0], rows):
        seg = ptr[lo:lo + rows]
        np.cumsum(seg, out=seg)
        seg += carry
        carry = int(seg[-1])


def _suffix_min(arr: np.ndarray, rows: int) -> None:
    """In place: arr[i] = min(arr[i:]), a chunk at a time from the end."""
    carry: int | None = None
    for hi in range(arr.shape[0], 0, -rows):
        seg = arr[max(0, hi - rows):hi]
        np.minimum.accumulate(seg[::-1], out=seg[::-1])
        if carry is not None:
            np.minimum(seg, carry, out=seg)
        carry = int(seg[0])


def build_arrays(store: Store, chain: str, old: GraphIndex | None, progress: Progress | None,
                 sp: Spill, out: Path) -> dict[str, np.ndarray]:
    """Arrays of the whole chain: `old`'s (copied) plus the rows the store has beyond them, each
    placed by `sp` (spilled ones at `out/<name>.npy`)."""
    p = chain.replace("-", "_")
    t0 = old.n_tx if old is not None else 0
    a0 = old.n_addresses if old is not None else 0
    o0 = old.n_outputs if old is not None else 0
    i0 = int(old.in_prev.shape[0]) if old is not None else 0

    def new(name: str, shape: int | tuple[int, ...], dtype: Any, fill: Any = None) -> np.ndarray:
        return sp.array(name, shape, dtype, fill, path=out / f"{name}.npy")

    rows = min(CHUNK_TXS, sp.rows(TX_ROW_BYTES))
    with store.query() as con:
        def one(sql: str, params: list | None = None) -> int:
            return int(con.execute(sql, params or []).fetchall()[0][0] or 0)

        t1 = max(t0, one(f"SELECT coalesce(max(tx_id) + 1, 0) FROM {p}_transactions"))
        o1 = max(o0, one(f"SELECT coalesce(max(output_id) + 1, 0) FROM {p}_outputs"))
        a1 = max(a0, one(f"SELECT coalesce(max(address_id) + 1, 0) FROM {p}_addresses"))
        i1 = i0 + one(f"SELECT count(*) FROM {p}_inputs WHERE tx_id >= ?", [t0])
        arr = {"tx_first_out": new("tx_first_out", t1 + 1, np.int64),
               "tx_in_ptr": new("tx_in_ptr", t1 + 1, np.int64, 0),  # counts at [1:] until the end
               "tx_time": new("tx_time", t1, np.int64, 0), "tx_height": new("tx_height", t1, np.int64, -1),
               "tx_coinbase": new("tx_coinbase", t1, np.uint8, 0), "txid": new("txid", (t1, 32), np.uint8, 0),
               "in_prev": new("in_prev", i1, np.int64), "out_value": new("out_value", o1, np.int64, 0),
               "out_address": new("out_address", o1, np.int64, -1),
               "out_spent_by": new("out_spent_by", o1, np.int64, -1)}
        if old is not None:
            for name in ("tx_time", "tx_height", "tx_coinbase", "txid", "in_prev", "out_value", "out_address",
                         "out_spent_by"):
                copy_chunked(arr[name], getattr(old, name), rows)
            copy_chunked(arr["tx_first_out"], old.tx_first_out[:t0], rows)
            copy_chunked(arr["tx_in_ptr"], old.tx_in_ptr[:t0 + 1], rows)  # offsets: counts from t0 on
        _read_transactions(con, p, arr, t0, t1, i0, o1, rows, progress)
        if old is not None:
            _late_links(con, p, arr, t0)
        if progress:
            progress("addresses", 0, a1 - a0)
        arr.update(_read_addresses(con, p, old, a0, a1, sp, new))
        arr.update(_fingerprints(con, p, a1, sp, new))
    arr.update(sorted_keys(arr["txid"], sp, new))
    arr.update(address_lists((arr["out_address"],), a1, sp, new))
    return arr


def _read_transactions(con: Any, p: str, arr: dict[str, np.ndarray], t0: int, t1: int, i0: int, o1: int,
                       rows: int, progress: Progress | None) -> None:
    """Transactions, outputs and inputs from `t0` on, a chunk of transactions at a time."""
    tx_first_out, tx_in_ptr, in_prev = arr["tx_first_out"], arr["tx_in_ptr"], arr["in_prev"]
    out_spent_by = arr["out_spent_by"]
    for lo in range(t0, t1 + 1, rows):
        tx_first_out[lo:min(lo + rows, t1 + 1)] = o1
    if t0 == 0:
        tx_in_ptr[0] = 0
    cursor = i0
    for lo in range(t0, t1, rows):
        hi = min(lo + rows, t1)
        if progress:
            progress("transactions", lo - t0, t1 - t0)
        tx = con.sql(
            f"""SELECT t.tx_id, t.txid, t.first_output_id, t.input_count, coalesce(b.time, 0) AS time,
                       coalesce(t.block_height, -1) AS height, t.is_coinbase
                FROM {p}_transactions t LEFT JOIN {p}_blocks b ON t.block_id = b.block_id
                WHERE t.tx_id >= ? AND t.tx_id < ?""", params=[lo, hi]).to_arrow_table()
        ids = column_numpy(tx, "tx_id", np.int64)
        tx_first_out[ids] = column_numpy(tx, "first_output_id", np.int64)
        tx_in_ptr[ids + 1] = column_numpy(tx, "input_count", np.int64, 0)
        arr["tx_coinbase"][ids] = column_numpy(tx, "is_coinbase", np.uint8, 0)
        arr["tx_time"][ids] = column_numpy(tx, "time", np.int64, 0)
        arr["tx_height"][ids] = column_numpy(tx, "height", np.int64)
        arr["txid"][ids] = hash32_numpy(tx.column("txid"))
        del tx, ids
        outs = con.sql(f"""SELECT output_id, value, address_id FROM {p}_outputs
                           WHERE tx_id >= ? AND tx_id < ?""", params=[lo, hi]).to_arrow_table()
        oid = column_numpy(outs, "output_id", np.int64)
        arr["out_value"][oid] = column_numpy(outs, "value", np.int64, 0)
        arr["out_address"][oid] = column_numpy(outs, "address_id", np.int64)
        del outs, oid
        ins = con.sql(f"""SELECT tx_id, prev_output_id FROM {p}_inputs
                          WHERE tx_id >= ? AND tx_id < ? ORDER BY tx_id, n""", params=[lo, hi]).to_arrow_table()
        prev = column_numpy(ins, "prev_output_id", np.int64)
        if cursor + prev.shape[0] > in_prev.shape[0]:
            raise StoreError(f"graph index of {p}: more inputs read than counted",
                             hint="run `fundtrail graph build --full`")
        in_prev[cursor:cursor + prev.shape[0]] = prev
        cursor += prev.shape[0]
        spender = column_numpy(ins, "tx_id", np.int64)
        ok = prev >= 0
        out_spent_by[prev[ok]] = spender[ok]
    # Output ids are contiguous per tx: an empty tx_first_out slot (no outputs rows) keeps order.
    _suffix_min(tx_first_out, rows)
    cumsum_chunked(tx_in_ptr[t0:], rows)
    if cursor != in_prev.shape[0] or int(tx_in_ptr[-1]) != in_prev.shape[0]:
        raise StoreError(f"graph index of {p}: {cursor} inputs read but the transactions count "
                         f"{int(tx_in_ptr[-1])}", hint="run `fundtrail graph build --full`")


def _late_links(con: Any, p: str, arr: dict[str, np.ndarray], t0: int) -> None:
    """Inputs of old transactions resolved late (input_links) since the last update."""
    links = con.sql(f"SELECT tx_id, n, prev_output_id FROM {p}__input_links WHERE tx_id < ?",
                    params=[t0]).to_arrow_table()
    lt, ln = column_numpy(links, "tx_id", np.int64), column_numpy(links, "n", np.int64)
    lp = column_numpy(links, "prev_output_id", np.int64)
    arr["in_prev"][arr["tx_in_ptr"][lt] + ln] = lp
    arr["out_spent_by"][lp[lp >= 0]] = lt[lp >= 0]


def _read_addresses(con: Any, p: str, old: GraphIndex | None, a0: int, a1: int, sp: Spill,
                    new: Callable[..., np.ndarray]) -> dict[str, np.ndarray]:
    """Script types and payloads of addresses (two passes over new ids: lengths, then bytes)."""
    rows = sp.rows(ADDR_ROW_BYTES)
    script = new("addr_script", a1, np.uint8, 0)
    ptr = new("addr_payload_ptr", a1 + 1, np.int64, 0)  # lengths at [1:] until the cumsum
    if old is not None:
        copy_chunked(script, old.addr_script, rows)
        copy_chunked(ptr, old.addr_payload_ptr, rows)
    for lo in range(a0, a1, rows):
        tbl = con.sql(f"""SELECT address_id, script_type, octet_length(payload) AS n FROM {p}_addresses
                          WHERE address_id >= ? AND address_id < ?""", params=[lo, lo + rows]).to_arrow_table()
        aid = column_numpy(tbl, "address_id", np.int64)
        script[aid] = column_numpy(tbl, "script_type", np.uint8, 0)
        ptr[aid + 1] = column_numpy(tbl, "n", np.int64, 0)
    cumsum_chunked(ptr[a0:], rows)
    payload = new("addr_payload", int(ptr[-1]), np.uint8, 0)
    if old is not None:
        copy_chunked(payload, old.addr_payload, rows * 16)
    for lo in range(a0, a1, rows):
        tbl = con.sql(f"""SELECT address_id, payload FROM {p}_addresses WHERE address_id >= ? AND address_id < ?
                          ORDER BY address_id""", params=[lo, lo + rows]).to_arrow_table()
        aid = column_numpy(tbl, "address_id", np.int64)
        pay = tbl.column("payload").combine_chunks()
        if not len(pay):
            continue
        offsets = np.frombuffer(pay.buffers()[1], np.int32)[pay.offset:pay.offset + len(pay) + 1]
        raw = np.frombuffer(pay.buffers()[2], np.uint8)
        if np.array_equal(aid, np.arange(aid[0], aid[0] + aid.size)):
            dst = int(ptr[aid[0]])  # dense ids: one copy
            payload[dst:dst + int(offsets[-1] - offsets[0])] = raw[offsets[0]:offsets[-1]]
        else:
            for j, a in enumerate(aid):  # gaps in the ids (never seen from the ingest): per address
                s, e = offsets[j], offsets[j + 1]
                dst = int(ptr[a])
                payload[dst:dst + (e - s)] = raw[s:e]
    return {"addr_script": script, "addr_payload_ptr": ptr, "addr_payload": payload}


def _passes(n: int, sp: Spill) -> int:
    return max(1, math.ceil(n / sp.rows(SORT_ROW_BYTES, share=4)))


def _fingerprints(con: Any, p: str, a1: int, sp: Spill,
                  new: Callable[..., np.ndarray]) -> dict[str, np.ndarray]:
    """Every address's (fp1, fp2, id) sorted by fingerprint, in passes over ranges of fp1."""
    n = int(con.execute(f"SELECT count(*) FROM {p}_addresses").fetchall()[0][0])
    fp1_out, fp2_out = new("addr_fp1", n, np.uint64), new("addr_fp2", n, np.uint64)
    ids_out = new("addr_fp_ids", n, np.int64)
    k = _passes(n, sp)
    cur = 0
    for i in range(k):
        lo, hi = (i << 64) // k, ((i + 1) << 64) // k - 1
        where = "" if k == 1 else f"WHERE coalesce(fp1, 0) >= {lo} AND coalesce(fp1, 0) <= {hi}"
        tbl = con.sql(f"SELECT fp1, fp2, address_id FROM {p}_addresses {where}").to_arrow_table()
        fp1, fp2 = column_numpy(tbl, "fp1", np.uint64, 0), column_numpy(tbl, "fp2", np.uint64, 0)
        ids = column_numpy(tbl, "address_id", np.int64)
        del tbl
        order = np.lexsort((ids, fp2, fp1))
        m = order.shape[0]
        fp1_out[cur:cur + m], fp2_out[cur:cur + m], ids_out[cur:cur + m] = fp1[order], fp2[order], ids[order]
        cur += m
    if cur != n:
        raise StoreError(f"graph index of {p}: {cur} address fingerprints read, {n} addresses counted",
                         hint="run `fundtrail graph build --full`")
    return {"addr_fp1": fp1_out, "addr_fp2": fp2_out, "addr_fp_ids": ids_out}


def sorted_keys(table: np.ndarray, sp: Spill, new: Callable[..., np.ndarray],
                names: tuple[str, str] = ("tx_key", "tx_key_ids"), byteorder: str = "<") -> dict[str, np.ndarray]:
    """The first 8 bytes of every row of `table` (n x width bytes) read as an unsigned integer in
    `byteorder` ("<" txids, ">" the account index's hashes and addresses), sorted, ids in id order
    among equal keys: lookup keys for a binary search. Under a budget the keys are cut into ranges
    of a pass's share, written to a file per range in one scan of the table and each sorted."""
    t = table.shape[0]
    keys_out, ids_out = new(names[0], t, "<u8"), new(names[1], t, np.int64)
    k, rows = _passes(t, sp), sp.rows(48)

    def keys(s: int) -> np.ndarray:
        key = np.ascontiguousarray(table[s:s + rows, :8]).view(byteorder + "u8").ravel()
        return key.astype(np.uint64, copy=False)

    if k == 1:
        key = np.concatenate([keys(s) for s in range(0, t, rows)] + [np.zeros(0, np.uint64)])
        order = np.argsort(key, kind="stable")
        keys_out[:t], ids_out[:t] = key[order], order
        return {names[0]: keys_out, names[1]: ids_out}
    # k key ranges: one scan appends each chunk's (key, id) to a file per range (16 B a row, in id
    # order), then each file is sorted into place (stable: ids in id order among equal keys)
    starts = np.array([(i << 64) // k for i in range(k)], np.uint64)
    cur = 0
    for g in range(0, k, MAX_BUCKETS):
        with _bucket_files(sp, "keys", g, min(MAX_BUCKETS, k - g)) as (paths, files):
            for s in range(0, t, rows):
                key = keys(s)
                which = np.searchsorted(starts, key, side="right").astype(np.int64) - 1 - g
                sel = np.flatnonzero((which >= 0) & (which < len(paths)))
                _append_by_file(files, which[sel], key[sel], (sel + s).astype(np.uint64), np.uint64)
        for path in paths:
            row = np.fromfile(path, np.uint64).reshape(-1, 2)
            order = np.argsort(row[:, 0], kind="stable")
            m = order.shape[0]
            keys_out[cur:cur + m], ids_out[cur:cur + m] = row[order, 0], row[order, 1].astype(np.int64)
            cur += m
            del row, order
            path.unlink()
    if cur != t:
        raise StoreError(f"graph index: {cur} keys sorted of {t}", hint="run `fundtrail graph build --full`")
    return {names[0]: keys_out, names[1]: ids_out}


def address_lists(owners: Sequence[np.ndarray], a1: int, sp: Spill, new: Callable[..., np.ndarray],
                  names: tuple[str, str] = ("addr_ptr", "addr_outs")) -> dict[str, np.ndarray]:
    """address -> positions CSR (`names`: offsets, positions). Position i is listed under
    `owners[j][i]` for each column j where that is an address id (>= 0) no earlier column names at
    i (a self-transfer once); an address's positions in increasing order.

    Counted in scans over address id ranges whose counts fit the budget, then filled in passes
    over ranges holding at most a budget's share of entries (sorted in memory); an address with
    more entries than that alone (a hub: an exchange, a block producer) is streamed in scan order.
    """
    m = owners[0].shape[0]
    rows = sp.rows(8 * (len(owners) + 2))

    def entries(s: int, alo: int, ahi: int, n: int = rows) -> tuple[np.ndarray, np.ndarray]:
        """(owner, position) of positions s..s+n (a chunk) listed under an address in [alo, ahi)."""
        cols = [c[s:s + n] for c in owners]
        got_a, got_p = [], []
        for j, col in enumerate(cols):
            keep = (col >= alo) & (col < ahi)
            for prev in cols[:j]:
                keep &= col != prev
            sel = np.flatnonzero(keep)
            got_a.append(col[sel])
            got_p.append(sel + s)
        if len(cols) == 1:
            return got_a[0], got_p[0]
        return np.concatenate(got_a), np.concatenate(got_p)

    ptr = new(names[0], a1 + 1, np.int64, 0)  # counts at [1:] until the cumsum
    width = sp.rows(8, share=8)
    beyond = 0
    for alo in range(0, max(a1, 1), width):
        ahi = min(alo + width, a1)
        counts = np.zeros(ahi - alo, np.int64)
        for s in range(0, m, rows):
            counts += np.bincount(entries(s, alo, ahi)[0] - alo, minlength=ahi - alo)
            if alo == 0:
                beyond += entries(s, a1, np.iinfo(np.int64).max)[0].shape[0]
        ptr[alo + 1:ahi + 1] = counts
    if beyond:
        raise StoreError(f"graph index: {beyond} entries name address ids beyond the last address",
                         hint="run `fundtrail fsck`")
    cumsum_chunked(ptr, rows)
    outs = new(names[1], int(ptr[-1]), np.int64)
    cap = sp.rows(SORT_ROW_BYTES, share=4)
    ranges = []
    alo = 0
    while alo < a1:
        ahi = min(a1, max(alo + 1, int(np.searchsorted(ptr, int(ptr[alo]) + cap, side="right")) - 1))
        ranges.append((alo, ahi))
        alo = ahi
    if len(ranges) > 1:
        _fill_from_buckets(entries, m, max(MIN_ROWS, rows // 2), ranges, ptr, cap, outs, sp)
        return {names[0]: ptr, names[1]: outs}
    for alo, ahi in ranges:
        base, end = int(ptr[alo]), int(ptr[ahi])
        cur = base
        if end - base > cap:  # one address alone: its positions come in increasing order
            for s in range(0, m, rows):
                pos = entries(s, alo, ahi)[1]
                pos = np.sort(pos) if len(owners) > 1 else pos
                outs[cur:cur + pos.shape[0]] = pos
                cur += pos.shape[0]
        else:
            got = [entries(s, alo, ahi) for s in range(0, m, rows)]
            addr = np.concatenate([g[0] for g in got]) if got else np.zeros(0, np.int64)
            pos = np.concatenate([g[1] for g in got]).astype(np.int64) if got else np.zeros(0, np.int64)
            del got
            order = np.argsort(addr, kind="stable") if len(owners) == 1 else np.lexsort((pos, addr))
            cur += order.shape[0]
            outs[base:cur] = pos[order]
        _check_filled(cur - base, end - base, alo, ahi)
    return {names[0]: ptr, names[1]: outs}


#: Bucket files open at once while the entries are distributed (more ranges: one scan per group).
MAX_BUCKETS = 256


def _fill_from_buckets(entries: Callable[..., tuple[np.ndarray, np.ndarray]], m: int, rows: int,
                       ranges: list[tuple[int, int]], ptr: np.ndarray, cap: int, outs: np.ndarray,
                       sp: Spill) -> None:
    """The lists of several address ranges: one scan of the positions appends each chunk's
    (owner, position) entries to a file per range (16 B an entry, in the spill directory), then
    each file is sorted in memory into its place; a range of one address with more entries than a
    pass holds is copied as it is (its chunks come in order, each sorted as it is written).
    The passes' rescans of the whole columns (one per range: hundreds at full Ethereum) become one
    read of the columns and one of the entries per group of MAX_BUCKETS ranges."""
    for g in range(0, len(ranges), MAX_BUCKETS):
        group = ranges[g:g + MAX_BUCKETS]
        starts = np.array([r[0] for r in group], np.int64)
        hub = np.array([int(ptr[b]) - int(ptr[a]) > cap for a, b in group])
        with _bucket_files(sp, "bucket", g, len(group)) as (paths, files):
            for s in range(0, m, rows):
                addr, pos = entries(s, group[0][0], group[-1][1], rows)
                which = np.searchsorted(starts, addr, side="right") - 1
                _append_by_file(files, which, addr, pos, np.int64, sort_second=hub)  # a hub's file: in position order
        for (alo, ahi), path in zip(group, paths):
            base, end = int(ptr[alo]), int(ptr[ahi])
            cur = base
            if end - base > cap:  # a hub alone: the file is in position order already
                with open(path, "rb") as fh:
                    while block := fh.read(16 * rows):
                        pos = np.frombuffer(block, np.int64).reshape(-1, 2)[:, 1]
                        outs[cur:cur + pos.shape[0]] = pos
                        cur += pos.shape[0]
            else:
                pair = np.fromfile(path, np.int64).reshape(-1, 2)
                order = np.lexsort((pair[:, 1], pair[:, 0]))
                outs[base:base + order.shape[0]] = pair[order, 1]
                cur += order.shape[0]
                del pair, order
            path.unlink()
            _check_filled(cur - base, end - base, alo, ahi)


@contextlib.contextmanager
def _bucket_files(sp: Spill, prefix: str, first: int, count: int) -> Iterator[tuple[list[Path], list[BinaryIO]]]:
    """`count` new files in the spill directory (0600), open for writing within the block."""
    paths = [sp.directory() / f"{prefix}-{first + i}.bin" for i in range(count)]
    with contextlib.ExitStack() as stack:
        yield paths, [stack.enter_context(open(p, "wb", opener=_private)) for p in paths]


def _append_by_file(files: list[BinaryIO], which: np.ndarray, first: np.ndarray, second: np.ndarray,
                    dtype: Any, sort_second: np.ndarray | None = None) -> None:
    """Append the rows (first[i], second[i]) to files[which[i]], each file's in their order here
    (a file with `sort_second` set: its `second` values sorted)."""
    order = np.argsort(which.astype(np.uint16), kind="stable")  # a radix sort: the rows by file
    which = which[order]
    cuts = np.r_[0, np.flatnonzero(np.diff(which)) + 1, which.shape[0]]
    for lo, hi in itertools.pairwise(cuts):
        if hi > lo:
            f, sel = int(which[lo]), order[lo:hi]
            row = np.empty((hi - lo, 2), dtype)
            row[:, 0] = first[sel]
            row[:, 1] = np.sort(second[sel]) if sort_second is not None and sort_second[f] else second[sel]
            files[f].write(row.tobytes())


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, FILE_MODE)  # a store holds case data: 0600, as every spilled file


def _check_filled(got: int, counted: int, alo: int, ahi: int) -> None:
    if got != counted:
        raise StoreError(f"graph index: {got} entries for address ids {alo}..{ahi - 1}, {counted} counted",
                         hint="run `fundtrail graph build --full`")
