"""Blocks out of order and stale blocks in blk files; xor.dat obfuscation.

The store holds the best chain only, whatever order the blk files hold blocks in and whatever side
branches they contain; an obfuscated directory reads exactly like a plain one. A side branch that
arrives later with no more work than the stored chain does not replace it.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.samplechain import build_sample_chain
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir, ingest_raw_files
from fundtrail.store import Store


from support import reliability as rs

N = 120
BATCH = 16
XOR_KEY = bytes.fromhex("0f1e2d3c4b5a6978")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("order")
    chain = build_sample_chain(seed=5, n_blocks=N)
    assert chain.stale
    side = rs.build_fork(chain.blocks, 100, 3, tag=2)  # a 3-block branch off height 99: less work
    shuffled = chain.blocks + chain.stale + side
    random.Random(55).shuffle(shuffled)
    assert any(shuffled.index(chain.blocks[h + 1]) < shuffled.index(chain.blocks[h]) for h in range(N - 1))
    rs.write_dir(base / "plain", shuffled, files=4)
    rs.write_dir(base / "xor", shuffled, files=4, xor_key=XOR_KEY)
    rs.write_dir(base / "in-order", chain.blocks, files=4)
    reports = {}
    for name in ("plain", "xor", "in-order"):
        reports[name] = ingest_blocks_dir(Store.open(base / f"store-{name}"), base / name, batch_blocks=BATCH)
    return {"base": base, "chain": chain, "side": side, "reports": reports}


def _best_by_height(chain) -> dict[int, list[bytes]]:
    return {h: [w.block_hash(b)] for h, b in enumerate(chain.blocks)}


@pytest.mark.parametrize("name", ["plain", "xor"])
def test_shuffled_blk_files_store_the_best_chain_only(world: dict, name: str) -> None:
    base, chain = world["base"], world["chain"]
    store = base / f"store-{name}"
    report = world["reports"][name]
    assert report.blocks == N
    assert report.stale == len(chain.stale) + len(world["side"])
    assert rs.stored_hashes(store) == _best_by_height(chain)
    stored = {h for hs in rs.stored_hashes(store).values() for h in hs}
    assert not stored & {w.block_hash(b) for b in chain.stale + world["side"]}
    assert rs.count(store, "inputs", "prev_output_id IS NULL") == 0  # parents always came first
    # the order of blocks in the files does not matter: same store as blocks written in height order
    assert rs.logical_state(store) == rs.logical_state(base / "store-in-order")


def test_xor_obfuscated_dir_reads_like_the_plain_one(world: dict) -> None:
    base = world["base"]
    assert (base / "xor" / "xor.dat").read_bytes() == XOR_KEY
    assert (base / "xor" / "blk00000.dat").read_bytes()[:4] != w.blk_record(b"\0" * 80, rs.REGTEST)[:4]
    assert rs.logical_state(base / "store-xor") == rs.logical_state(base / "store-plain")


@pytest.mark.parametrize("fork_height,length,what", [
    (100, 3, "less work"),  # 3 blocks against the stored 20 above height 99
    (N - 2, 2, "equal work"),  # as many blocks as the stored tip has above the fork: first seen wins
])
def test_later_side_branch_without_more_work_does_not_replace_the_stored_chain(
        tmp_path: Path, world: dict, fork_height: int, length: int, what: str) -> None:
    chain = world["chain"]
    store = tmp_path / "store"
    ingest_blocks_dir(Store.open(store), world["base"] / "in-order", batch_blocks=BATCH)
    before = rs.logical_state(store)
    side = rs.build_fork(chain.blocks, fork_height, length, tag=3)
    report = ingest_raw_files(Store.open(store), [rs.blk_stream(tmp_path / "side.dat", side)])
    assert report.rolled_back == 0 and report.blocks == 0, what
    assert report.stale == length
    assert rs.logical_state(store) == before
    assert rs.stray_files(store) == []
