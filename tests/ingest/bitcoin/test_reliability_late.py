"""Late resolution: blocks ingested before the blocks holding their prevouts.

Block 30 (and the segment 35..39) come first, isolated: their inputs are stored unresolved, never
dropped. When blocks 0..29 arrive, those inputs are linked to their outputs (values, addresses and
fees become known, the outputs leave the unspent set), and the final export equals that of a store
that ingested the chain in order. A kill -9 anywhere in the linking step changes nothing.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.chains.bitcoin.samplechain import build_sample_chain
from fundtrail.ingest.bitcoin.decode import ChainState
from fundtrail.ingest.bitcoin import links
from fundtrail.ingest.bitcoin.jobs import ingest_raw_files
from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest
from fundtrail.ingest.bitcoin.state import rebuild
from fundtrail.store import Store
from fundtrail.store.fsck import fsck


from support import reliability as rs

N = 40


def _table_set(table) -> set[tuple]:
    used = table.used
    return set(zip(table.k1[used].tolist(), table.k2[used].tolist(), map(tuple, table.vals[used].tolist())))


def _unspent(root: Path) -> set[tuple]:
    with Store(root).query() as con:
        return set(con.execute("""
            SELECT t.txid, o.n, o.value FROM btc_regtest_outputs o JOIN btc_regtest_transactions t USING (tx_id)
            WHERE o.script_type <> 8 AND o.output_id NOT IN (
                SELECT prev_output_id FROM btc_regtest_inputs WHERE prev_output_id IS NOT NULL)
        """).fetchall())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("late")
    chain = build_sample_chain(seed=8, n_blocks=N, stale_branch=False).blocks
    files = {
        "b30": rs.blk_stream(base / "b30.dat", chain[30:31]),
        "b35_39": rs.blk_stream(base / "b35_39.dat", chain[35:]),
        "b0_29": rs.blk_stream(base / "b0_29.dat", chain[:30]),
        "b31_34": rs.blk_stream(base / "b31_34.dat", chain[31:35]),
        "all": rs.blk_stream(base / "all.dat", chain),
    }
    in_order = base / "in-order"
    ingest_raw_files(Store.open(in_order), [files["all"]], batch_blocks=8)
    # the late store up to the point where blocks 0..29 arrive
    early = base / "early"
    r30 = ingest_raw_files(Store.open(early), [files["b30"]])
    r35 = ingest_raw_files(Store.open(early), [files["b35_39"]])
    return {"base": base, "chain": chain, "files": files, "in_order": in_order, "early": early,
            "r30": r30, "r35": r35}


def test_isolated_blocks_are_stored_with_unresolved_inputs(world: dict) -> None:
    early, chain = world["early"], world["chain"]
    txs = rs.parse_block(chain[30])
    own = {tx.txid for tx in txs}  # outputs made and spent inside block 30 resolve at once
    outside = sum(prev not in own for tx in txs[1:] for prev, _ in tx.inputs)
    assert world["r30"].unresolved_inputs == outside > 0  # kept, not dropped
    assert world["r30"].inputs == sum(len(tx.inputs) for tx in txs[1:])
    assert rs.stored_hashes(early) == {h: [w.block_hash(chain[h])] for h in [30, 35, 36, 37, 38, 39]}
    export = rs.export_by_txid(early)
    own_hex = {w.display_hex(t) for t in own}
    for tx in txs[1:]:
        got = export[w.display_hex(tx.txid)]
        unresolved = [i["value"] is None and i["address"] is None for i in got["inputs"]]
        assert unresolved == [i["prev_txid"] not in own_hex for i in got["inputs"]]
        assert (got["fee"] is None) == any(unresolved)


@pytest.mark.parametrize("batch_rows", [None, 3], ids=["one-batch", "batches-of-3"])
def test_prevouts_arriving_later_resolve_inputs(tmp_path: Path, world: dict, monkeypatch: pytest.MonkeyPatch,
                                                batch_rows: int | None) -> None:
    """Also with the found links read back from their spill files three rows at a time."""
    if batch_rows is not None:
        monkeypatch.setattr(links, "BATCH_ROWS", batch_rows)
    store = tmp_path / "store"
    shutil.copytree(world["early"], store)
    report = ingest_raw_files(Store.open(store), [world["files"]["b0_29"]], batch_blocks=8)
    assert report.linked_inputs > 0
    parts = sorted((store / "lake" / rs.CHAIN / "input_links").glob("*.parquet"))
    groups = pq.ParquetFile(parts[-1]).metadata.num_row_groups
    assert groups == (1 if batch_rows is None else -(-report.linked_inputs // 3))
    assert rs.stray_files(store) == []  # the spill files of the links are gone
    checked = fsck(Store.open(store))  # the streamed partition's recorded size, rows and hash hold
    assert not checked.errors and checked.files > 0, checked.errors
    report = ingest_raw_files(Store.open(store), [world["files"]["b31_34"]], batch_blocks=8)
    assert report.linked_inputs > 0  # 35..39 spend outputs of 31..34 too
    assert rs.count(store, "inputs", "prev_output_id IS NULL OR value IS NULL") == 0
    assert rs.count(store, "transactions", "fee IS NULL") == 0
    # the same chain as an in-order ingest: heights, every transaction's export, the unspent set
    assert rs.stored_hashes(store) == {h: [w.block_hash(b)] for h, b in enumerate(world["chain"])}
    assert rs.export_by_txid(store) == rs.export_by_txid(world["in_order"])
    assert _unspent(store) == _unspent(world["in_order"])
    # the state the next run starts from (the snapshot of the in-memory state after linking)
    # equals one rebuilt from the lake: linked outputs left the in-memory unspent set
    ing = BitcoinIngest(Store.open(store), REGTEST)
    fresh = ChainState()
    rebuild(ing.store, ing.chain, fresh)
    assert _table_set(ing.state.utxo) == _table_set(fresh.utxo)
    assert _table_set(ing.state.addresses) == _table_set(fresh.addresses)
    assert len(_table_set(fresh.utxo)) == len(_unspent(world["in_order"]))


@pytest.fixture(scope="module")
def linked_reference(tmp_path_factory: pytest.TempPathFactory, world: dict) -> dict:
    """The early store after an uninterrupted CLI ingest of blocks 0..29 (with linking)."""
    base = tmp_path_factory.mktemp("late-ref")
    store = base / "store"
    shutil.copytree(world["early"], store)
    env = rs.cli_env(base, FUNDTRAIL_BATCH_BLOCKS="8")
    done = rs.run_cli(store, "ingest", "bitcoin", "--raw", str(world["files"]["b0_29"]), "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["linked_inputs"] > 0
    return {"state": rs.logical_state(store), "env": env}


@pytest.mark.parametrize("point", ["link_before_commit", "link_after_commit", "before_snapshot"])
def test_kill_during_linking_then_rerun(tmp_path: Path, world: dict, linked_reference: dict, point: str) -> None:
    """The killed run committed every block but not (all of) its linking: the rerun, which has no
    new block to ingest, must still finish the job."""
    store = tmp_path / "store"
    shutil.copytree(world["early"], store)
    args = ("ingest", "bitcoin", "--raw", str(world["files"]["b0_29"]), "--json")
    env = linked_reference["env"]
    killed = rs.run_cli(store, *args, env=dict(env, FUNDTRAIL_TEST_CRASH_POINT=point))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = rs.run_cli(store, *args, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["blocks"] == 0
    assert rs.logical_state(store) == linked_reference["state"]
    assert rs.stray_files(store) == []
    assert rs.count(store, "transactions", "fee IS NULL AND block_height <= 30") == 0


@pytest.mark.parametrize("keys_kept", [True, False])
def test_late_links_within_one_run_with_and_without_the_kept_keys(tmp_path: Path, world: dict,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 keys_kept: bool) -> None:
    """Blocks 30 and 35..39 first, then 0..34, in one run: the run's own unresolved inputs are
    linked at its end. With the keys of those inputs in memory (`LateKeys`) the unspent set says
    that links exist and the join runs; with no room for the keys the join runs anyway. Both
    give the in-order chain, and the snapshot in force equals the state rebuilt from the lake."""
    from fundtrail.ingest.bitcoin import pipeline
    from fundtrail.ingest.bitcoin.links import LateKeys

    if not keys_kept:
        monkeypatch.setattr(pipeline, "LateKeys", lambda start, _max_bytes: LateKeys(start, 0))
    from fundtrail.ingest.bitcoin.decode import BlockMeta

    chain = world["chain"]
    order = [30, 35, 36, 37, 38, 39, *range(30), 31, 32, 33, 34]
    store = tmp_path / "store"
    with BitcoinIngest(Store.open(store), REGTEST, batch_blocks=8) as ing:
        ing.ingest(((chain[h], BlockMeta(None, f"block {h}")) for h in order), "test")
        report = ing.finish()
    assert report.blocks == len(chain) and report.batches > 1
    assert report.linked_inputs == world["r30"].unresolved_inputs + world["r35"].unresolved_inputs

    def unheighted(obj: object) -> object:  # blocks given without heights: those are not compared here
        if isinstance(obj, dict):
            return {k: unheighted(v) for k, v in obj.items() if k != "block_height"}
        return [unheighted(v) for v in obj] if isinstance(obj, list) else obj

    assert unheighted(rs.export_by_txid(store)) == unheighted(rs.export_by_txid(world["in_order"]))
    assert _unspent(store) == _unspent(world["in_order"])
    ing = BitcoinIngest(Store.open(store), REGTEST)
    assert not ing._unfinished  # the snapshot in force is the one written after the links
    fresh = ChainState()
    rebuild(ing.store, ing.chain, fresh)
    assert _table_set(ing.state.utxo) == _table_set(fresh.utxo)


def test_late_keys_say_whether_a_run_can_link_and_give_up_beyond_their_bound() -> None:
    import numpy as np

    from fundtrail.ingest.bitcoin.fptable import FingerprintTable
    from fundtrail.ingest.bitcoin.links import LateKeys

    utxo = FingerprintTable(3)
    utxo.insert(np.array([5], np.uint64), np.array([6], np.uint64), np.zeros((1, 3), np.int64))
    late = LateKeys(100, 16 * 4)
    late.add(np.array([1, 2], np.uint64), np.array([1, 2], np.uint64))
    assert late.complete and not late.any_spendable(utxo)
    late.add(np.array([5], np.uint64), np.array([6], np.uint64))
    assert late.complete and late.any_spendable(utxo) and late.count == 3
    late.add(np.array([7, 8], np.uint64), np.array([7, 8], np.uint64))  # 5 keys: past 64 bytes
    assert not late.complete
