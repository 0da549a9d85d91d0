"""A fingerprint table whose memory is bounded: a hot in-memory table plus sorted runs on disk.

Same interface and results as `FingerprintTable` (decode, links and undo_stored use either), so
the store an ingest writes does not depend on the budget. The hot table holds at most
`max_hot` entries; when an operation needs room, the entries with the smallest id (column 0: the
oldest addresses, the oldest unspent outputs; most outputs are spent soon after they are created)
are moved to `SpillRuns`. Keys live in exactly one place (hot, or one live spilled entry): an
insert or pop of a spilled key marks it dead on disk, so a later lookup cannot find a stale value.

Operations larger than the hot table are cut into chunks with an eviction between them; each
chunk first resolves its keys against the runs, then works on the hot table, so ids are assigned
exactly as one pass over an unbounded table assigns them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fundtrail.ingest.bitcoin import fptable as ft
from fundtrail.ingest.bitcoin.fptable import FingerprintTable
from fundtrail.ingest.bitcoin.spill import SpillRuns

LOAD = 0.7  # the hot table's maximum load factor, as FingerprintTable's


def slot_bytes(n_values: int) -> int:
    """Bytes per hot-table slot: two key words, the used flag, the values."""
    return 17 + 8 * n_values


def hot_capacity(budget: int, n_values: int) -> int:
    """The largest power-of-two capacity whose growth peak (old and new arrays: 1.5x) fits."""
    cap = 16
    while cap * 3 * slot_bytes(n_values) <= budget:  # (2 cap) * 1.5 <= budget
        cap *= 2
    return cap


class SpillingTable(FingerprintTable):
    """A `FingerprintTable` using at most about `budget` bytes of memory, spilling to `directory`."""

    def __init__(self, n_values: int, directory: Path, budget: int, *, max_hot: int | None = None) -> None:
        cap = hot_capacity(budget, n_values)
        hot = max(2, int(LOAD * cap)) if max_hot is None else max(2, max_hot)
        while hot > LOAD * cap:
            cap *= 2
        super().__init__(n_values, capacity=min(cap, 1 << 16))
        self.max_cap, self.max_hot = cap, hot
        # Merges work a key-prefix partition at a time: 2^bits partitions of about 256 entries
        # per hot-table eviction, so a merge of runs as large as the whole spill of a full chain
        # needs a few hot tables' worth of memory, and small merges are not cut into slivers.
        bits = max(2, min(12, self.max_hot.bit_length() - 8))
        bloom = max(4096, budget // 16)
        self.spill = SpillRuns(directory, n_values, bits=bits, bloom_bytes=bloom)
        self.spill.merge_rows = max(1024, self.max_hot // 2)  # a merge step: half a hot table
        self.hot_count = 0
        self.evicted = 0

    # -- sizes ------------------------------------------------------------------------------
    @property  # type: ignore[override]  # the base class keeps count as a plain attribute
    def count(self) -> int:
        return self.hot_count + self.spill.count

    @count.setter
    def count(self, value: int) -> None:
        self.hot_count = value  # the base __init__ sets it

    @property
    def nbytes(self) -> int:
        return super().nbytes + self.spill.nbytes

    # -- the hot table ----------------------------------------------------------------------
    def reserve(self, extra: int) -> None:
        """Make room in the hot table for `extra` more keys (extra <= max_hot // 2), evicting the
        oldest entries to disk when the table is full."""
        if self.hot_count + extra > self.max_hot:  # evict down to half full (room for `extra`)
            self._evict(self.hot_count - min(self.max_hot - extra, self.max_hot // 2))
        need = self.hot_count + extra
        if need <= LOAD * self.capacity:
            return
        cap = self.capacity
        while need > LOAD * cap and cap < self.max_cap:
            cap *= 2
        old_used = self.used
        a, b, v = self.k1[old_used], self.k2[old_used], self.vals[old_used]
        del old_used
        self._alloc(cap)
        ft._insert_many(self.k1, self.k2, self.used, self.vals, a, b, v)

    def _evict(self, n: int) -> None:
        """Move the `n` (or more) entries with the smallest ids to the runs."""
        n = min(n, self.hot_count)
        if n <= 0:
            return
        used = np.flatnonzero(self.used)
        ids = self.vals[used, 0]
        if n < len(used):
            thr = np.partition(ids, n - 1)[n - 1]
            used = used[ids <= thr]
        del ids
        a, b, v = self.k1[used], self.k2[used], self.vals[used]
        del used
        out = np.zeros((len(a), self.n_values), np.int64)
        gone = np.zeros(len(a), np.bool_)
        self.hot_count -= int(ft._pop_many(self.k1, self.k2, self.used, self.vals, a, b, out, gone))
        self.spill.add(a, b, v)
        self.evicted += len(a)

    def _chunks(self, n: int) -> list[tuple[int, int]]:
        step = max(1, self.max_hot // 2)
        return [(i, min(n, i + step)) for i in range(0, n, step)] or [(0, 0)]

    # -- the interface decode uses ----------------------------------------------------------
    def insert(self, a: np.ndarray, b: np.ndarray, values: np.ndarray) -> None:
        """Insert rows (overwriting keys present, in memory or spilled)."""
        for lo, hi in self._chunks(len(a)):
            ca, cb = a[lo:hi], b[lo:hi]
            self.reserve(hi - lo)
            if self.spill.has_runs:
                self.spill.find(ca, cb, delete=True)  # a spilled copy would outlive the new value
            self.hot_count += int(ft._insert_many(self.k1, self.k2, self.used, self.vals, ca, cb,
                                                  values[lo:hi]))

    def get_or_assign(self, a: np.ndarray, b: np.ndarray, next_id: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Map keys to ids in column 0, assigning new consecutive ids; returns (ids, is_new, next_id)."""
        ids = np.empty(len(a), np.int64)
        new = np.zeros(len(a), np.bool_)
        for lo, hi in self._chunks(len(a)):
            ca, cb = a[lo:hi], b[lo:hi]
            self.reserve(hi - lo)
            if not self.spill.has_runs:  # nothing spilled yet: one pass, as FingerprintTable
                cids = ids[lo:hi]
                cnew = new[lo:hi]
                nxt = int(ft._get_or_assign(self.k1, self.k2, self.used, self.vals, ca, cb, next_id, cids, cnew))
                self.hot_count += nxt - next_id
                next_id = nxt
                continue
            hv, hf = FingerprintTable.lookup(self, ca, cb)
            miss = np.flatnonzero(~hf)
            sv, sf = self.spill.find(ca[miss], cb[miss], delete=False)
            cids = hv[:, 0].copy()
            cids[miss[sf]] = sv[sf, 0]
            rest = miss[~sf]
            rid = np.empty(len(rest), np.int64)
            rnew = np.empty(len(rest), np.bool_)
            nxt = int(ft._get_or_assign(self.k1, self.k2, self.used, self.vals, ca[rest], cb[rest],
                                        next_id, rid, rnew))
            self.hot_count += nxt - next_id
            next_id = nxt
            cids[rest] = rid
            ids[lo:hi] = cids
            new[lo + rest] = rnew
        return ids, new, next_id

    def lookup(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (values, found) without changing the table."""
        out, found = FingerprintTable.lookup(self, a, b)
        miss = np.flatnonzero(~found)
        if len(miss):
            sv, sf = self.spill.find(a[miss], b[miss], delete=False)
            out[miss[sf]] = sv[sf]
            found[miss[sf]] = True
        return out, found

    def pop(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (values, found) and delete the found keys."""
        out = np.zeros((len(a), self.n_values), np.int64)
        found = np.zeros(len(a), np.bool_)
        self.hot_count -= int(ft._pop_many(self.k1, self.k2, self.used, self.vals, a, b, out, found))
        miss = np.flatnonzero(~found)
        if len(miss):
            sv, sf = self.spill.find(a[miss], b[miss], delete=True)
            out[miss[sf]] = sv[sf]
            found[miss[sf]] = True
        return out, found

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (k1, k2, values) entry, hot and spilled (tests and full scans; not bounded)."""
        parts = [(self.k1[self.used], self.k2[self.used], self.vals[self.used]), *self.spill.iter_live()]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]))
