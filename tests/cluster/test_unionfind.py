"""The numba union-find against known answers and against graphsense-clustering (the Rust one)."""

from __future__ import annotations

import numpy as np
import pytest

from fundtrail.cluster import graphsense
from fundtrail.cluster.unionfind import UnionFind


def _reference_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components by repeated min-label propagation: slow, obviously right."""
    lab = np.arange(n)
    while True:
        m = np.minimum(lab[a], lab[b])
        new = lab.copy()
        np.minimum.at(new, a, m)
        np.minimum.at(new, b, m)
        new = new[new]
        if (new == lab).all():
            return lab
        lab = new


def test_known_answer_and_join_records() -> None:
    uf = UnionFind(8)
    j = uf.union_edges(np.array([5, 6, 5, 2, 1]), np.array([6, 7, 7, 1, 6]))
    assert j.mask.tolist() == [True, True, False, True, True]
    # (5,6) -> into 5; (6,7) -> into 5; (2,1) -> into 1; (1,6): clusters 1 and 5 -> into 1
    assert j.into.tolist() == [5, 5, 1, 1]
    assert j.absorbed.tolist() == [6, 7, 2, 5]
    assert j.into_size.tolist() == [1, 2, 1, 2]
    assert j.absorbed_size.tolist() == [1, 1, 1, 3]
    assert uf.labels().tolist() == [0, 1, 1, 3, 4, 1, 1, 1]
    assert uf.set_size(np.array([7, 0])).tolist() == [5, 1]


def test_saved_arrays_round_trip_and_growth_within_and_beyond_capacity() -> None:
    uf = UnionFind(6, capacity=7)
    uf.union_edges(np.array([4, 1]), np.array([2, 4]))
    again = UnionFind.from_arrays(uf.parent.copy(), uf.size.copy(), 6)
    assert again.grow(7) is False  # within capacity: no copy
    assert again.grow(8) is True
    j = again.union_edges(np.array([7, 2]), np.array([4, 6]))
    assert j.mask.tolist() == [True, True]
    assert again.labels().tolist() == [0, 1, 1, 3, 1, 5, 1, 1]
    assert again.set_size(np.array([7, 0])).tolist() == [5, 1]


def test_out_of_range_edges_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        UnionFind(3).union_edges(np.array([0]), np.array([3]))


@pytest.mark.parametrize("seed,n,m", [(1, 50, 30), (2, 2000, 1500), (3, 100_000, 90_000), (4, 10, 200)])
def test_numba_graphsense_and_reference_agree_on_random_graphs(seed: int, n: int, m: int) -> None:
    if not graphsense.available():
        pytest.skip("graphsense-clustering is not installed")
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    uf = UnionFind(n)
    joins = uf.union_edges(a, b)
    ours = uf.labels()
    assert np.array_equal(ours, graphsense.edge_labels(n, a, b))
    assert np.array_equal(ours, _reference_labels(n, a, b))
    # a spanning forest: one join per merge, so clusters = n - joins
    assert len(np.unique(ours)) == n - int(joins.mask.sum())


def test_graphsense_groups_match_star_edges() -> None:
    if not graphsense.available():
        pytest.skip("graphsense-clustering is not installed")
    ptr = np.array([0, 3, 5, 6, 9])
    members = np.array([0, 4, 9, 2, 3, 7, 9, 8, 3])
    labels = graphsense.cluster_labels(11, ptr, members)
    # {0,4,9} + {9,8,3} + {2,3} are one cluster through 9 and 3
    assert labels.tolist() == [0, 1, 0, 0, 0, 5, 6, 7, 0, 0, 10]
