"""kill -9 at any point of an ingest, then a rerun: the store equals that of an uninterrupted run.

The real CLI runs in a subprocess over a 300-block shuffled, xor-obfuscated blocks dir, with small
batches (FUNDTRAIL_BATCH_BLOCKS) so there are ~20 commits to land between. Kills come two ways:
deterministic crash points inside the pipeline (FUNDTRAIL_TEST_CRASH_POINT / _AT make the process
SIGKILL itself there: between partition writes, between the last write and the catalog commit,
right after a commit, before the state snapshot) and SIGKILL from outside after seeded random
delays. Also: re-ingesting what is stored is a no-op.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
from pathlib import Path

import pytest
from support import reliability as rs

from fundtrail.chains.bitcoin.samplechain import sample_chain_blocks_dir
from fundtrail.store import Store
from fundtrail.store.status import status

N_BLOCKS = 300
BATCH_BLOCKS = "15"
KILLED = -signal.SIGKILL


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The blocks dir, the CLI arguments and environment, and the uninterrupted reference store."""
    base = tmp_path_factory.mktemp("crash")
    blocks = base / "blocks"
    chain = sample_chain_blocks_dir(blocks, seed=2024, xor_key=bytes.fromhex("5a17c3e8019bd246"),
                                    n_blocks=N_BLOCKS)
    env = rs.cli_env(base, FUNDTRAIL_BATCH_BLOCKS=BATCH_BLOCKS, FUNDTRAIL_BATCH_MB="1")
    args = ("ingest", "bitcoin", "--blocks-dir", str(blocks), "--json")
    ref = base / "reference"
    done = rs.run_cli(ref, *args, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["blocks"] == N_BLOCKS and report["batches"] >= 20
    return {"base": base, "blocks": blocks, "chain": chain, "env": env, "args": args, "ref": ref,
            "ref_state": rs.logical_state(ref)}


def _assert_committed_prefix(store: Path, world: dict) -> int:
    """After a kill, before any rerun: the store reads fine and holds a prefix of the reference
    (ids are dense and in chain order, so every table is the reference's first rows)."""
    if not (store / "catalog.duckdb").exists():
        return 0
    got = rs.logical_state(store)
    for key, rows in got.items():
        want = world["ref_state"][key]
        assert rows == want[:len(rows)], f"{key}: killed store is not a prefix of the reference"
    heights = [r[3] for r in got["block_index"]]
    assert heights == list(range(len(heights)))
    return len(heights)


def _rerun_and_compare(store: Path, world: dict) -> None:
    done = rs.run_cli(store, *world["args"], env=world["env"])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert rs.stray_files(store) == []
    got = rs.logical_state(store)
    for key, want in world["ref_state"].items():
        assert got[key] == want, f"{key} differs from the uninterrupted run"


def test_crash_points_then_rerun_equals_uninterrupted(tmp_path: Path, world: dict) -> None:
    """Kills at each crash point in turn, every run resuming where the one before died."""
    store = tmp_path / "store"
    batch = int(BATCH_BLOCKS)
    steps = [
        ("mid_write", 3, 2 * batch),  # 3rd batch: one partition file written, no catalog row
        ("before_commit", 2, 3 * batch),  # 2nd batch of this run: all files written, no commit
        ("after_commit", 4, 7 * batch),  # 4th batch committed, bookkeeping not updated
        ("mid_write", 1, 7 * batch),  # dies in its first batch: nothing new committed
        ("before_snapshot", 1, N_BLOCKS),  # every block committed, finish() cut short
    ]
    for point, at, stored in steps:
        env = dict(world["env"], FUNDTRAIL_TEST_CRASH_POINT=point, FUNDTRAIL_TEST_CRASH_AT=str(at))
        killed = rs.run_cli(store, *world["args"], env=env)
        assert killed.returncode == KILLED, (point, killed.stderr)
        assert _assert_committed_prefix(store, world) == stored, point
        if point in ("mid_write", "before_commit"):
            assert rs.stray_files(store), f"{point}: the kill should have left uncommitted files"
    _rerun_and_compare(store, world)
    # the rerun after the last kill had no blocks left to ingest, yet it finished the job:
    # its state snapshot is current, so a further run loads it, and changes nothing
    again = rs.run_cli(store, *world["args"], env=world["env"])
    assert again.returncode == 0 and json.loads(again.stdout)["blocks"] == 0
    assert rs.logical_state(store) == world["ref_state"]


def test_sigkill_after_random_delays_then_rerun_equals_uninterrupted(tmp_path: Path, world: dict) -> None:
    """SIGKILL from outside at seeded random moments once the first partition file exists."""
    rng = random.Random(20240601)
    store = tmp_path / "store"
    kills, last = 0, 0
    for _ in range(3):
        rc = rs.run_cli_killed_after(store, world["args"], world["env"], rng.uniform(0.0, 0.25))
        assert rc in (0, KILLED)
        kills += rc == KILLED
        now = _assert_committed_prefix(store, world)
        assert now >= last
        last = now
    assert kills >= 2, "kills did not land during the ingest; the delays are too long for this machine"
    _rerun_and_compare(store, world)


def test_reingest_is_a_noop(tmp_path: Path, world: dict) -> None:
    store = tmp_path / "store"
    shutil.copytree(world["ref"], store)
    before_batches = rs.batch_rows(store)
    before_status = status(Store(store))
    done = rs.run_cli(store, *world["args"], env=world["env"])
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["blocks"] == 0 and report["batches"] == 0 and report["transactions"] == 0
    assert report["skipped_known"] == N_BLOCKS
    assert report["rolled_back"] == 0 and report["linked_inputs"] == 0
    assert rs.batch_rows(store) == before_batches
    after_status = status(Store(store))
    # the data is unchanged; only the run log gains a (completed, 0 blocks) entry
    for st in (before_status, after_status):
        for c in st["chains"]:
            c.pop("last_run")
    assert after_status == before_status
    rs.assert_same_store(store, world["ref"])
    assert rs.stray_files(store) == []
