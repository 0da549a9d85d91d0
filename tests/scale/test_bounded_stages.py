"""Clustering, the graph index and the exposure index within a tiny memory budget (issue 19): every
proportional array spilled to a file, sorts in many passes, reads in many chunks; the outputs equal
the unbounded run's byte for byte, and the spill directory is gone afterwards."""

from __future__ import annotations

import gc
import shutil
import stat
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from support.spill_watch import no_spill_left, observe_spills

from fundtrail.cluster import runs
from fundtrail.cluster.engine import run_clustering
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.risk.exposure import ExposureIndex
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store, spill
from fundtrail.store.spill import SPILL_DIR, Spill
from fundtrail.trace.graph import _ARRAYS, GraphIndex, graph_dir

CHAIN = "btc-regtest"
TINY = 64 * 1024  # half of it for kept arrays: everything larger than 32 KB goes to a file


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Store]:
    """The same ingested chain twice: one for the unbounded run, one for the bounded run."""
    base = tmp_path_factory.mktemp("scale")
    simulate(base / "sim", seed=4, txs=8000)
    ref = Store.open(base / "ref")
    ingest_blocks_dir(ref, base / "sim" / "blocks")
    shutil.copytree(base / "ref", base / "bounded")
    return ref, Store.open(base / "bounded")


@pytest.fixture
def spilled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the arrays placed in files (the real `Spill.array`, observed); the default limit
    unbounded, so that a call without `memory_limit` is the in-memory path."""
    return observe_spills(monkeypatch)


def _same_files(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_spill_places_arrays_by_budget(tmp_path: Path) -> None:
    with Spill(tmp_path, 1 << 20, "unit") as sp:
        small = sp.array("small", 1000, np.int64, 7)
        big = sp.arange("big", 200_000)
        assert not isinstance(small, np.memmap) and int(small.sum()) == 7000
        assert isinstance(big, np.memmap) and int(big[123_456]) == 123_456
        d = sp.directory()
        assert stat.S_IMODE(d.stat().st_mode) == 0o700 and d.parent == tmp_path / SPILL_DIR
        assert sp.rows(10) == (1 << 20) // 8 // 10 and sp.rows(10**6) == spill.MIN_ROWS
    assert not d.exists()
    with Spill(None, None, "unbounded") as sp:
        assert not isinstance(sp.array("x", 10**6, np.int64, 0), np.memmap)


def test_graph_index_bounded_equals_unbounded(stores: tuple[Store, Store], spilled: list[str]) -> None:
    ref, bounded = stores
    g0 = GraphIndex.ensure(ref, CHAIN, full=True)
    assert not spilled
    g1 = GraphIndex.ensure(bounded, CHAIN, full=True, memory_limit=TINY)
    assert {"txid", "out_address", "addr_outs", "addr_fp1", "tx_key"} <= set(spilled)
    assert g1.meta == g0.meta and g0.n_tx > 8000
    _same_files(graph_dir(ref, CHAIN), graph_dir(bounded, CHAIN), [f"{n}.npy" for n in _ARRAYS])
    # the lookups work on the bounded build (sorted in passes)
    assert g1.find_tx(bytes(g1.txid[4321])) == 4321
    no_spill_left(bounded)


def test_exposure_index_bounded_equals_unbounded(stores: tuple[Store, Store], spilled: list[str]) -> None:
    ref, bounded = stores
    rng = np.random.default_rng(3)
    cats = ("exchange", "mixer", "scam")
    built = []
    for store, limit in ((ref, None), (bounded, TINY)):
        g = GraphIndex.ensure(store, CHAIN)
        tagged = {int(a): str(c) for a, c in zip(rng.integers(0, g.n_addresses, 300), rng.choice(cats, 300))}
        rng = np.random.default_rng(3)  # the same tags for both
        built.append(ExposureIndex.ensure(store, g, cats, tagged, memory_limit=limit))
    assert {"incoming", "outgoing", "addr_cat"} <= set(spilled)
    e0, e1 = built
    assert float(np.asarray(e0.inc).sum()) > 0
    assert np.array_equal(np.asarray(e0.addr_cat), np.asarray(e1.addr_cat))
    _same_files(e0.path, e1.path, ["incoming.npy", "outgoing.npy"])
    # the category column's file lives as long as its index object
    assert len(list((bounded.root / SPILL_DIR).glob("exposure-cat-*"))) == 1
    del e0, e1, built
    gc.collect()
    no_spill_left(bounded)


def test_clustering_bounded_equals_unbounded(stores: tuple[Store, Store], spilled: list[str]) -> None:
    ref, bounded = stores
    s0 = run_clustering(ref, CHAIN, heuristics=("multi-input", "change"), change_floor=0.9, full=True)
    assert not spilled
    s1 = run_clustering(bounded, CHAIN, heuristics=("multi-input", "change"), change_floor=0.9, full=True,
                        memory_limit=TINY)
    assert {"uf_parent", "fact_first", "labels", "ckpt_parent"} <= set(spilled)
    assert s0.n_clusters == s1.n_clusters > 100 and (s0.n_unions, s0.largest) == (s1.n_unions, s1.largest)
    d0, d1 = (runs.run_dir(st, runs.latest_run(st, CHAIN)) for st in (ref, bounded))  # type: ignore[arg-type]
    _same_files(d0, d1, list(runs.ARRAYS))
    for name in (runs.MAPPING, runs.EVIDENCE):
        assert pq.read_table(d0 / name).equals(pq.read_table(d1 / name)), name
    no_spill_left(bounded)


def test_graph_index_bounded_update_equals_full_build(stores: tuple[Store, Store], tmp_path: Path,
                                                       spilled: list[str]) -> None:
    """The incremental path (old arrays copied a chunk at a time, new rows appended) under the budget."""
    ref, _ = stores
    blocks = ref.root.parent / "sim" / "blocks"
    data = (blocks / "blk00000.dat").read_bytes()
    ends, pos = [], 0
    while pos + 8 <= len(data):  # blk records: magic, length, block
        pos += 8 + int.from_bytes(data[pos + 4:pos + 8], "little")
        ends.append(pos)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "blk00000.dat").write_bytes(data[:ends[len(ends) // 2]])
    store = Store.open(tmp_path / "s")
    ingest_blocks_dir(store, tmp_path / "half")
    n_half = GraphIndex.ensure(store, CHAIN, memory_limit=TINY).n_tx
    ingest_blocks_dir(store, blocks)
    assert GraphIndex.ensure(store, CHAIN, memory_limit=TINY).n_tx > n_half
    assert "in_prev" in spilled
    full = GraphIndex.ensure(ref, CHAIN)
    _same_files(graph_dir(ref, CHAIN), graph_dir(store, CHAIN), [f"{n}.npy" for n in _ARRAYS])
    assert full.n_tx > n_half
    no_spill_left(store)


def _prefix_dirs(blocks: Path, out: Path, fractions: tuple[float, ...]) -> list[Path]:
    """Blocks directories holding the first `f` of the chain's blocks, for each fraction."""
    data = (blocks / "blk00000.dat").read_bytes()
    ends, pos = [], 0
    while pos + 8 <= len(data):  # blk records: magic, length, block
        pos += 8 + int.from_bytes(data[pos + 4:pos + 8], "little")
        ends.append(pos)
    dirs = []
    for f in fractions:
        d = out / f"upto-{f}"
        d.mkdir()
        (d / "blk00000.dat").write_bytes(data[:ends[int(len(ends) * f) - 1]])
        dirs.append(d)
    return dirs


def test_incremental_clustering_with_overrides_bounded_equals_unbounded(stores: tuple[Store, Store], tmp_path: Path,
                                                                       spilled: list[str]) -> None:
    """A checkpoint with overrides (their copy of the labels placed by the budget, the mapping
    written a range at a time) and a journal run from the files (the checkpoint's union-find copied
    into the budget's files instead of changed copy-on-write): the same clustering as unbounded."""
    from fundtrail.cluster import overrides, state
    from fundtrail.cluster.query import load_clustering

    ref, _ = stores
    dirs = _prefix_dirs(ref.root.parent / "sim" / "blocks", tmp_path, (0.5, 0.9, 1.0))
    pair = [Store.open(tmp_path / "ref"), Store.open(tmp_path / "bounded")]
    limits = [None, TINY]
    for st in pair:
        ingest_blocks_dir(st, dirs[0])
        run_clustering(st, CHAIN, heuristics=("multi-input", "change"), change_floor=0.9)
    labels = load_clustering(pair[0], CHAIN).labels
    big = int(np.bincount(labels).argmax())
    members = np.flatnonzero(labels == big)
    for st in pair:
        overrides.record(st, CHAIN, overrides.SPLIT, [int(members[0]), int(members[-1])], "two wallets", "t")
        overrides.record(st, CHAIN, overrides.MERGE, [int(members[1]), 3], "same owner", "t")
    for step, d in enumerate(dirs[1:]):
        spilled.clear()
        for st, limit in zip(pair, limits, strict=True):
            ingest_blocks_dir(st, d)
            state.forget()  # from the files, as a new process would
            run_clustering(st, CHAIN, heuristics=("multi-input", "change"), change_floor=0.9, memory_limit=limit)
        recs = [runs.latest_run(st, CHAIN) for st in pair]
        assert recs[0] is not None and recs[1] is not None
        assert recs[0].mode == recs[1].mode == "incremental" and recs[0].checkpoint == recs[1].checkpoint
        assert recs[0].checkpoint == (step == 0)  # the first grows past the arrays' spare room
        assert {"uf_parent", "uf_size"} <= set(spilled)
        if step == 0:
            assert "ckpt_post" in set(spilled)
            d0, d1 = (runs.run_dir(st, rec) for st, rec in zip(pair, recs, strict=True))
            assert pq.read_table(d0 / runs.MAPPING).equals(pq.read_table(d1 / runs.MAPPING))
            _same_files(d0, d1, list(runs.ARRAYS))
        got = [np.asarray(load_clustering(st, CHAIN).labels) for st in pair]
        assert np.array_equal(got[0], got[1]) and got[0][int(members[-1])] == int(members[0])
        no_spill_left(pair[1])
