"""Super-cluster guard: flag clusters that are probably false merges.

One undetected CoinJoin or a misread change output can fuse an exchange with its customers into a
"super-cluster", and everything downstream (attribution, exposure) inherits the error. A run
therefore reports, without changing the clustering:
- `large_join`: one transaction joined two clusters that were both already large;
- `growth`: a cluster grew abnormally within the run (by many addresses, or by a large factor
  over its largest part before the run; incremental runs only, a full run has no "before");
- `service_conflict`: members carry two different service labels (through the optional
  `service_labels(address_ids) -> {address_id: label}` hook; tags are attached later).
The analyst reviews them and, where wrong, splits with an override.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

from fundtrail.cluster.unionfind import UnionFind
from fundtrail.store.spill import Spill, default_limit

ServiceLabels = Callable[[np.ndarray], Mapping[int, str]]


@dataclass(frozen=True)
class GuardLimits:
    """Thresholds of the guard (defaults suit a full chain; tests and small chains pass lower ones)."""

    join_min: int = 1_000  # both sides of one union at least this large
    growth_abs: int = 10_000  # or the cluster grew by this many addresses in one run
    growth_factor: float = 10.0  # or by this factor over its largest earlier part ...
    growth_min_size: int = 100  # ... reaching at least this size


@dataclass(frozen=True)
class Suspect:
    """A cluster the guard flags, with the reason and the details an analyst needs to check it."""

    cluster_id: int
    size: int
    reason: str
    detail: str

    def to_json(self) -> dict:
        return asdict(self)


def large_joins(tx_id: np.ndarray, into: np.ndarray, absorbed: np.ndarray, into_size: np.ndarray,
                absorbed_size: np.ndarray, limits: GuardLimits) -> list[tuple[int, int, int, int]]:
    """(tx_id, into, absorbed, smaller side size) of unions whose smaller side reached `join_min`."""
    smaller = np.minimum(into_size, absorbed_size)
    hit = np.flatnonzero(smaller >= limits.join_min)
    return [(int(tx_id[i]), int(into[i]), int(absorbed[i]), int(smaller[i])) for i in hit]


def track_growth(core: dict[int, int], into: np.ndarray, absorbed: np.ndarray, into_size: np.ndarray,
                 absorbed_size: np.ndarray) -> None:
    """Follow unions in order, keeping for each touched cluster the size of its largest part that
    existed before the run (an untouched cluster's part is its size at its first union)."""
    for i, ab, si, sa in zip(into.tolist(), absorbed.tolist(), into_size.tolist(), absorbed_size.tolist()):
        core[i] = max(core.get(i, si), core.pop(ab, sa))


def growth(uf: UnionFind, core: dict[int, int], limits: GuardLimits) -> list[Suspect]:
    """Clusters that grew abnormally in this run: final size against the largest earlier part."""
    out = []
    for root, base in sorted(core.items()):
        final = int(uf.size[root])
        if final - base >= limits.growth_abs or (final >= limits.growth_min_size
                                                 and final >= limits.growth_factor * base):
            out.append(Suspect(root, final, "growth", f"grew from {base:,} to {final:,} addresses in this run"))
    return out


#: Bytes per address of a guard chunk's temporaries: its labels, the membership test, the member
#: ids and what the hook holds per member it is asked about (DuckDB's semi-join, rendered texts).
_GUARD_ROW_BYTES = 64


def service_conflicts(labels: np.ndarray, candidates: np.ndarray, sizes: np.ndarray,
                      service_labels: ServiceLabels, *, memory_limit: int | None = None) -> list[Suspect]:
    """Clusters among `candidates` (cluster ids) whose members carry two or more service labels.

    The members are taken a range of address ids at a time, each range's members asked of the
    hook at once, so the temporaries stay within `memory_limit` (default `default_limit()`:
    without a limit, one range); each label is reported with its smallest member address id, so
    the verdicts are the same whatever the ranges."""
    if candidates.size == 0:
        return []
    want = np.unique(np.asarray(candidates, np.int64))
    limit = default_limit() if memory_limit is None else memory_limit
    step = min(Spill(None, limit, "guard").rows(_GUARD_ROW_BYTES), max(1, int(labels.shape[0])))
    per_cluster: dict[int, dict[str, int]] = {}
    for lo in range(0, int(labels.shape[0]), step):
        lab = np.asarray(labels[lo:lo + step])
        pos = np.minimum(np.searchsorted(want, lab), want.size - 1)
        members = np.flatnonzero(want[pos] == lab) + lo
        if not members.size:
            continue
        for addr, label in sorted(service_labels(members).items()):
            seen = per_cluster.setdefault(int(labels[int(addr)]), {})
            seen.setdefault(str(label), int(addr))
    out = []
    for cid, seen in sorted(per_cluster.items()):
        if len(seen) >= 2:
            names = ", ".join(f"{lab} (address id {a})" for lab, a in sorted(seen.items()))
            out.append(Suspect(cid, int(sizes[cid]), "service_conflict", f"members labelled {names}"))
    return out
