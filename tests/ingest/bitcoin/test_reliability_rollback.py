"""Rollback then re-ingest equals fresh.

`rollback_to(ing, h)` must leave exactly the store an ingest that stopped after height h would
have written (whether h falls on a batch boundary or inside a batch), and ingesting the rest
afterwards must give the store of an uninterrupted ingest. Also with late resolution in the store:
links (and the fees they made known) to outputs that the rollback drops go with them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.chains.bitcoin.samplechain import build_sample_chain
from fundtrail.ingest.bitcoin.decode import BlockMeta, ChainState
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir, ingest_raw_files
from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest
from fundtrail.ingest.bitcoin.rollback import rollback_to
from fundtrail.ingest.bitcoin.source import Prevout
from fundtrail.ingest.bitcoin.state import rebuild
from fundtrail.store import Store


from support import reliability as rs

N = 60
BATCH = 7


def _table_set(table) -> set[tuple]:
    used = table.used
    return set(zip(table.k1[used].tolist(), table.k2[used].tolist(), map(tuple, table.vals[used].tolist())))


def _assert_state_is_store(ing: BitcoinIngest) -> None:
    fresh = ChainState()
    rebuild(ing.store, ing.chain, fresh)
    assert _table_set(ing.state.utxo) == _table_set(fresh.utxo)
    assert _table_set(ing.state.addresses) == _table_set(fresh.addresses)
    last = ing.store.last_batch(ing.chain) or dict.fromkeys(
        ("next_block_id", "next_tx_id", "next_output_id", "next_address_id"), 0)
    c = ing.state.counters
    assert (c.block_id, c.tx_id, c.output_id, c.address_id) == (
        last["next_block_id"], last["next_tx_id"], last["next_output_id"], last["next_address_id"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("rollback")
    chain = build_sample_chain(seed=12, n_blocks=N, stale_branch=False).blocks
    rs.write_dir(base / "all", chain)
    full = base / "full"
    ingest_blocks_dir(Store.open(full), base / "all", batch_blocks=BATCH)
    return {"base": base, "chain": chain, "full": full, "full_state": rs.logical_state(full)}


@pytest.mark.parametrize("keep", [
    13,  # a batch boundary: blocks 0..13 are exactly two batches
    30,  # inside a batch (28..34)
    N - 2,  # just the tip
    -1,  # everything
])
def test_rollback_equals_fresh_prefix_and_reingest_equals_fresh(tmp_path: Path, world: dict, keep: int) -> None:
    store = tmp_path / "store"
    shutil.copytree(world["full"], store)
    ing = BitcoinIngest(Store.open(store), REGTEST, batch_blocks=BATCH)
    assert rollback_to(ing, keep) == N - 1 - keep
    assert ing.tip_height == (keep if keep >= 0 else None)
    _assert_state_is_store(ing)
    assert rs.stray_files(store) == []

    if keep >= 0:  # the store is the one an ingest of blocks 0..keep writes
        rs.write_dir(tmp_path / "prefix", world["chain"][:keep + 1])
        fresh = tmp_path / "fresh"
        ingest_blocks_dir(Store.open(fresh), tmp_path / "prefix", batch_blocks=BATCH)
        assert rs.logical_state(store) == rs.logical_state(fresh)
    else:
        assert rs.logical_state(store)["block_index"] == []

    report = ingest_blocks_dir(Store.open(store), world["base"] / "all", batch_blocks=BATCH)
    assert report.blocks == N - 1 - keep and report.rolled_back == 0
    assert rs.logical_state(store) == world["full_state"]
    assert rs.stray_files(store) == []


def test_rollback_to_the_tip_is_a_noop(tmp_path: Path, world: dict) -> None:
    store = tmp_path / "store"
    shutil.copytree(world["full"], store)
    before = rs.batch_rows(store)
    assert rollback_to(BitcoinIngest(Store.open(store), REGTEST), N - 1) == 0
    assert rs.batch_rows(store) == before


def test_rollback_drops_late_links_to_dropped_outputs(tmp_path: Path, world: dict) -> None:
    """Ingest order 0..9, 30, 35, 10..29: block 30's inputs are linked late to outputs of 10..29,
    which come after it in id order. Rolling back to height 32 drops 35 and 10..29 (everything
    after the first block above 32 in id order) and must drop those links and the fees they made
    known with them: the store is then the one that ingesting 0..9 and 30 writes."""
    chain = world["chain"]
    parts = {name: rs.blk_stream(tmp_path / f"{name}.dat", blocks) for name, blocks in [
        ("a", chain[:10]), ("b30", chain[30:31]), ("b35", chain[35:36]), ("c", chain[10:30]),
        ("rest", chain[31:35] + chain[36:])]}

    store = tmp_path / "store"
    for name in ("a", "b30", "b35", "c"):
        ingest_raw_files(Store.open(store), [parts[name]], batch_blocks=BATCH)
    assert rs.count(store, "transactions", "fee IS NULL AND block_height <= 30") == 0  # linked late
    ing = BitcoinIngest(Store.open(store), REGTEST, batch_blocks=BATCH)
    assert rollback_to(ing, 32) == 21
    _assert_state_is_store(ing)

    fresh = tmp_path / "fresh"
    for name in ("a", "b30"):
        ingest_raw_files(Store.open(fresh), [parts[name]], batch_blocks=BATCH)
    assert rs.count(fresh, "transactions", "fee IS NULL") > 0
    assert rs.logical_state(store) == rs.logical_state(fresh)

    for root in (store, fresh):  # and both grow into the same store from here
        for name in ("b35", "c", "rest"):
            ingest_raw_files(Store.open(root), [parts[name]], batch_blocks=BATCH)
    assert rs.logical_state(store) == rs.logical_state(fresh)
    assert rs.count(store, "inputs", "prev_output_id IS NULL") == 0


def test_rollback_inside_a_batch_with_prevout_data(tmp_path: Path, world: dict) -> None:
    """Blocks 20..29 alone, their outside prevouts supplied (as undo data or RPC verbosity 3 do):
    rolling back to 24 equals ingesting 20..24 with the same prevouts."""
    chain = world["chain"]
    outputs = {}
    for raw in chain:
        for tx in rs.parse_block(raw):
            for i, (value, script) in enumerate(tx.outputs):
                outputs[(tx.txid, i)] = Prevout(value, script)

    def items(heights):
        for h in heights:
            prevouts = tuple(outputs[p] for tx in rs.parse_block(chain[h])[1:] for p in tx.inputs)
            yield chain[h], BlockMeta(h, f"block {h}", prevouts)

    store, fresh = tmp_path / "store", tmp_path / "fresh"
    ing = BitcoinIngest(Store.open(store), REGTEST, batch_blocks=10)
    ing.ingest(items(range(20, 30)), "test")
    ing.finish()
    rollback_to(ing, 24)
    ing2 = BitcoinIngest(Store.open(fresh), REGTEST, batch_blocks=10)
    ing2.ingest(items(range(20, 25)), "test")
    ing2.finish()
    assert rs.logical_state(store) == rs.logical_state(fresh)
