"""Exposure of addresses to categories: where their funds came from and went, direct and indirect.

Definitions (UTXO chains; docs/risk.md):

- A *tagged* address has a category (its most severe tag). Value stops being followed where it
  reaches a tagged address: that address is the counterparty, as in the KYT convention that
  indirect exposure runs through unattributed intermediaries only.
- *Incoming* exposure of an output: how much of its value came from each category, by the haircut
  rule over any number of hops through untagged addresses. *Outgoing*: how much of its value went on
  to each category. Both are computed for every output of the chain in one pass each (forward in
  chain order, backward in reverse order), compiled with numba, and kept as float32 arrays under
  `<store>/derived/<chain>/exposure/`; exact amounts for one case come from `fundtrail trace`.
- *Direct* exposure is the one-transaction part: the counterparties of the transactions that paid
  the address (incoming) or that it paid from (outgoing), computed on demand. *Indirect* is the
  rest (two or more hops): the all-hops amount less the direct one.
- Exposure of an address sums its received outputs; shares divide by the total it received
  (incoming) or spent (outgoing).
"""

from __future__ import annotations

from typing import cast

import hashlib
import itertools
import json
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np

from fundtrail.store.lake import Store
from fundtrail.store.spill import Spill, default_limit, plain, sweep_stale
from fundtrail.trace.attribution import CategoryCodes
from fundtrail.trace.graph import GraphIndex, staging_dir, write_index
from fundtrail.store.mapped import load_mapped

FORMAT = "fundtrail-exposure/1"


_RANGE = 1 << 20  # address ids per range while the category column is filled and hashed


@nb.njit(cache=True, nogil=True)
def _input_total(t, tx_in_ptr, in_prev, out_value):
    """Value of transaction t's resolved inputs (the base of every haircut share)."""
    total = 0.0
    for j in range(tx_in_ptr[t], tx_in_ptr[t + 1]):
        p = in_prev[j]
        if p >= 0:
            total += out_value[p]
    return total


@nb.njit(cache=True, nogil=True)
def _incoming_pass(tx_first_out, tx_in_ptr, in_prev, out_value, out_address, addr_cat, coinbase, k, res):
    n_tx = tx_first_out.shape[0] - 1
    inc = res  # zeros, (outputs, k) float32: allocated by the caller, in memory or spilled
    vec = np.zeros(k, np.float64)
    for t in range(n_tx):
        if coinbase[t]:
            continue
        total = 0.0
        vec[:] = 0.0
        for j in range(tx_in_ptr[t], tx_in_ptr[t + 1]):
            p = in_prev[j]
            if p < 0:
                continue
            v = out_value[p]
            total += v
            a = out_address[p]
            c = addr_cat[a] if a >= 0 else -1
            if c >= 0:
                vec[c] += v
            else:
                for i in range(k):
                    vec[i] += inc[p, i]
        if total <= 0.0:
            continue
        for o in range(tx_first_out[t], tx_first_out[t + 1]):
            f = out_value[o] / total
            for i in range(k):
                inc[o, i] = vec[i] * f
    return inc


@nb.njit(cache=True, nogil=True)
def _outgoing_pass(tx_first_out, tx_in_ptr, in_prev, out_value, out_address, addr_cat, coinbase, k, res):
    n_tx = tx_first_out.shape[0] - 1
    out = res  # as in _incoming_pass
    vec = np.zeros(k, np.float64)
    for t in range(n_tx - 1, -1, -1):
        if coinbase[t]:
            continue
        total = _input_total(t, tx_in_ptr, in_prev, out_value)
        if total <= 0.0:
            continue
        vec[:] = 0.0
        for q in range(tx_first_out[t], tx_first_out[t + 1]):
            a = out_address[q]
            c = addr_cat[a] if a >= 0 else -1
            if c >= 0:
                vec[c] += out_value[q]
            else:
                for i in range(k):
                    vec[i] += out[q, i]
        for j in range(tx_in_ptr[t], tx_in_ptr[t + 1]):
            p = in_prev[j]
            if p < 0:
                continue
            f = out_value[p] / total
            for i in range(k):
                out[p, i] = vec[i] * f
    return out


#: the two passes, for the Spark job's per-chunk run (`spark.exposure_passes`), which seeds `res`
incoming_pass, outgoing_pass = _incoming_pass, _outgoing_pass


@nb.njit(cache=True, nogil=True)
def _address_totals(addresses, addr_ptr, addr_outs, out_value, out_spent_by, inc, out, k):
    """Per address: received, sent, indirect incoming and outgoing exposure (sums over outputs)."""
    n = addresses.shape[0]
    received = np.zeros(n, np.int64)
    sent = np.zeros(n, np.int64)
    e_in = np.zeros((n, k), np.float64)
    e_out = np.zeros((n, k), np.float64)
    for i in range(n):
        a = addresses[i]
        if a < 0:
            continue
        for j in range(addr_ptr[a], addr_ptr[a + 1]):
            o = addr_outs[j]
            received[i] += out_value[o]
            if out_spent_by[o] >= 0:
                sent[i] += out_value[o]
            for c in range(k):
                e_in[i, c] += inc[o, c]
                e_out[i, c] += out[o, c]
    return received, sent, e_in, e_out


@nb.njit(cache=True, nogil=True)
def _direct(addresses, addr_ptr, addr_outs, tx_first_out, tx_in_ptr, in_prev, out_value, out_address,
            out_spent_by, addr_cat, k):
    """Per address: direct incoming and outgoing exposure (one transaction away)."""
    n = addresses.shape[0]
    d_in = np.zeros((n, k), np.float64)
    d_out = np.zeros((n, k), np.float64)
    for i in range(n):
        a = addresses[i]
        if a < 0:
            continue
        for j in range(addr_ptr[a], addr_ptr[a + 1]):
            o = addr_outs[j]
            t = np.searchsorted(tx_first_out, o, side="right") - 1  # the paying transaction
            total = _input_total(t, tx_in_ptr, in_prev, out_value)
            if total > 0.0:
                f = out_value[o] / total
                for m in range(tx_in_ptr[t], tx_in_ptr[t + 1]):
                    p = in_prev[m]
                    if p >= 0 and out_address[p] >= 0 and out_address[p] != a:
                        c = addr_cat[out_address[p]]
                        if c >= 0:
                            d_in[i, c] += out_value[p] * f
            s = out_spent_by[o]
            if s >= 0:
                total = _input_total(s, tx_in_ptr, in_prev, out_value)
                if total > 0.0:
                    f = out_value[o] / total
                    for q in range(tx_first_out[s], tx_first_out[s + 1]):
                        b = out_address[q]
                        if b >= 0 and b != a and addr_cat[b] >= 0:
                            d_out[i, addr_cat[b]] += out_value[q] * f
    return d_in, d_out


@nb.njit(cache=True, nogil=True)
def _segment_sums(values, starts, ends):
    """Rows starts[s]:ends[s] of `values` (2-D) summed one after the other, one row per segment:
    the order numpy's sum over axis 0 adds rows in, so a segment's total is bit-identical to
    `AddressExposure.total` of its rows."""
    out = np.zeros((starts.shape[0], values.shape[1]), values.dtype)
    for s in range(starts.shape[0]):
        for r in range(starts[s], ends[s]):
            for c in range(values.shape[1]):
                out[s, c] += values[r, c]
    return out


@dataclass
class AddressExposure:
    """Exposure arrays for a list of address ids (rows) over the index categories (columns)."""

    categories: tuple[str, ...]
    received: np.ndarray
    sent: np.ndarray
    direct_in: np.ndarray
    direct_out: np.ndarray
    indirect_in: np.ndarray
    indirect_out: np.ndarray

    def total(self) -> AddressExposure:
        """All rows summed into one (the exposure of a cluster from its members' rows)."""
        def one(arr: np.ndarray) -> np.ndarray:
            return arr.sum(axis=0, keepdims=True)

        return AddressExposure(self.categories, one(self.received), one(self.sent), one(self.direct_in),
                               one(self.direct_out), one(self.indirect_in), one(self.indirect_out))

    def segments(self, starts: np.ndarray, ends: np.ndarray) -> AddressExposure:
        """Rows starts[s]:ends[s] summed, one row per segment (each equal to `total()` of those
        rows): the exposure of many clusters from one pass over their members' rows."""
        starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)

        def seg(arr: np.ndarray) -> np.ndarray:
            flat = arr.reshape(-1, 1) if arr.ndim == 1 else arr
            summed = _segment_sums(np.ascontiguousarray(flat), starts, ends)
            return summed[:, 0] if arr.ndim == 1 else summed

        return AddressExposure(self.categories, seg(self.received), seg(self.sent), seg(self.direct_in),
                               seg(self.direct_out), seg(self.indirect_in), seg(self.indirect_out))

    def rows(self) -> Iterator[dict]:
        """Every row as `row(i)` gives it, in order. The few amounts >= 0.5 are found in one
        vectorised pass per part (not a Python test of every row and category) and each row's dicts
        are made only when it is reached, so a batch of 100,000 never holds all of them at once."""
        if self.received.shape[0] <= 16:  # one address (the address summary): numpy's per-call cost dominates
            yield from (self.row(i) for i in range(self.received.shape[0]))
            return
        received, sent = self.received.tolist(), self.sent.tolist()
        parts = [self._part_rows(arr, base) for arr, base in (
            (self.direct_in, self.received), (self.indirect_in, self.received),
            (self.direct_out, self.sent), (self.indirect_out, self.sent))]
        for rec, snt, d_in, i_in, d_out, i_out in zip(received, sent, *parts):
            yield {"received_sat": rec, "sent_sat": snt,
                   "incoming": {"direct": d_in, "indirect": i_in}, "outgoing": {"direct": d_out, "indirect": i_out}}

    def _part_rows(self, arr: np.ndarray, base: np.ndarray) -> Iterator[dict]:
        """`row`'s part of each row, made when reached: amount (truncated, as `int`) and share of
        `base` (0 when `base` is 0) of each category with at least 0.5 sat, in category order."""
        rows, cols = np.nonzero(arr >= 0.5)  # row-major: categories in column order per row
        vals, bases = arr[rows, cols], base[rows]
        shares = np.zeros(vals.shape, np.float64)
        np.divide(vals, bases, out=shares, where=bases != 0)
        ptr = np.searchsorted(rows, np.arange(arr.shape[0] + 1)).tolist()
        cats = [self.categories[j] for j in cols.tolist()]
        amounts = cast(list[int], vals.astype(np.int64).tolist())  # numpy types tolist() loosely
        shares_ = cast(list[float], shares.tolist())
        for lo, hi in itertools.pairwise(ptr):
            yield {cats[k]: {"amount_sat": amounts[k], "share": shares_[k]} for k in range(lo, hi)} if hi > lo else {}

    def row(self, i: int) -> dict:
        """Exposure of row `i` as documented JSON (amounts in sat, shares 0..1)."""
        rec, snt = int(self.received[i]), int(self.sent[i])

        def part(arr: np.ndarray, base: int) -> dict:
            return {c: {"amount_sat": int(arr[i, j]), "share": float(arr[i, j] / base) if base else 0.0}
                    for j, c in enumerate(self.categories) if arr[i, j] >= 0.5}

        return {"received_sat": rec, "sent_sat": snt,
                "incoming": {"direct": part(self.direct_in, rec), "indirect": part(self.indirect_in, rec)},
                "outgoing": {"direct": part(self.direct_out, snt), "indirect": part(self.indirect_out, snt)}}


def exposure_key(graph: GraphIndex, categories: tuple[str, ...], tagged: dict[int, str] | np.ndarray,
                 out: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """(each address id's column, -1 untagged, `len(categories)` another category; the index's key):
    the key names the graph state, the categories and the tags an index was computed for, so a
    reader accepts only a matching one (whoever computed it: this module or the Spark job). The
    column is written into `out` (all -1, e.g. a spilled array) when given."""
    n = graph.n_addresses
    addr_cat = np.full(n, -1, np.int8) if out is None else out
    col = {c: i for i, c in enumerate(categories)}
    other = len(categories)
    if isinstance(tagged, CategoryCodes):  # codes into a small table: a range of ids at a time, vectorised
        lut = np.array([col.get(c, other) for c in tagged.table] or [0], np.int8)
        m = min(n, tagged.codes.shape[0])
        for lo in range(0, m, _RANGE):
            codes = np.asarray(tagged.codes[lo:min(m, lo + _RANGE)])
            hit = codes >= 0
            addr_cat[lo:lo + codes.shape[0]][hit] = lut[codes[hit]]
    elif isinstance(tagged, dict):
        for a, c in tagged.items():
            if 0 <= a < n:
                addr_cat[a] = col.get(c, other)
    else:  # a range of ids at a time: no temporaries the size of the chain
        arr = np.asarray(tagged, object)[:n]
        for lo in range(0, arr.shape[0], _RANGE):
            part = arr[lo:lo + _RANGE]
            present = np.flatnonzero(part != None)  # noqa: E711 - elementwise, not identity
            addr_cat[present + lo] = [col.get(c, other) for c in part[present]]
    h = hashlib.sha256(json.dumps([graph.meta.get("state"), list(categories)]).encode())
    for lo in range(0, n, _RANGE):  # the column's own pages: no copy of it
        h.update(np.ascontiguousarray(addr_cat[lo:lo + _RANGE]).data)
    return addr_cat, h.hexdigest()[:24]


class ExposureIndex:
    """Per-output incoming/outgoing exposure of one chain for a set of categories and tags."""

    def __init__(self, graph: GraphIndex, categories: tuple[str, ...], addr_cat: np.ndarray,
                 inc: np.ndarray, out: np.ndarray, path: Path | None) -> None:
        self.graph, self.categories, self.addr_cat = graph, categories, addr_cat
        self.inc, self.out, self.path = inc, out, path

    @classmethod
    def ensure(cls, store: Store, graph: GraphIndex, categories: tuple[str, ...],
               tagged: dict[int, str] | np.ndarray, *, memory_limit: int | None = None) -> ExposureIndex:
        """Load the index for this graph state, categories and tags, or compute and save it.

        `tagged` maps address id -> category id (the address's most severe category, direct or
        inherited through its cluster): a dict, or an array over all address ids holding a category
        id or None. Addresses whose category is not in `categories` count as tagged (value stops
        there) but add to no column. The two per-output arrays are built in memory when they fit
        `memory_limit` (default: `store.spill.default_limit()`), else in place in their files.
        """
        limit = default_limit() if memory_limit is None else memory_limit
        sweep_stale(store.root, "exposure-cat")
        # the category column is kept with the index: in memory while it fits an eighth of the
        # limit, else in a file removed when the index object goes (or by the next run after a kill)
        cat_spill = Spill(store.root, None if limit is None else limit // 4, "exposure-cat")
        try:
            addr_cat, key = exposure_key(graph, categories, tagged,
                                         cat_spill.array("addr_cat", graph.n_addresses, np.int8, -1))
            index = cls._ensure(store, graph, categories, addr_cat, key, limit)
        except BaseException:
            cat_spill.close()
            raise
        if isinstance(addr_cat, np.memmap):
            weakref.finalize(index, cat_spill.close)
        else:
            cat_spill.close()
        return index

    @classmethod
    def _ensure(cls, store: Store, graph: GraphIndex, categories: tuple[str, ...], addr_cat: np.ndarray, key: str,
                limit: int | None) -> ExposureIndex:
        addr_cat = plain(addr_cat)
        path = store.root / "derived" / graph.chain / "exposure"
        meta_path = path / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("format") == FORMAT and meta.get("key") == key:
                return cls(graph, categories, addr_cat, load_mapped(path / "incoming.npy"),
                           load_mapped(path / "outgoing.npy"), path)
        k = len(categories) + 1  # last column: tagged with a category outside the profile
        args = (graph.tx_first_out, graph.tx_in_ptr, graph.in_prev, graph.out_value, graph.out_address,
                addr_cat, graph.tx_coinbase, k)
        tmp = staging_dir(path)  # swapped in by rename, private to the owner (0700 / 0600) as the whole store
        with Spill(store.root, limit, "exposure") as sp:
            shape = (graph.n_outputs, k)
            inc = sp.array("incoming", shape, np.float32, 0, path=tmp / "incoming.npy")
            _incoming_pass(*args, inc)
            out = sp.array("outgoing", shape, np.float32, 0, path=tmp / "outgoing.npy")
            _outgoing_pass(*args, out)
            write_index(path, {"incoming": inc, "outgoing": out},
                        {"format": FORMAT, "key": key, "categories": list(categories)}, staged=True)
            del inc, out
        return cls(graph, categories, addr_cat, load_mapped(path / "incoming.npy"),
                   load_mapped(path / "outgoing.npy"), path)

    def of_addresses(self, addresses: np.ndarray) -> AddressExposure:
        """Exposure of each address id (-1 rows: no activity, all zero)."""
        g = self.graph
        addresses = np.asarray(addresses, np.int64)
        k = len(self.categories) + 1
        received, sent, e_in, e_out = _address_totals(addresses, g.addr_ptr, g.addr_outs, g.out_value,
                                                      g.out_spent_by, self.inc, self.out, k)
        d_in, d_out = _direct(addresses, g.addr_ptr, g.addr_outs, g.tx_first_out, g.tx_in_ptr, g.in_prev,
                              g.out_value, g.out_address, g.out_spent_by, self.addr_cat, k)
        n = len(self.categories)
        return AddressExposure(self.categories, received, sent, d_in[:, :n], d_out[:, :n],
                               np.maximum(e_in[:, :n] - d_in[:, :n], 0.0),
                               np.maximum(e_out[:, :n] - d_out[:, :n], 0.0))
