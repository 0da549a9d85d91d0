"""Union-find over dense address ids (numba): link by minimum id, path halving, batch union of edges.

The root of every set is its smallest address id, so the root *is* the cluster id (the rule in
docs/clustering.md: the smallest address id ever in the cluster survives a merge) and no relabel
pass or extra id array is needed; a persisted parent array is directly a cluster-id mapping.
Path halving alone keeps finds amortised logarithmic, and on chain data, where links mostly join a
new address to an old cluster, it is faster than union by size (measured in benchmarks/).

This is the engine's union-find because it reports, for every edge, whether the union joined two
sets and the sizes of both: that is the evidence forest (one stored edge per join explains every
link) and the input of the super-cluster guard. It is the oracle the graphsense-clustering adapter
is tested against (`cluster/graphsense.py`).

Arrays have a capacity beyond the address count (identity / size 1 there), so a state loaded
copy-on-write from disk grows by new addresses without being copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from fundtrail.store.spill import Spill


@numba.njit(cache=True, nogil=True)
def _find(parent: np.ndarray, x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving
        x = parent[x]
    return x


@numba.njit(cache=True, nogil=True)
def _union_edges(parent: np.ndarray, size: np.ndarray, a: np.ndarray, b: np.ndarray, joined: np.ndarray,
                 into: np.ndarray, absorbed: np.ndarray, into_size: np.ndarray, absorbed_size: np.ndarray) -> int:
    n = 0
    for i in range(a.shape[0]):
        ra = _find(parent, a[i])
        rb = _find(parent, b[i])
        if ra == rb:
            continue
        if rb < ra:
            ra, rb = rb, ra
        into[i], absorbed[i] = ra, rb
        into_size[i], absorbed_size[i] = size[ra], size[rb]
        parent[rb] = ra
        size[ra] += size[rb]
        joined[i] = True
        n += 1
    return n


@numba.njit(cache=True, nogil=True)
def _union_only(parent: np.ndarray, size: np.ndarray, a: np.ndarray, b: np.ndarray) -> int:
    n = 0
    for i in range(a.shape[0]):
        ra = _find(parent, a[i])
        rb = _find(parent, b[i])
        if ra == rb:
            continue
        if rb < ra:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
        n += 1
    return n


@numba.njit(cache=True, nogil=True)
def _labels(parent: np.ndarray, n: int, out: np.ndarray) -> None:
    for x in range(n):
        out[x] = _find(parent, x)


@numba.njit(cache=True, nogil=True)
def _count(labels: np.ndarray, out: np.ndarray) -> None:
    for x in range(labels.shape[0]):
        out[labels[x]] += 1


def count_members(labels: np.ndarray, out: np.ndarray) -> np.ndarray:
    """`np.bincount(labels, minlength=len(out))` into `out` (zeros; may be a spilled array), with no
    temporary the size of the result."""
    _count(labels, out)
    return out


@numba.njit(cache=True, nogil=True)
def _find_many(parent: np.ndarray, xs: np.ndarray, out: np.ndarray) -> None:
    for i in range(xs.shape[0]):
        out[i] = _find(parent, xs[i])


@dataclass(frozen=True)
class Joins:
    """Which edges of a batch joined two sets (`mask`, per edge) and, for the joining edges in edge
    order: the surviving cluster id, the absorbed one, and both sizes just before the union."""

    mask: np.ndarray
    into: np.ndarray
    absorbed: np.ndarray
    into_size: np.ndarray
    absorbed_size: np.ndarray


class UnionFind:
    """Disjoint sets over address ids `0..n)`; grows as new addresses appear."""

    def __init__(self, n: int = 0, capacity: int | None = None, spill: Spill | None = None) -> None:
        cap = max(n, capacity or 0)
        self.spill = spill  # where grown arrays go: memory while they fit its budget, else files
        self.parent, self.size = self._new(cap)
        self.n = n

    def _new(self, cap: int) -> tuple[np.ndarray, np.ndarray]:
        if self.spill is None:
            return np.arange(cap, dtype=np.int64), np.ones(cap, dtype=np.int64)
        return self.spill.arange("uf_parent", cap), self.spill.array("uf_size", cap, np.int64, 1)

    @classmethod
    def from_arrays(cls, parent: np.ndarray, size: np.ndarray, n: int, spill: Spill | None = None) -> UnionFind:
        """Adopt existing arrays (e.g. memory-mapped copy-on-write), `n` ids in use."""
        if parent.shape != size.shape or n > parent.shape[0]:
            raise ValueError("parent and size arrays disagree with the address count")
        uf = cls(0, spill=spill)
        uf.parent, uf.size, uf.n = parent, size, n
        return uf

    def __len__(self) -> int:
        return self.n

    @property
    def capacity(self) -> int:
        return int(self.parent.shape[0])

    def grow(self, n: int) -> bool:
        """Make room for ids up to `n` (new singletons); returns True if the arrays were reallocated."""
        if n <= self.n:
            return False
        if n <= self.capacity:
            self.n = n
            return False
        cap = max(n, self.capacity + self.capacity // 4 + 1024)
        parent, size = self._new(cap)
        step = self.spill.rows(16) if self.spill is not None else max(1, self.n)
        for lo in range(0, self.n, step):  # a chunk at a time: either side may be a mapped file
            hi = min(lo + step, self.n)
            parent[lo:hi] = self.parent[lo:hi]
            size[lo:hi] = self.size[lo:hi]
        if self.spill is not None:
            self.spill.release(self.parent)
            self.spill.release(self.size)
        self.parent, self.size, self.n = parent, size, n
        return True

    def union_edges(self, a: np.ndarray, b: np.ndarray) -> Joins:
        """Union every edge (a[i], b[i]) in order; report the edges that joined two sets."""
        a, b = self._check(a, b)
        m = a.shape[0]
        joined = np.zeros(m, np.bool_)
        into, absorbed = np.empty(m, np.int64), np.empty(m, np.int64)
        isz, asz = np.empty(m, np.int64), np.empty(m, np.int64)
        _union_edges(self.parent, self.size, a, b, joined, into, absorbed, isz, asz)
        return Joins(joined, into[joined], absorbed[joined], isz[joined], asz[joined])

    def union_count(self, a: np.ndarray, b: np.ndarray) -> int:
        """Union every edge without recording joins (replaying stored evidence); returns the joins."""
        a, b = self._check(a, b)
        return int(_union_only(self.parent, self.size, a, b))

    def find(self, xs: np.ndarray) -> np.ndarray:
        """Cluster ids (roots) of the given ids."""
        xs = np.ascontiguousarray(xs, np.int64)
        out = np.empty(xs.shape[0], np.int64)
        _find_many(self.parent, xs, out)
        return out

    def set_size(self, xs: np.ndarray) -> np.ndarray:
        """Size of the set of each given id."""
        return self.size[self.find(xs)]

    def labels(self, out: np.ndarray | None = None) -> np.ndarray:
        """Cluster id of every address `0..n)`: the smallest address id of its set (into `out`,
        e.g. a spilled array, when given)."""
        if out is None:
            out = np.empty(self.n, np.int64)
        _labels(self.parent, self.n, out)
        return out

    def _check(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = np.ascontiguousarray(a, np.int64)
        b = np.ascontiguousarray(b, np.int64)
        if a.shape != b.shape:
            raise ValueError("edge arrays differ in length")
        if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= self.n):
            raise ValueError(f"edge endpoint outside 0..{self.n - 1}")
        return a, b
