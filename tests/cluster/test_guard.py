"""The super-cluster guard: large joins, abnormal growth, conflicting service labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from fundtrail.cluster import runs
from fundtrail.cluster.engine import run_clustering
from fundtrail.cluster.guard import GuardLimits
from fundtrail.cluster.query import load_clustering

CHAIN = "btc-regtest"


def test_large_joins_are_the_unions_of_two_large_clusters(tmp_path: Path, sample_blocks, ingest_blocks) -> None:
    store = ingest_blocks(tmp_path / "store", sample_blocks)
    s = run_clustering(store, CHAIN, limits=GuardLimits(join_min=3))
    ev = pq.read_table(runs.run_dir(store, runs.latest_run(store, CHAIN)) / runs.EVIDENCE).to_pydict()
    want = {tx[::-1].hex() for tx, i, a in zip(ev["txid"], ev["into_size"], ev["absorbed_size"]) if min(i, a) >= 3}
    got = [sp for sp in s.suspects if sp.reason == "large_join"]
    assert want and {sp.detail.split()[1] for sp in got} == want
    labels = load_clustering(store, CHAIN).labels
    for sp in got:
        assert sp.size == int((labels == sp.cluster_id).sum())


def test_growth_is_measured_against_the_largest_earlier_part(tmp_path: Path, sample_blocks,
                                                             ingest_blocks) -> None:
    store = ingest_blocks(tmp_path / "store", sample_blocks[:30])
    run_clustering(store, CHAIN)
    before = np.asarray(load_clustering(store, CHAIN).labels)
    ingest_blocks(tmp_path / "store", sample_blocks)
    limits = GuardLimits(join_min=10**9, growth_abs=10**9, growth_factor=2.0, growth_min_size=3)
    s = run_clustering(store, CHAIN, limits=limits)
    after = np.asarray(load_clustering(store, CHAIN).labels)
    # independently: per cluster after the run, its largest part before the run
    before_size = np.bincount(before)[before]
    core = np.ones(len(after), np.int64)
    np.maximum.at(core, after[:len(before)], before_size)
    size = np.bincount(after, minlength=len(after))
    want = {c for c in np.flatnonzero(size >= 3) if size[c] >= 2 * core[c]}
    got = {sp.cluster_id: sp for sp in s.suspects if sp.reason == "growth"}
    assert want and set(got) == want
    for c, sp in got.items():
        assert sp.size == size[c] and f"grew from {core[c]:,} to {size[c]:,}" in sp.detail


def test_two_service_labels_in_one_cluster_are_flagged(hand) -> None:
    ids = hand.ids
    labels = {ids[5]: "exchange-a", ids[9]: "exchange-b", ids[1]: "exchange-a", ids[2]: "exchange-a"}
    asked: list[np.ndarray] = []

    def service_labels(address_ids: np.ndarray) -> dict[int, str]:
        asked.append(address_ids)
        return {int(a): labels[int(a)] for a in address_ids if int(a) in labels}

    s = run_clustering(hand.store, CHAIN, service_labels=service_labels)
    (sp,) = [sp for sp in s.suspects if sp.reason == "service_conflict"]
    assert sp.cluster_id == min(ids[k] for k in (5, 6, 8, 9)) and sp.size == 4
    assert "exchange-a" in sp.detail and "exchange-b" in sp.detail
    # the hook is asked about members of the clusters this run touched, not every address
    assert set(asked[0].tolist()) == {ids[k] for k in (1, 2, 3, 7, 5, 6, 8, 9)}
