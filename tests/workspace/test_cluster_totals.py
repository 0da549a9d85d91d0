"""A UTXO cluster's totals from the graph index (`workspace.cluster_totals`) equal the lake's SQL
(`cluster.query.totals`, the oracle: joins over outputs, inputs and blocks) for every cluster of a
simulated, clustered chain (and a sample of the singletons); and the cluster page's
`Workspace.cluster` uses them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fundtrail.cli.main import main
from fundtrail.cluster import query
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.settings import Settings
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.workspace import Workspace
from fundtrail.workspace.cluster_totals import utxo_totals

CHAIN = "btc-regtest"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cluster-totals")
    simulate(base / "sim", seed=23, txs=1500)
    root = base / "store"
    assert main(["-q", "--store", str(root), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    assert main(["-q", "--store", str(root), "cluster", "run"]) == 0
    return root


def test_index_totals_equal_the_lakes_for_every_cluster(store: Path) -> None:
    ws = Workspace.open(Settings.load(store=store))
    g = ws.graph_index(CHAIN)
    st = Store.open(store)
    cl = query.load_clustering(st, CHAIN)
    roots, sizes = np.unique(cl.labels, return_counts=True)
    assert sizes.max() > 20 and (sizes == 1).any()  # service clusters and singletons both checked
    checked = np.concatenate([roots[sizes > 1], roots[sizes == 1][::40]])  # every multi-address cluster
    with open_snapshot(st, CHAIN) as snap:
        for root in checked:
            members = cl.members(int(root))
            want = query.totals(snap, members)
            assert utxo_totals(g, members) == want, int(root)
        assert utxo_totals(g, np.array([10**9], np.int64)) is None  # beyond the index: the lake answers


def test_the_cluster_result_uses_them(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace.open(Settings.load(store=store))
    st = Store.open(store)
    cl = query.load_clustering(st, CHAIN)
    roots, sizes = np.unique(cl.labels, return_counts=True)
    big = int(roots[int(np.argmax(sizes))])
    with monkeypatch.context() as m:  # the oracle: the index declines, the lake sums
        m.setattr("fundtrail.workspace.clusters.utxo_totals", lambda g, members: None)
        lake = ws.cluster(str(big), chain=CHAIN)

    def no_lake_totals(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cluster's totals were summed over the lake")

    monkeypatch.setattr(query, "totals", no_lake_totals)
    assert ws.cluster(str(big), chain=CHAIN) == lake


def test_member_texts_from_the_index_equal_the_lakes(store: Path) -> None:
    """Members' address texts made from the graph index equal the lake's (`query.address_texts`),
    and the page's one-snapshot call equals the two separate ones."""
    ws = Workspace.open(Settings.load(store=store))
    st = Store.open(store)
    cl = query.load_clustering(st, CHAIN)
    roots, sizes = np.unique(cl.labels, return_counts=True)
    for root in roots[np.argsort(sizes)[-5:]]:
        page = ws.cluster_members(str(int(root)), chain=CHAIN, limit=1000)
        with open_snapshot(st, CHAIN) as snap:
            want = query.address_texts(snap, cl.members(int(root)))
        assert {m.address_id: m.address for m in page.members} == want
        both = ws.cluster_with_members(str(int(root)), chain=CHAIN, limit=7)
        assert both == (ws.cluster(str(int(root)), chain=CHAIN),
                        ws.cluster_members(str(int(root)), chain=CHAIN, limit=7))
