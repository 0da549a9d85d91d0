"""Reorganisations: a heavier fork replaces the stored tip, through a blocks dir, raw files, or a
node followed over JSON-RPC; a kill -9 during the rollback changes nothing about the outcome.

Chain A has N blocks; fork B leaves it at height N - 5 (on top of A's block N - 6) and is longer
than A above the fork. B's first block re-spends outputs that A's dropped blocks spent (the unspent
set must be rolled back) and pays scripts first seen in those blocks (address ids must be rolled
back). After the reorg, the store must equal a fresh store that ingested A[:N-5] + B directly.
"""

from __future__ import annotations

import random
import signal
import threading
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.chains.bitcoin.samplechain import build_sample_chain
from fundtrail.ingest.bitcoin.decode import ChainState
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir, ingest_raw_files, ingest_rpc
from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest
from fundtrail.ingest.bitcoin.rpc import BitcoinRpcSource, RpcClient
from fundtrail.ingest.bitcoin.state import rebuild
from fundtrail.store import Store


from support import reliability as rs

N = 60
FORK = N - 5
BATCH = 7  # A's 60 blocks in 9 batches; the fork point cuts through batch 7 (heights 49..55)


def table_set(table) -> set[tuple]:
    used = table.used
    return set(zip(table.k1[used].tolist(), table.k2[used].tolist(), map(tuple, table.vals[used].tolist())))


def assert_state_matches_store(root: Path) -> None:
    """The state an ingest starts from (snapshot or rebuild) equals one rebuilt from the lake."""
    ing = BitcoinIngest(Store.open(root), REGTEST)
    fresh = ChainState()
    rebuild(ing.store, ing.chain, fresh)
    assert table_set(ing.state.utxo) == table_set(fresh.utxo)
    assert table_set(ing.state.addresses) == table_set(fresh.addresses)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("reorg")
    a = build_sample_chain(seed=31, n_blocks=N, stale_branch=False).blocks
    b = rs.build_fork(a, FORK, 7)
    final = a[:FORK] + b
    rs.write_dir(base / "A", a)
    rs.write_dir(base / "final", final)
    ingest_blocks_dir(Store.open(base / "store-A"), base / "A", batch_blocks=BATCH)
    ingest_blocks_dir(Store.open(base / "fresh"), base / "final", batch_blocks=BATCH)
    return {"base": base, "a": a, "b": b, "final": final, "fresh_state": rs.logical_state(base / "fresh")}


def _store_with_a(tmp_path: Path, world: dict) -> Path:
    import shutil

    store = tmp_path / "store"
    shutil.copytree(world["base"] / "store-A", store)
    return store


def _assert_reorged(store: Path, world: dict) -> None:
    assert rs.logical_state(store) == world["fresh_state"]
    assert rs.stored_hashes(store) == {h: [w.block_hash(x)] for h, x in enumerate(world["final"])}
    assert rs.stray_files(store) == []
    assert_state_matches_store(store)


@pytest.mark.parametrize("layout", ["fork-only", "everything-shuffled"])
def test_heavier_fork_in_blocks_dir_replaces_the_tip(tmp_path: Path, world: dict, layout: str) -> None:
    store = _store_with_a(tmp_path, world)
    if layout == "fork-only":  # a dir holding just the new blocks: their parent is in the store
        blocks = world["b"]
    else:  # a node's dir after the reorg: both branches, in arrival order
        blocks = world["a"] + world["b"]
        random.Random(3).shuffle(blocks)
    rs.write_dir(tmp_path / "blocks", blocks)
    report = ingest_blocks_dir(Store.open(store), tmp_path / "blocks", batch_blocks=BATCH)
    assert report.rolled_back == 5 and report.blocks == len(world["b"])
    assert report.stale == (0 if layout == "fork-only" else 5)
    _assert_reorged(store, world)


def test_heavier_fork_in_raw_file_replaces_the_tip(tmp_path: Path, world: dict) -> None:
    store = _store_with_a(tmp_path, world)
    report = ingest_raw_files(Store.open(store), [rs.blk_stream(tmp_path / "b.dat", world["b"])],
                              batch_blocks=BATCH)
    assert report.rolled_back == 5
    _assert_reorged(store, world)


@pytest.mark.parametrize("steps", [
    [("rollback_write", 1)],  # a cut-down partition rewritten, catalog untouched
    [("rollback_before_commit", 1)],  # all rewrites done and the state cache dropped, no commit
    # the rollback committed but its obsolete files are still there; then the rerun dies after
    # its first fork batch: the state cache of the pre-rollback store must not be trusted
    [("rollback_after_commit", 1), ("after_commit", 1)],
])
def test_kill_during_reorg_then_rerun(tmp_path: Path, world: dict, steps: list) -> None:
    store = _store_with_a(tmp_path, world)
    rs.write_dir(tmp_path / "blocks", world["b"])
    env = rs.cli_env(tmp_path, FUNDTRAIL_BATCH_BLOCKS="3")
    args = ("ingest", "bitcoin", "--blocks-dir", str(tmp_path / "blocks"))
    for point, at in steps:
        killed = rs.run_cli(store, *args,
                            env=dict(env, FUNDTRAIL_TEST_CRASH_POINT=point, FUNDTRAIL_TEST_CRASH_AT=str(at)))
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
    done = rs.run_cli(store, *args, env=env)
    assert done.returncode == 0, done.stderr
    _assert_reorged(store, world)


# --- following a node over JSON-RPC --------------------------------------------------------------

def _tip(root: Path) -> bytes | None:
    with Store(root).connect(read_only=True) as con:
        row = con.execute("SELECT hash FROM block_index WHERE chain = 'btc-regtest' "
                          "ORDER BY height DESC LIMIT 1").fetchone()
    return bytes(row[0]) if row else None


@pytest.mark.parametrize("verbosity3", [False, True], ids=["verbosity2-fallback", "verbosity3"])
def test_follow_node_across_a_reorg(tmp_path: Path, world: dict, verbosity3: bool) -> None:
    node = rs.FakeNode(world["a"], verbosity3=verbosity3)
    url, stop_server = rs.serve(node)
    store = tmp_path / "store"
    tips: list[bytes | None] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def progress(blocks: int, txs: int) -> None:  # runs in the ingest thread after each commit
        tips.append(_tip(store))

    def run() -> None:
        try:
            source = BitcoinRpcSource(RpcClient(url), batch_size=8)
            ingest_rpc(Store.open(store), source, start=0, end=None, follow=True, poll_interval=0.05,
                       should_stop=stop.is_set, progress=progress)
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        a_tip, final_tip = w.block_hash(world["a"][-1]), w.block_hash(world["final"][-1])
        rs.wait_for(lambda: errors or (tips and tips[-1] == a_tip), 60, "the store to reach A's tip")
        node.set_chain(world["final"])
        rs.wait_for(lambda: errors or (tips and tips[-1] == final_tip), 60, "the store to reach B's tip")
    finally:
        stop.set()
        thread.join(30)
        stop_server()
    assert not errors, errors
    assert not thread.is_alive()
    _assert_reorged(store, world)
    # catching up commits full batches, not one batch per block: here A's 60 blocks in one
    # batch (cut down by the rollback) and B's 7 in another
    assert len(rs.batch_rows(store)) == 2
