"""The graph index: one hop is a slice, incremental update equals a full build, rollback rebuilds."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions
from fundtrail.trace.graph import _ARRAYS, GraphIndex, graph_dir

CHAIN = "btc-regtest"


def _blk_records(path: Path) -> list[int]:
    """End offsets of the blocks in a blk file (magic, length, block)."""
    data = path.read_bytes()
    ends, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        pos += 8 + size
        ends.append(pos)
    return ends


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("g") / "sim"
    simulate(out, seed=4, txs=3000)
    return out


def test_slices_match_the_export(sim: Path, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    ingest_blocks_dir(store, sim / "blocks")
    g = GraphIndex.ensure(store, CHAIN)
    txs = list(iter_transactions(store, CHAIN))
    assert g.n_tx == len(txs)
    for tx_id in (0, 1, len(txs) // 2, len(txs) - 1):
        t = txs[tx_id]
        assert g.txid_hex(tx_id) == t["txid"]
        assert [int(g.out_value[o]) for o in g.outputs_of(tx_id)] == [o["value"] for o in t["outputs"]]
        spent = [(g.txid_hex(g.tx_of_output(int(p))), int(p) - int(g.tx_first_out[g.tx_of_output(int(p))]))
                 for p in g.inputs_of(tx_id)]
        assert spent == [(i["prev_txid"], i["prev_vout"]) for i in t["inputs"]]
        assert g.is_coinbase(tx_id) == t["coinbase"]
    # spent_by is the inverse of the inputs
    for tx_id in range(g.n_tx):
        for p in g.inputs_of(tx_id):
            assert g.out_spent_by[p] == tx_id
    assert int((g.out_spent_by >= 0).sum()) == g.in_prev.shape[0]
    assert g.find_tx(bytes.fromhex(txs[7]["txid"])[::-1]) == 7
    assert g.find_tx(b"\x00" * 32) == -1


def test_incremental_update_equals_full_build(sim: Path, tmp_path: Path) -> None:
    blk = sim / "blocks" / "blk00000.dat"
    ends = _blk_records(blk)
    half = tmp_path / "half"
    half.mkdir()
    (half / "blk00000.dat").write_bytes(blk.read_bytes()[:ends[len(ends) // 2]])
    store = Store.open(tmp_path / "s")
    ingest_blocks_dir(store, half)
    first = GraphIndex.ensure(store, CHAIN)
    n_half = first.n_tx
    ingest_blocks_dir(store, sim / "blocks")
    inc = GraphIndex.ensure(store, CHAIN)
    assert inc.n_tx > n_half
    full_store = Store.open(tmp_path / "f")
    ingest_blocks_dir(full_store, sim / "blocks")
    full = GraphIndex.ensure(full_store, CHAIN)
    for name in _ARRAYS:
        assert np.array_equal(getattr(inc, name), getattr(full, name)), name
    # up to date: no rebuild, same files
    mtime = (graph_dir(store, CHAIN) / "meta.json").stat().st_mtime_ns
    GraphIndex.ensure(store, CHAIN)
    assert (graph_dir(store, CHAIN) / "meta.json").stat().st_mtime_ns == mtime


def test_rollback_below_the_index_rebuilds(sim: Path, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    ingest_blocks_dir(store, sim / "blocks")
    g = GraphIndex.ensure(store, CHAIN)
    from fundtrail.chains.bitcoin.params import network
    from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest
    from fundtrail.ingest.bitcoin.rollback import rollback_to

    fork = int(np.asarray(g.tx_height).max()) - 5
    with BitcoinIngest(store, network("regtest")) as ing:
        assert rollback_to(ing, fork) == 5
    again = GraphIndex.ensure(store, CHAIN)
    assert again.n_tx < g.n_tx and int(np.asarray(again.tx_height).max()) == fork


def test_interrupted_write_leaves_the_old_index(sim: Path, tmp_path: Path, monkeypatch) -> None:
    store = Store.open(tmp_path / "s")
    ingest_blocks_dir(store, sim / "blocks")
    g = GraphIndex.ensure(store, CHAIN)
    before = {n: np.array(getattr(g, n)) for n in _ARRAYS}

    def boom(*a, **k):
        raise KeyboardInterrupt

    import fundtrail.trace.graph as graph_mod

    monkeypatch.setattr(graph_mod.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        GraphIndex.ensure(store, CHAIN, full=True)
    monkeypatch.undo()
    g2 = GraphIndex.load(store, CHAIN)
    for n in _ARRAYS:
        assert np.array_equal(before[n], getattr(g2, n))
    shutil.rmtree(graph_dir(store, CHAIN))
    assert GraphIndex.ensure(store, CHAIN).n_tx == g.n_tx
