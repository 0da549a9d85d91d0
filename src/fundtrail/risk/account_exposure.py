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
by rename so a crash leaves the old index or the new one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np

from fundtrail.store.lake import Store
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.graph import write_index
from fundtrail.store.mapped import load_mapped

FORMAT = "fundtrail-account-exposure/1"
_ARRAYS = ("pair_key", "assets", "received", "sent", "in_direct", "in_indirect", "out_direct", "out_indirect")


@nb.njit(cache=True, nogil=True)
def _haircut_pass(ev_from, ev_to, amount, send_pair, recv_pair, addr_cat, n_pairs, k):
    """Received, sent, direct/indirect incoming and direct outgoing per pair (see module docstring),
    and per event the fraction of the sender's balance it took (for the reverse pass)."""
    bal = np.zeros(n_pairs, np.float64)
    taint = np.zeros((n_pairs, k), np.float64)
    received = np.zeros(n_pairs, np.float64)
    sent = np.zeros(n_pairs, np.float64)
    in_direct = np.zeros((n_pairs, k), np.float64)
    in_indirect = np.zeros((n_pairs, k), np.float64)
    out_direct = np.zeros((n_pairs, k), np.float64)
    frac = np.zeros(ev_from.shape[0], np.float64)
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
    return received, sent, in_direct, in_indirect, out_direct, frac


@nb.njit(cache=True, nogil=True)
def _reverse_pass(ev_from, ev_to, amount, send_pair, recv_pair, addr_cat, frac, n_pairs, k):
    """Indirect outgoing per pair: events in reverse, each untagged pair keeping `w`, where one unit
    of its balance ends up (per category) from then on. A send that takes fraction q of the balance
    makes w = q * (its destination) + (1 - q) * w; the destination of a send to an untagged
    address is that address's w after the send, to a tagged one the address's category."""
    w = np.zeros((n_pairs, k), np.float64)
    out_indirect = np.zeros((n_pairs, k), np.float64)
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
    return out_indirect


def event_amounts(graph: AccountGraph) -> np.ndarray:
    """Float64 amount of every event (from the exact limbs; uint256 amounts from the side table)."""
    amount = (np.asarray(graph.ev_hi, np.float64) * 18446744073709551616.0
              + np.asarray(graph.ev_lo, np.float64))
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
    def compute(cls, graph: AccountGraph, categories: tuple[str, ...], addr_cat: np.ndarray) -> AccountExposureIndex:
        """Run the pass in memory. `addr_cat`: per address id a column of `categories`, `len(categories)`
        for a tagged address whose category is outside them (value stops, no column), or -1."""
        return cls(graph, categories, _compute(graph, np.asarray(addr_cat, np.int16), len(categories) + 1), None)

    @classmethod
    def ensure(cls, store: Store, graph: AccountGraph, categories: tuple[str, ...],
               addr_cat: np.ndarray) -> AccountExposureIndex:
        """Load the saved index for this graph state, categories and tags, or compute and save it."""
        addr_cat = np.asarray(addr_cat, np.int16)
        key = hashlib.sha256(json.dumps([FORMAT, graph.meta.get("state"), list(categories)]).encode()
                             + addr_cat.tobytes()).hexdigest()[:24]
        path = store.root / "derived" / graph.chain / "account-exposure"
        meta_path = path / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("key") == key and all((path / f"{n}.npy").exists() for n in _ARRAYS):
                return cls(graph, categories, {n: load_mapped(path / f"{n}.npy") for n in _ARRAYS},
                           path)
        arrays = _compute(graph, addr_cat, len(categories) + 1)
        # swapped in by rename, private to the owner (0700 / 0600) as the whole store
        write_index(path, arrays, {"format": FORMAT, "key": key, "categories": list(categories)})
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


def _compute(graph: AccountGraph, addr_cat: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """The dense (address, asset) pair index and the haircut pass over it."""
    ev_from = np.asarray(graph.ev_from, np.int64)
    ev_to = np.asarray(graph.ev_to, np.int64)
    assets, asset_idx = np.unique(np.asarray(graph.ev_asset, np.int64), return_inverse=True)
    n_assets = max(int(assets.shape[0]), 1)
    send_key = np.where(ev_from >= 0, ev_from * n_assets + asset_idx, -1)
    recv_key = np.where(ev_to >= 0, ev_to * n_assets + asset_idx, -1)
    both = np.concatenate([send_key, recv_key])
    pair_key, inverse = np.unique(both[both >= 0], return_inverse=True)
    pair = np.full(both.shape[0], -1, np.int64)
    pair[both >= 0] = inverse
    n_ev = ev_from.shape[0]
    cat = np.full(max(graph.n_addresses, 1), -1, np.int16)
    cat[:min(addr_cat.shape[0], cat.shape[0])] = addr_cat[:cat.shape[0]]
    amount = event_amounts(graph)
    send_pair, recv_pair, n_pairs = pair[:n_ev], pair[n_ev:], int(pair_key.shape[0])
    received, sent, in_direct, in_indirect, out_direct, frac = _haircut_pass(
        ev_from, ev_to, amount, send_pair, recv_pair, cat, n_pairs, k)
    out_indirect = _reverse_pass(ev_from, ev_to, amount, send_pair, recv_pair, cat, frac, n_pairs, k)
    return {"pair_key": pair_key.astype(np.int64), "assets": assets.astype(np.int64), "received": received,
            "sent": sent, "in_direct": in_direct, "in_indirect": in_indirect, "out_direct": out_direct,
            "out_indirect": out_indirect}
