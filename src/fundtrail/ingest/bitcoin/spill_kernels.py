"""numba kernels of the spilled runs (`spill.py`): binary search in a sorted run, a Bloom filter."""

from __future__ import annotations

import numba as nb
import numpy as np

BLOOM_PROBES = 3


@nb.njit(cache=True)
def probe(k1, k2, dead, a, b, todo, pos):
    """For each query r with todo[r], the position of (a[r], b[r]) among the live entries of one
    sorted run (k1 ascending, k2 ascending within equal k1), or -1."""
    n = k1.shape[0]
    for r in range(a.shape[0]):
        pos[r] = -1
        if not todo[r]:
            continue
        lo, hi = 0, n
        x = a[r]
        while lo < hi:
            mid = (lo + hi) >> 1
            if k1[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        while lo < n and k1[lo] == x:
            if k2[lo] == b[r] and (dead.shape[0] == 0 or not (dead[lo >> 3] >> (lo & 7)) & 1):
                pos[r] = lo
                break
            lo += 1


@nb.njit(cache=True, inline="always")
def bloom_slot(a, b, i, mask):
    return np.int64((b + np.uint64(i) * (a | np.uint64(1))) & mask)


@nb.njit(cache=True)
def bloom_add(bits, a, b):
    mask = np.uint64(bits.shape[0] * 8 - 1)
    for r in range(a.shape[0]):
        for i in range(BLOOM_PROBES):
            s = bloom_slot(a[r], b[r], i, mask)
            bits[s >> 3] |= np.uint8(1 << (s & 7))


@nb.njit(cache=True)
def bloom_test(bits, a, b, out):
    mask = np.uint64(bits.shape[0] * 8 - 1)
    for r in range(a.shape[0]):
        hit = True
        for i in range(BLOOM_PROBES):
            s = bloom_slot(a[r], b[r], i, mask)
            if not (bits[s >> 3] >> (s & 7)) & 1:
                hit = False
                break
        out[r] = hit
