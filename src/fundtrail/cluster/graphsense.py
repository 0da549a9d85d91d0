"""Adapter around graphsense-clustering (`gs_clustering`, GraphSense's Rust union-find).

It computes the cluster mapping of multi-input groups (one list of input address ids per
transaction) but does not say which union joined two sets, so it cannot produce the evidence
forest: the engine runs the numba union-find (`cluster/unionfind.py`) and this adapter is the
independent second implementation it is checked against (tests), and a mapping-only fast path
(`cluster_labels`) for callers that need no explanations. Without the package installed,
`available()` is False and the numba union-find is the fallback everywhere.

Id conventions differ: gs_clustering treats id 0 as a placeholder and reads uint32 ids, so ids are
shifted by one on the way in and out; address ids must be below 2**32 - 1.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fundtrail.errors import UsageError

_MAX_ID = 2**32 - 2


def available() -> bool:
    """Whether graphsense-clustering is importable."""
    try:
        import gs_clustering  # noqa: F401
    except ImportError:
        return False
    return True


def cluster_labels(n: int, ptr: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Cluster id (smallest member id) of every address `0..n)`, for groups `members[ptr[i]:ptr[i+1]]`."""
    if n - 1 > _MAX_ID:
        raise UsageError(f"graphsense-clustering takes address ids below {_MAX_ID + 1}; this chain has {n}")
    try:
        from gs_clustering import Clustering
    except ImportError:
        raise UsageError("graphsense-clustering is not installed (pip install graphsense-clustering); "
                         "the numba union-find is the fallback") from None
    ptr = np.ascontiguousarray(ptr, np.int32 if ptr[-1] < 2**31 else np.int64)
    values = pa.array(np.asarray(members, np.int64) + 1, pa.uint32())
    lists = (pa.ListArray if ptr.dtype == np.int32 else pa.LargeListArray).from_arrays(pa.array(ptr), values)
    if lists.type != pa.list_(pa.uint32()):
        lists = lists.cast(pa.list_(pa.uint32()))
    clustering = Clustering(n)
    clustering.process_transactions_arrow(lists)
    mapping = clustering.get_mapping_min(True)
    labels = np.arange(n, dtype=np.int64)
    ids = mapping.column(0).to_numpy().astype(np.int64) - 1
    cids = mapping.column(1).to_numpy().astype(np.int64) - 1
    labels[ids] = cids
    return labels


def edge_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`cluster_labels` for pairwise edges (each edge a two-member group)."""
    members = np.empty(2 * len(a), np.int64)
    members[0::2] = a
    members[1::2] = b
    return cluster_labels(n, np.arange(0, 2 * len(a) + 1, 2, dtype=np.int64), members)
