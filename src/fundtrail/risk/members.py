"""Members of clusters, for summing a cluster's exposure: an index when it fits, else a scan.

A cluster's exposure sums its members' (the first `cap` by address id). The quick way is an index
of the addresses ordered by cluster (16 bytes per address, plus the sort's temporary): made once,
then a cluster is one slice. Under a small `memory_limit` that index is more than the budget
leaves for it (docs/scale.md), so the members are found by scanning the cluster labels a range of
address ids at a time: a pass over the labels per batch of clusters, with temporaries the size of
one range and of the members found. Both give the same members in the same order (address order
within a cluster, clusters in the order asked), so the exposure sums are identical.
"""

from __future__ import annotations

import numpy as np

#: Address ids per range of a scan.
RANGE = 1 << 20
#: Bytes per address of the index (order and sorted labels, and the sort's temporary).
_INDEX_BYTES = 24


class ClusterMembers:
    """Members of clusters by cluster id, over `labels` (address id -> cluster id)."""

    def __init__(self, labels: np.ndarray, memory_limit: int | None, *, range_rows: int = RANGE) -> None:
        self.labels = labels
        self.range_rows = max(1, range_rows)
        n = int(labels.shape[0])
        #: the index is made when it takes at most a quarter of the limit (or there is none)
        self.indexed = memory_limit is None or n * _INDEX_BYTES <= memory_limit // 4
        self._index: tuple[np.ndarray, np.ndarray] | None = None

    def _ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """(address ids ordered by cluster, then id; their cluster ids), made once."""
        if self._index is None:
            labels = np.asarray(self.labels)
            order = np.argsort(labels, kind="stable")
            self._index = (order, labels[order])
        return self._index

    def sizes(self, cids: np.ndarray) -> np.ndarray:
        """Members of each of `cids` (sorted, distinct)."""
        if self.indexed:
            _, ordered = self._ordered()
            return np.searchsorted(ordered, cids, "right") - np.searchsorted(ordered, cids, "left")
        out = np.zeros(cids.shape[0], np.int64)
        if not cids.size:
            return out
        n = int(self.labels.shape[0])
        for lo in range(0, n, self.range_rows):
            lab = np.asarray(self.labels[lo:min(n, lo + self.range_rows)])
            pos = np.minimum(np.searchsorted(cids, lab), cids.size - 1)
            out += np.bincount(pos[cids[pos] == lab], minlength=cids.size)
        return out

    def members(self, cids: np.ndarray, cap: int) -> np.ndarray:
        """The first `cap` members (by address id) of each of `cids` (sorted, distinct), one
        cluster after the other."""
        if self.indexed:
            order, ordered = self._ordered()
            lo = np.searchsorted(ordered, cids, "left")
            n = np.minimum(np.searchsorted(ordered, cids, "right") - lo, cap)
            offsets = np.cumsum(n) - n
            return order[np.arange(int(n.sum())) - np.repeat(offsets, n) + np.repeat(lo, n)]
        seen = np.zeros(cids.shape[0], np.int64)
        found_pos: list[np.ndarray] = []
        found_ids: list[np.ndarray] = []
        n_all = int(self.labels.shape[0])
        for start in range(0, n_all if cids.size else 0, self.range_rows):
            lab = np.asarray(self.labels[start:min(n_all, start + self.range_rows)])
            pos = np.minimum(np.searchsorted(cids, lab), cids.size - 1)
            hit = np.flatnonzero(cids[pos] == lab)
            if not hit.size:
                continue
            by = np.argsort(pos[hit], kind="stable")  # grouped by cluster, address order kept
            p, ids = pos[hit][by], hit[by] + start
            starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
            counts = np.diff(np.r_[starts, p.size])
            rank = np.arange(p.size) - np.repeat(starts, counts) + seen[p]
            seen[p[starts]] += counts
            keep = rank < cap
            found_pos.append(p[keep])
            found_ids.append(ids[keep])
        if not found_pos:
            return np.zeros(0, np.int64)
        pos_all = np.concatenate(found_pos)
        return np.concatenate(found_ids)[np.argsort(pos_all, kind="stable")].astype(np.int64)

    def clusters_of_size(self, min_members: int) -> np.ndarray:
        """Cluster ids (sorted) with at least `min_members` members."""
        if self.indexed:
            _, ordered = self._ordered()
            if not ordered.size:
                return np.zeros(0, np.int64)
            starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
            sizes = np.diff(np.r_[starts, ordered.size])
            return ordered[starts[sizes >= min_members]].astype(np.int64)
        counts = np.zeros(0, np.int64)
        n = int(self.labels.shape[0])
        for lo in range(0, n, self.range_rows):
            part = np.bincount(np.asarray(self.labels[lo:min(n, lo + self.range_rows)]))
            if part.size > counts.size:
                counts = np.concatenate([counts, np.zeros(part.size - counts.size, np.int64)])
            counts[:part.size] += part
        return np.flatnonzero(counts >= min_members).astype(np.int64)
