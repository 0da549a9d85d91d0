"""Exposure rows of many addresses (a cluster's members) read in chain order, not address by address.

`ExposureIndex.of_addresses` follows each address's outputs, their paying and spending
transactions, through the memory-mapped graph and exposure index. The outputs of a cluster's
members lie all over the chain: an exchange's 2,000 addresses touch nearly every page of those
files in random order, and when the files do not fit the page cache (a small `memory_limit`, or a
full chain) every touch is a disk read: the `exposure` command thrashed (docs/scale.md).

So the rows a batch of members needs are gathered first, each array read once in ascending index
order (a sequential sweep), into a compact copy of that part of the graph: the members' outputs,
every output and input of the transactions that pay or spend them, and the outputs those inputs
spend, renumbered. The same compiled kernels (`of_addresses` on the compact copy) then give the
same rows, bit for bit: each address's sums take the same terms in the same order.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from fundtrail.risk.exposure import AddressExposure, ExposureIndex


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The indexes starts[i]..ends[i]-1 of every range, one range after the other."""
    n = ends - starts
    offsets = np.cumsum(n) - n
    return np.arange(int(n.sum()), dtype=np.int64) - np.repeat(offsets, n) + np.repeat(starts, n)


def _take(arr: Any, idx: np.ndarray) -> np.ndarray:
    """`arr[idx]` for ascending `idx` (one sweep over a mapped file)."""
    return np.asarray(arr[idx]) if idx.size else np.zeros(0, np.asarray(arr[:0]).dtype)


#: Distinct addresses per compact copy (bounds its arrays for a big cluster).
BATCH = 65_536


def member_rows(index: ExposureIndex, members: np.ndarray, *, batch: int = BATCH) -> AddressExposure:
    """`index.of_addresses(members)` (address ids >= 0, any order), computed on compact copies
    of the graph read in chain order, `batch` distinct addresses at a time."""
    members = np.asarray(members, np.int64)
    uniq = np.unique(members)
    parts = [_sorted_rows(index, uniq[lo:lo + batch]) for lo in range(0, uniq.shape[0], max(1, batch))]
    if not parts:
        return index.of_addresses(members)
    at = np.searchsorted(uniq, members)

    def pick(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])[at]

    return AddressExposure(index.categories, *(pick(f) for f in ("received", "sent", "direct_in", "direct_out",
                                                                 "indirect_in", "indirect_out")))


def _sorted_rows(index: ExposureIndex, members: np.ndarray) -> AddressExposure:
    """`member_rows` of ascending distinct address ids."""
    g = index.graph
    m = members.shape[0]
    # the members' outputs, in each member's order
    a_lo, a_hi = np.asarray(g.addr_ptr[members]), np.asarray(g.addr_ptr[members + 1])
    mo = _take(g.addr_outs, _ranges(a_lo, a_hi)).astype(np.int64)
    mo_sorted = np.unique(mo)
    # the transactions paying and spending them
    tx_first_out = g.tx_first_out
    paying = np.searchsorted(tx_first_out, mo_sorted, side="right") - 1
    spender = _take(g.out_spent_by, mo_sorted).astype(np.int64)
    txs = np.unique(np.concatenate([paying, spender[spender >= 0]]))
    t_out_lo, t_out_hi = _take(tx_first_out, txs), _take(tx_first_out, txs + 1)
    t_in_lo, t_in_hi = _take(g.tx_in_ptr, txs), _take(g.tx_in_ptr, txs + 1)
    tx_outs = _ranges(t_out_lo.astype(np.int64), t_out_hi.astype(np.int64))  # ascending
    prev = _take(g.in_prev, _ranges(t_in_lo.astype(np.int64), t_in_hi.astype(np.int64))).astype(np.int64)
    extra = np.setdiff1d(prev[prev >= 0], tx_outs)  # spent by these transactions, paid by others
    outs = np.concatenate([tx_outs, extra])  # compact output id -> global id

    by_glob = np.argsort(outs, kind="stable")  # read every output array in ascending global order
    sorted_outs = outs[by_glob]

    def local(glob: np.ndarray) -> np.ndarray:  # global output ids (all in `outs`) -> compact ids
        return by_glob[np.searchsorted(sorted_outs, glob)]

    n_tx_out = t_out_hi.astype(np.int64) - t_out_lo.astype(np.int64)
    n_tx_in = t_in_hi.astype(np.int64) - t_in_lo.astype(np.int64)
    tx_first_c = np.concatenate([[0], np.cumsum(n_tx_out)]).astype(np.asarray(tx_first_out[:0]).dtype)
    tx_in_c = np.concatenate([[0], np.cumsum(n_tx_in)]).astype(np.asarray(g.tx_in_ptr[:0]).dtype)
    in_prev_c = np.where(prev >= 0, local(np.maximum(prev, 0)) if prev.size else prev, -1)
    in_prev_c = in_prev_c.astype(np.asarray(g.in_prev[:0]).dtype)
    value_c = np.empty(outs.shape[0], np.asarray(g.out_value[:0]).dtype)
    value_c[by_glob] = _take(g.out_value, sorted_outs)
    addr_glob = np.empty(outs.shape[0], np.asarray(g.out_address[:0]).dtype)
    addr_glob[by_glob] = _take(g.out_address, sorted_outs)
    # addresses renumbered: member i -> i, any other address b -> m + b (so `!= a` tests hold)
    pos = np.minimum(np.searchsorted(members, addr_glob), max(m - 1, 0))
    is_member = (addr_glob >= 0) & (members[pos] == addr_glob) if m else np.zeros(addr_glob.shape, bool)
    addr_c = np.where(addr_glob < 0, -1, np.where(is_member, pos, addr_glob.astype(np.int64) + m))
    cat = np.asarray(index.addr_cat)
    cat_c = np.concatenate([cat[members], cat])
    # per member output: its spender (compact tx id) and its exposure rows; other outputs unused
    spent_c = np.full(outs.shape[0], -1, np.asarray(g.out_spent_by[:0]).dtype)
    mo_local = local(mo_sorted)
    spent_c[mo_local] = np.where(spender >= 0, np.searchsorted(txs, spender), -1)
    k = len(index.categories) + 1
    inc_c = np.zeros((outs.shape[0], k), np.asarray(index.inc[:0]).dtype)
    out_c = np.zeros((outs.shape[0], k), np.asarray(index.out[:0]).dtype)
    inc_c[mo_local] = _take(index.inc, mo_sorted)
    out_c[mo_local] = _take(index.out, mo_sorted)
    addr_ptr_c = np.concatenate([[0], np.cumsum(a_hi - a_lo)]).astype(np.asarray(g.addr_ptr[:0]).dtype)
    addr_outs_c = local(mo).astype(np.asarray(g.addr_outs[:0]).dtype)
    sub = SimpleNamespace(addr_ptr=addr_ptr_c, addr_outs=addr_outs_c, out_value=value_c, out_spent_by=spent_c,
                          tx_first_out=tx_first_c, tx_in_ptr=tx_in_c, in_prev=in_prev_c,
                          out_address=addr_c.astype(np.int64))
    compact = ExposureIndex(cast(Any, sub), index.categories, cat_c, inc_c, out_c, None)
    return compact.of_addresses(np.arange(m, dtype=np.int64))
