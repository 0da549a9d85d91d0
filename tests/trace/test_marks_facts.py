"""Trace marks from memory (`MarkFacts` + the graph index) equal the marks from the lake's SQL.

A long-lived workspace builds the `TxView` the CoinJoin and change rules read from the graph index
plus a few in-memory columns instead of three joins over the lake per trace. The rules must see
the very same view, so this compares every array of it (values and types) and the marks, on the
simulator's peel-chain and CoinJoin exercises and on a real mainnet block (varied versions,
locktimes, sequences and scripts, OP_RETURN outputs, inputs whose funding is not in the store).
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest

from fundtrail.cluster.txview import TxView
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir, ingest_raw_files
from fundtrail.sim.exercises import make_exercise
from fundtrail.store import Store
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.marks import MarkFacts, _graph_view, _load_view, marks_for

BLOCK_574200 = "block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk"


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> dict[str, tuple[Store, str]]:
    base = tmp_path_factory.mktemp("facts")
    out = {}
    for name in ("peel-chain", "coinjoin"):
        make_exercise(base / name, name, seed=11)
        store = Store.open(base / f"{name}-store")
        ingest_blocks_dir(store, base / name / "blocks")
        out[name] = (store, "btc-regtest")
    store = Store.open(base / "mainnet-store")
    ingest_raw_files(store, [testdata / "btc-raw-blocks" / "btcd" / BLOCK_574200])
    out["mainnet-574200"] = (store, "btc")
    return out


def _assert_same_view(a: TxView, b: TxView) -> None:
    for f in dataclasses.fields(TxView):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if x is None and y is None:
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, f.name
        assert np.array_equal(x, y), f.name


def _wants(n: int) -> list[list[int]]:
    rng = random.Random(n)
    return [list(range(n)), [0], [n - 1], sorted(rng.sample(range(n), min(n, 7))),
            sorted(rng.sample(range(n), n // 3)), [n - 1, n + 5]]  # n + 5: not in the store


@pytest.mark.parametrize("name", ["peel-chain", "coinjoin", "mainnet-574200"])
def test_memory_view_and_marks_equal_the_sql_path(stores: dict, name: str) -> None:
    store, chain = stores[name]
    g = GraphIndex.ensure(store, chain)
    facts = MarkFacts.load(store, chain, g)
    assert facts is not None and facts.fits(g)
    p = chain.replace("-", "_")
    for want in _wants(g.n_tx):
        with store.query() as con:
            by_sql = _load_view(con, p, want, None)  # parents, spenders and spends by joins
            by_graph_sql = _load_view(con, p, want, g)
        mem = _graph_view(g, facts, want)
        _assert_same_view(by_sql, mem)
        _assert_same_view(by_graph_sql, mem)
        assert marks_for(store, chain, want, g, facts) == marks_for(store, chain, want)
    marks = marks_for(store, chain, range(g.n_tx), g, facts)
    assert any(m.change for m in marks.values())  # the rules did vote on these views
    if name == "coinjoin":
        assert any(m.coinjoin for m in marks.values())


def test_facts_decline_a_chain_too_large_and_a_stale_graph(stores: dict) -> None:
    store, chain = stores["peel-chain"]
    g = GraphIndex.ensure(store, chain)
    assert MarkFacts.load(store, chain, g, max_bytes=1000) is None
    facts = MarkFacts.load(store, chain, g)
    assert facts is not None
    other, other_chain = stores["coinjoin"]
    g2 = GraphIndex.ensure(other, other_chain)
    assert not facts.fits(g2)  # facts of another (e.g. older) index: marks query the lake instead
    want = list(range(0, g2.n_tx, 5))
    assert marks_for(other, other_chain, want, g2, facts) == marks_for(other, other_chain, want)
