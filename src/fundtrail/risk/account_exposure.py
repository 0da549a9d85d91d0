"""Exposure of account-chain (Ethereum/EVM) addresses to categories, per asset (docs/risk.md).

The account model has no outputs to carry taint, so the haircut rule runs on balances: every
(address, asset) pair that occurs holds a balance and a *tainted vector* (how much of that balance
came from each category). One compiled pass over the transfers in execution order:

- a transfer from a *tagged* address carries its whole amount as the sender's category (value
  stops being followed at tagged addresses: they are the counterparty, the KYT convention of the
  UTXO index in `fundtrail.risk.exposure`);
- a transfer from an *untagged* address carries `amount x tainted / balance` of the sender's pair
  (balance clamped at 0: value of unknown origin, such as a genesis allocation, is clean);
- mints, withdrawals and rewards (no sender) are clean; a self-transfer moves nothing and is skipped.

What the receiving pair gets is its incoming exposure: *direct* when the sender is tagged (one
transfer away), *indirect* otherwise (what untagged senders passed on from two or more transfers
away). Outgoing exposure: *direct* is what the pair sent to tagged addresses; *indirect* comes from a
second, reverse pass over the same transfers (the haircut rule is linear, so where one unit of a
balance ends up can be carried backwards: `_reverse_pass`); the two passes agree, what a tagged
address's value delivered to a category equals what that category received from it. Assets never
mix: the native asset and every token have their own balances and shares, so a swap is not followed
(`fundtrail trace` is).

Amounts are float64 (about 16 significant digits: enough for screening shares); exact amounts for a
case come from `fundtrail trace`. The result is kept under `<store>/derived/<chain>/account-exposure/`
keyed by the graph state, the categories and the tagged addresses, written beside and swapped in
by rename so a crash leaves the old index or the new one. It is built within the stage's memory
budget (`store.spill`): the pair index in passes over key ranges (`account_pairs`), and every array
proportional to the events or the pairs in memory while it fits, else a file (the results in place
in the new version's directory); the kernels do the same float operations in the same order
either way, so the result is the same bytes whatever the budget.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np

from fundtrail.risk.account_pairs import EVENT_ROW_BYTES, pair_index
from fundtrail.store.lake import Store
from fundtrail.store.mapped import load_mapped
from fundtrail.store.spill import Spill, default_limit, plain, sweep_stale
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.graph import staging_dir, write_index
from fundtrail.trace.graph_build import copy_chunked

FORMAT = "fundtrail-account-exposure/1"
_RANGE = 1 << 20  # address ids per update of the key's hash
_ARRAYS = ("pair_key", "assets", "received", "sent", "in_direct", "in_indirect", "out_direct", "out_indirect")


@nb.njit(cache=True, nogil=True)
def _haircut_pass(ev_from, ev_to, amount, send_pair, recv_pair, addr_cat, k, bal, taint, received, sent,
                  in_direct, in_indirect, out_direct, frac):
    """Received, sent, direct/indirect incoming and direct outgoing per pair (see module docstring),
    and per event the fraction of the sender's balance it took (for the reverse pass). Every array
    from `bal` on is zeros, allocated by the caller (in memory or spilled)."""
    vec = np.zeros(k, np.float64)
    for e in range(ev_from.shape[0]):
        f, t, a = ev_from[e], ev_to[e], amount[e]
        if f >= 0 and f == t:
            continue
        s, r = send_pair[e], recv_pair[e]
        vec[:] = 0.0
        tagged_from = f >= 0 and addr_cat[f] >= 0
        if s >= 0:
            if bal[s] > 0.0:
                frac[e] = min(a / bal[s], 1.0)
            if tagged_from:
                vec[addr_cat[f]] = a
            elif bal[s] > 0.0:
                share = min(a / bal[s], 1.0)
                for c in range(k):
                    vec[c] = taint[s, c] * share
                    taint[s, c] -= vec[c]
            bal[s] -= a
            if bal[s] <= 0.0:
                bal[s] = 0.0
                taint[s, :] = 0.0
            sent[s] += a
            if t >= 0 and addr_cat[t] >= 0:
                out_direct[s, addr_cat[t]] += a
        if r >= 0:
            bal[r] += a
            received[r] += a
            for c in range(k):
                taint[r, c] += vec[c]
                if tagged_from:
                    in_direct[r, c] += vec[c]
                else:
                    in_indirect[r, c] += vec[c]


@nb.njit(cache=True, nogil=True)
def _reverse_pass(ev_from, ev_to, amount, send_pair, recv_pair, addr_cat, frac, k, w, out_indirect):
    """Indirect outgoing per pair: events in reverse, each untagged pair keeping `w`, where one unit
    of its balance ends up (per category) from then on. A send that takes fraction q of the balance
    makes w = q * (its destination) + (1 - q) * w; the destination of a send to an untagged
    address is that address's w after the send, to a tagged one the address's category. `w` and
    `out_indirect` are zeros, allocated by the caller."""
    for e in range(ev_from.shape[0] - 1, -1, -1):
        f, t, a = ev_from[e], ev_to[e], amount[e]
        s, r = send_pair[e], recv_pair[e]
        if s < 0 or f == t:
            continue
        q = frac[e]
        untagged_from = addr_cat[f] < 0
        if t >= 0 and addr_cat[t] >= 0:
            if untagged_from:
                for c in range(k):
                    w[s, c] *= 1.0 - q
                w[s, addr_cat[t]] += q
        elif r >= 0:
            for c in range(k):
                out_indirect[s, c] += a * w[r, c]
                if untagged_from:
                    w[s, c] = q * w[r, c] + (1.0 - q) * w[s, c]
        elif untagged_from:
            for c in range(k):
                w[s, c] *= 1.0 - q


def event_amounts(graph: AccountGraph, out: np.ndarray | None = None, rows: int = 1 << 62) -> np.ndarray:
    """Float64 amount of every event (from the exact limbs; uint256 amounts from the side table),
    written into `out` (e.g. a spilled array) when given, `rows` events at a time."""
    n = graph.n_events
    amount = np.empty(n, np.float64) if out is None else out
    for lo in range(0, n, rows):
        hi = min(lo + rows, n)
        amount[lo:hi] = (np.asarray(graph.ev_hi[lo:hi], np.float64) * 18446744073709551616.0
                         + np.asarray(graph.ev_lo[lo:hi], np.float64))
    for i, e in enumerate(np.asarray(graph.big_pos)):
        amount[int(e)] = float(int.from_bytes(bytes(graph.big_raw[i]), "big"))
    return amount


@dataclass
class AccountExposure:
    """Exposure rows of one address: one per asset it moved (columns: the categories)."""

    categories: tuple[str, ...]
    assets: list[int]  # -1 = the native asset, else the token contract's address id
    received: np.ndarray
    sent: np.ndarray
    in_direct: np.ndarray
    in_indirect: np.ndarray
    out_direct: np.ndarray
    out_indirect: np.ndarray

    def row(self, asset_name: dict[int, str]) -> dict:
        """Documented JSON: per asset, and per category the asset with the largest share."""
        def part(arr: np.ndarray, i: int, base: float) -> dict:
            return {c: {"amount": int(arr[i, j]), "share": float(arr[i, j] / base) if base > 0 else 0.0}
                    for j, c in enumerate(self.categories) if arr[i, j] >= 0.5}

        per_asset: dict[str, dict] = {}
        for i, a in enumerate(self.assets):
            rec, snt = float(self.received[i]), float(self.sent[i])
            per_asset[asset_name[a]] = {
                "received": int(rec), "sent": int(snt),
                "incoming": {"direct": part(self.in_direct, i, rec), "indirect": part(self.in_indirect, i, rec)},
                "outgoing": {"direct": part(self.out_direct, i, snt), "indirect": part(self.out_indirect, i, snt)}}

        def largest(direction: str, hops: str) -> dict:
            best: dict[str, dict] = {}
            for name, doc in per_asset.items():
                for cat, p in doc[direction][hops].items():
                    if cat not in best or p["share"] > best[cat]["share"]:
                        best[cat] = {**p, "asset": name}
            return best

        return {"incoming": {"direct": largest("incoming", "direct"), "indirect": largest("incoming", "indirect")},
                "outgoing": {"direct": largest("outgoing", "direct"), "indirect": largest("outgoing", "indirect")},
                "assets": per_asset}


class AccountExposureIndex:
    """Per (address, asset) exposure of one account chain for a set of categories and tags."""

    def __init__(self, graph: AccountGraph, categories: tuple[str, ...], arrays: dict[str, np.ndarray],
                 path: Path | None) -> None:
        self.graph, self.categories, self.arrays, self.path = graph, categories, arrays, path

    @classmethod
    def compute(cls, graph: AccountGraph, categories: tuple[str, ...], addr_cat: np.ndarray, *,
                memory_limit: int | None = None, store: Store | None = None) -> AccountExposureIndex:
        """Run the passes without saving. `addr_cat`: per address id a column of `categories`,
        `len(categories)` for a tagged address whose category is outside them (value stops, no
        column), or -1. Unbounded unless `memory_limit` is given; under a limit the arrays that do
        not fit are files under `store`'s spill directory, the results' kept while the index lives."""
        k = len(categories) + 1
        if memory_limit is None:
            with Spill(None, None, "account-exposure") as sp:
                return cls(graph, categories, _compute(graph, np.asarray(addr_cat, np.int16), k, sp, None), None)
        if store is None:
            raise ValueError("a memory limit needs a store to spill into")
        results = Spill(store.root, None, "account-exposure-result")  # only its directory
        try:
            with Spill(store.root, memory_limit, "account-exposure") as sp:
                arrays = _compute(graph, np.asarray(addr_cat, np.int16), k, sp, results.directory())
        except BaseException:
            results.close()
            raise
        index = cls(graph, categories, arrays, None)
        if any(isinstance(a, np.memmap) for a in arrays.values()):
            weakref.finalize(index, results.close)
        else:
            results.close()
        return index

    @classmethod
    def ensure(cls, store: Store, graph: AccountGraph, categories: tuple[str, ...],
               addr_cat: np.ndarray, *, memory_limit: int | None = None) -> AccountExposureIndex:
        """Load the saved index for this graph state, categories and tags, or compute and save it,
        within `memory_limit` bytes (default `store.spill.default_limit()`): arrays that do not fit
        are files, the results' built in place in the new version's directory."""
        addr_cat = np.asarray(addr_cat, np.int16)
        h = hashlib.sha256(json.dumps([FORMAT, graph.meta.get("state"), list(categories)]).encode())
        for lo in range(0, addr_cat.shape[0], _RANGE):  # the column's own pages: no copy of it
            h.update(np.ascontiguousarray(addr_cat[lo:lo + _RANGE]).data)
        key = h.hexdigest()[:24]
        path = store.root / "derived" / graph.chain / "account-exposure"
        meta_path = path / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("key") == key and all((path / f"{n}.npy").exists() for n in _ARRAYS):
                return cls(graph, categories, {n: load_mapped(path / f"{n}.npy") for n in _ARRAYS},
                           path)
        limit = default_limit() if memory_limit is None else memory_limit
        sweep_stale(store.root, "account-exposure")
        tmp = staging_dir(path)  # swapped in by rename, private to the owner (0700 / 0600) as the whole store
        with Spill(store.root, limit, "account-exposure") as sp:
            arrays = _compute(graph, addr_cat, len(categories) + 1, sp, tmp)
            write_index(path, arrays, {"format": FORMAT, "key": key, "categories": list(categories)}, staged=True)
            del arrays
        return cls(graph, categories, {n: load_mapped(path / f"{n}.npy") for n in _ARRAYS}, path)

    def of_address(self, address: int) -> AccountExposure:
        """The rows of one address id (no rows: it never moved value)."""
        arr = self.arrays
        assets = np.asarray(arr["assets"])
        n_assets = max(int(assets.shape[0]), 1)
        keys = arr["pair_key"]
        lo = int(np.searchsorted(keys, address * n_assets, side="left"))
        hi = int(np.searchsorted(keys, (address + 1) * n_assets, side="left"))
        n = len(self.categories)
        return AccountExposure(self.categories, [int(assets[int(x) % n_assets]) for x in keys[lo:hi]],
                               np.asarray(arr["received"][lo:hi]), np.asarray(arr["sent"][lo:hi]),
                               np.asarray(arr["in_direct"][lo:hi, :n]), np.asarray(arr["in_indirect"][lo:hi, :n]),
                               np.asarray(arr["out_direct"][lo:hi, :n]), np.asarray(arr["out_indirect"][lo:hi, :n]))


def _column(sp: Spill, name: str, arr: np.ndarray, dtype: type, rows: int) -> np.ndarray:
    """`arr` as a plain array of `dtype` for the kernels: itself when it is one, else a placed copy."""
    if arr.dtype == dtype:
        return plain(arr)
    out = sp.array(name, arr.shape[0], dtype)
    copy_chunked(out, arr, rows)
    return plain(out)


def _compute(graph: AccountGraph, addr_cat: np.ndarray, k: int, sp: Spill, out: Path | None) -> dict[str, np.ndarray]:
    """The pair index (`account_pairs`) and the two passes over it, every array proportional to the
    events or the pairs placed by `sp`; the results spilled in place at `out/<name>.npy`."""
    def result(name: str, shape: int | tuple[int, ...]) -> np.ndarray:
        return sp.array(name, shape, np.float64, 0, path=None if out is None else out / f"{name}.npy")

    rows = sp.rows(EVENT_ROW_BYTES)
    n_ev = graph.n_events
    ev_from = _column(sp, "ev_from", graph.ev_from, np.int64, rows)
    ev_to = _column(sp, "ev_to", graph.ev_to, np.int64, rows)
    ev_asset = _column(sp, "ev_asset", graph.ev_asset, np.int64, rows)
    pairs = pair_index(ev_from, ev_to, ev_asset, sp, None if out is None else out / "pair_key.npy")
    n_pairs = int(pairs.pair_key.shape[0])
    n_addr = max(graph.n_addresses, 1)
    if addr_cat.dtype == np.int16 and addr_cat.shape[0] >= n_addr:
        cat = plain(addr_cat[:n_addr])  # the caller's column (an assessor's is placed by its budget already)
    else:
        cat = sp.array("addr_cat", n_addr, np.int16, -1)
        copy_chunked(cat, addr_cat[:n_addr], rows)
        cat = plain(cat)
    bal_arr = sp.array("bal", n_pairs, np.float64, 0)
    bal = plain(bal_arr)
    taint = plain(sp.array("taint", (n_pairs, k), np.float64, 0))
    received, sent = result("received", n_pairs), result("sent", n_pairs)
    in_direct, in_indirect = result("in_direct", (n_pairs, k)), result("in_indirect", (n_pairs, k))
    out_direct, out_indirect = result("out_direct", (n_pairs, k)), result("out_indirect", (n_pairs, k))
    amount = plain(event_amounts(graph, sp.array("amount", n_ev, np.float64), rows))
    frac = plain(sp.array("frac", n_ev, np.float64, 0))
    send_pair, recv_pair = plain(pairs.send_pair), plain(pairs.recv_pair)
    _haircut_pass(ev_from, ev_to, amount, send_pair, recv_pair, cat, k, bal, taint, plain(received), plain(sent),
                  plain(in_direct), plain(in_indirect), plain(out_direct), frac)
    sp.release(bal_arr)
    del bal, bal_arr
    w = taint  # the reverse pass's weights, in the taint's place: zeros again
    for lo in range(0, n_pairs, rows):
        w[lo:lo + rows] = 0.0
    _reverse_pass(ev_from, ev_to, amount, send_pair, recv_pair, cat, frac, k, w, plain(out_indirect))
    return {"pair_key": pairs.pair_key, "assets": pairs.assets, "received": received, "sent": sent,
            "in_direct": in_direct, "in_indirect": in_indirect, "out_direct": out_direct,
            "out_indirect": out_indirect}
