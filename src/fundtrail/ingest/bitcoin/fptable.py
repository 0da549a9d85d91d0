"""Open-addressing hash tables keyed by 128-bit fingerprints, in numba.

Ingest needs two maps that a Python dict cannot hold at chain scale: address -> address id, and
unspent output -> (output id, value, address id). Both keys are already (or are derived from)
cryptographic hashes, so the first 16 bytes are a uniformly random 128-bit fingerprint; a false
match between two different keys has probability about n^2 / 2^129 (under 1e-20 for the whole
Bitcoin chain). Memory per entry is 16 bytes of key, 8 bytes per value and one flag byte, at a load
factor kept under 0.7.

Linear probing with backward-shift deletion keeps lookups fast after many deletions (the UTXO set
churns constantly) without tombstones.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_MIX = np.uint64(0x9E3779B97F4A7C15)


@nb.njit(cache=True, inline="always")
def _home(a: np.uint64, b: np.uint64, mask: np.uint64) -> np.int64:
    return np.int64(((a ^ (b >> np.uint64(17))) * _MIX >> np.uint64(20)) & mask)


@nb.njit(cache=True, nogil=True)
def _find(k1, k2, used, a, b):
    mask = np.uint64(k1.shape[0] - 1)
    i = _home(a, b, mask)
    while used[i]:
        if k1[i] == a and k2[i] == b:
            return i
        i = (i + 1) & np.int64(mask)
    return -1 - i  # not found: encode the free slot where it would go


@nb.njit(cache=True, nogil=True)
def _delete_at(k1, k2, used, vals, i):
    mask = np.int64(k1.shape[0] - 1)
    j = i
    while True:
        j = (j + 1) & mask
        if not used[j]:
            break
        h = _home(k1[j], k2[j], np.uint64(mask))
        # keep j where it is if its home lies cyclically in (i, j]
        if i <= j:
            stay = i < h <= j
        else:
            stay = h > i or h <= j
        if not stay:
            k1[i] = k1[j]
            k2[i] = k2[j]
            vals[i, :] = vals[j, :]
            i = j
    used[i] = False


@nb.njit(cache=True, nogil=True)
def _insert_many(k1, k2, used, vals, a, b, v):
    """Insert or overwrite rows; returns the number of new keys."""
    new = 0
    for r in range(a.shape[0]):
        s = _find(k1, k2, used, a[r], b[r])
        if s < 0:
            s = -1 - s
            used[s] = True
            k1[s] = a[r]
            k2[s] = b[r]
            new += 1
        vals[s, :] = v[r, :]
    return new


@nb.njit(cache=True, nogil=True)
def _get_or_assign(k1, k2, used, vals, a, b, next_id, out_id, out_new):
    """Look up each key; unseen keys get consecutive ids from next_id. Returns the next free id."""
    for r in range(a.shape[0]):
        s = _find(k1, k2, used, a[r], b[r])
        if s >= 0:
            out_id[r] = vals[s, 0]
            out_new[r] = False
        else:
            s = -1 - s
            used[s] = True
            k1[s] = a[r]
            k2[s] = b[r]
            vals[s, 0] = next_id
            out_id[r] = next_id
            out_new[r] = True
            next_id += 1
    return next_id


@nb.njit(cache=True, nogil=True)
def _lookup_many(k1, k2, used, vals, a, b, out, found):
    for r in range(a.shape[0]):
        s = _find(k1, k2, used, a[r], b[r])
        if s >= 0:
            out[r, :] = vals[s, :]
            found[r] = True
        else:
            found[r] = False


@nb.njit(cache=True, nogil=True)
def _pop_many(k1, k2, used, vals, a, b, out, found):
    """Look up and delete each key (spending outputs). Returns how many were found."""
    n = 0
    for r in range(a.shape[0]):
        s = _find(k1, k2, used, a[r], b[r])
        if s >= 0:
            out[r, :] = vals[s, :]
            found[r] = True
            _delete_at(k1, k2, used, vals, s)
            n += 1
        else:
            found[r] = False
    return n


class FingerprintTable:
    """A growable map from 128-bit fingerprints (two uint64 arrays) to rows of int64 values."""

    def __init__(self, n_values: int, capacity: int = 1 << 16) -> None:
        cap = 1 << max(4, int(capacity - 1).bit_length())
        self.n_values = n_values
        self.count = 0
        self._alloc(cap)

    def _alloc(self, cap: int) -> None:
        self.k1 = np.zeros(cap, np.uint64)
        self.k2 = np.zeros(cap, np.uint64)
        self.used = np.zeros(cap, np.bool_)
        self.vals = np.zeros((cap, self.n_values), np.int64)

    @property
    def capacity(self) -> int:
        return int(self.k1.shape[0])

    @property
    def nbytes(self) -> int:
        return self.k1.nbytes + self.k2.nbytes + self.used.nbytes + self.vals.nbytes

    def reserve(self, extra: int) -> None:
        """Grow (rehash) so that `extra` more keys keep the load factor under 0.7."""
        need = self.count + extra
        if need <= 0.7 * self.capacity:
            return
        cap = self.capacity
        while need > 0.7 * cap:
            cap *= 2
        old_used = self.used
        a, b, v = self.k1[old_used], self.k2[old_used], self.vals[old_used]
        self._alloc(cap)
        _insert_many(self.k1, self.k2, self.used, self.vals, a, b, v)

    def insert(self, a: np.ndarray, b: np.ndarray, values: np.ndarray) -> None:
        """Insert rows (overwriting keys already present)."""
        self.reserve(len(a))
        self.count += int(_insert_many(self.k1, self.k2, self.used, self.vals, a, b, values))

    def get_or_assign(self, a: np.ndarray, b: np.ndarray, next_id: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Map keys to ids in column 0, assigning new consecutive ids; returns (ids, is_new, next_id)."""
        self.reserve(len(a))
        ids = np.empty(len(a), np.int64)
        new = np.empty(len(a), np.bool_)
        nxt = int(_get_or_assign(self.k1, self.k2, self.used, self.vals, a, b, next_id, ids, new))
        self.count += nxt - next_id
        return ids, new, nxt

    def lookup(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (values, found) without changing the table."""
        out = np.zeros((len(a), self.n_values), np.int64)
        found = np.zeros(len(a), np.bool_)
        _lookup_many(self.k1, self.k2, self.used, self.vals, a, b, out, found)
        return out, found

    def pop(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (values, found) and delete the found keys."""
        out = np.zeros((len(a), self.n_values), np.int64)
        found = np.zeros(len(a), np.bool_)
        self.count -= int(_pop_many(self.k1, self.k2, self.used, self.vals, a, b, out, found))
        return out, found
