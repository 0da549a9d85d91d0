"""Ingest under a memory budget writes the same store as the unbounded in-memory path.

A simulated chain (`fundtrail simulate`, ~3,000 transactions with CoinJoins) and real mainnet
blocks 0-599 (NBitcoin's blk files) are ingested with today's unbounded tables and with a hot
table of 64 entries (FUNDTRAIL_TEST_HOT_ENTRIES), which spills to disk from the first batch; every
table is compared row by row. Also: a second run restores the spilled state from the snapshot,
late input resolution pops spilled outputs, kills at the crash points then a rerun give the
uninterrupted store, and the state loaded after a run equals the one rebuilt from the lake.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support import reliability as rs

from fundtrail.chains.bitcoin.params import MAINNET, REGTEST
from fundtrail.ingest.bitcoin.jobs import ingest_raw_files
from fundtrail.ingest.bitcoin.spill_budget import memory_budget
from fundtrail.ingest.bitcoin.spill_table import SpillingTable
from fundtrail.ingest.bitcoin.state import load_state
from fundtrail.store import Store
from fundtrail.store.tables import UTXO_TABLES

HOT = "64"
BUDGET = 64 << 20
NBITCOIN = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "btc-raw-blocks" / "nbitcoin"


def _tables(root: Path, prefix: str) -> dict[str, list]:
    with Store(root).query() as con:
        return {t: con.execute(f"SELECT * FROM {prefix}__{t} ORDER BY ALL").fetchall() for t in UTXO_TABLES}


def _assert_same_tables(got: Path, want: Path, prefix: str = "btc_regtest") -> None:
    a, b = _tables(got, prefix), _tables(want, prefix)
    for t in UTXO_TABLES:
        assert a[t] == b[t], f"{t} differs from the unbounded run"


def _entries(table) -> set[tuple]:
    k1, k2, v = table.entries() if isinstance(table, SpillingTable) else (
        table.k1[table.used], table.k2[table.used], table.vals[table.used])
    return set(zip(k1.tolist(), k2.tolist(), map(tuple, v.tolist())))


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("bounded")
    out = base / "sim"
    done = subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "simulate", "--txs", "3000",
                           "--seed", "5", "--out", str(out), "-q"], capture_output=True, text=True,
                          env=rs.cli_env(base), timeout=300)
    assert done.returncode == 0, done.stderr
    blk = out / "blocks" / "blk00000.dat"
    data = blk.read_bytes()
    blocks = [data[o + 8:o + 8 + n] for o, n in rs.blk_records(blk)]
    half = len(blocks) // 2
    files = {"all": blk, "first": rs.blk_stream(base / "first.dat", blocks[:half]),
             "second": rs.blk_stream(base / "second.dat", blocks[half:])}
    ref = base / "ref"
    ingest_raw_files(Store.open(ref), [blk], network=REGTEST, batch_blocks=10, batch_bytes=1 << 20)
    return {"base": base, "files": files, "ref": ref, "n_blocks": len(blocks)}


def _bounded(monkeypatch: pytest.MonkeyPatch, store: Path, paths: list[Path], network=REGTEST) -> object:
    monkeypatch.setenv("FUNDTRAIL_TEST_HOT_ENTRIES", HOT)
    with memory_budget(BUDGET):
        return ingest_raw_files(Store.open(store), paths, network=network, batch_blocks=10, batch_bytes=1 << 20)


def test_two_runs_under_a_tiny_budget_equal_the_unbounded_store(tmp_path: Path, sim: dict,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    _bounded(monkeypatch, store, [sim["files"]["first"]])
    runs = list((store / "cache" / "btc-regtest").glob("spill-*/*.run"))
    assert runs, "a 64-entry hot table spilled nothing"
    _bounded(monkeypatch, store, [sim["files"]["second"]])  # state restored from the snapshot + runs
    _assert_same_tables(store, sim["ref"])
    assert rs.stray_files(store) == []
    # the state the next run starts from equals the reference's, entry by entry
    with memory_budget(BUDGET):
        bounded = load_state(Store(store), "btc-regtest")
    plain = load_state(Store(sim["ref"]), "btc-regtest")
    assert isinstance(bounded.utxo, SpillingTable) and bounded.utxo.spill.has_runs
    assert _entries(bounded.utxo) == _entries(plain.utxo) and len(_entries(plain.utxo)) > 100
    assert _entries(bounded.addresses) == _entries(plain.addresses)
    # the same snapshot read without a budget, and under another budget (other partition bits)
    unbounded = load_state(Store(store), "btc-regtest")
    assert not isinstance(unbounded.utxo, SpillingTable)
    assert _entries(unbounded.utxo) == _entries(plain.utxo)
    monkeypatch.setenv("FUNDTRAIL_TEST_HOT_ENTRIES", "5000")
    with memory_budget(BUDGET):
        other = load_state(Store(store), "btc-regtest")
    assert isinstance(other.addresses, SpillingTable) and other.addresses.spill.bits != bounded.addresses.spill.bits
    assert _entries(other.addresses) == _entries(plain.addresses)
    assert _entries(other.utxo) == _entries(plain.utxo)


def test_rebuild_from_the_lake_streams_into_the_spilling_table(tmp_path: Path, sim: dict,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No snapshot (as after a kill): the state is rebuilt with SQL into a 64-entry hot table."""
    import shutil
    store = tmp_path / "store"
    shutil.copytree(sim["ref"], store)
    for snap in (store / "cache" / "btc-regtest").glob("state-*"):
        snap.unlink()
    monkeypatch.setenv("FUNDTRAIL_TEST_HOT_ENTRIES", HOT)
    with memory_budget(BUDGET):
        rebuilt = load_state(Store(store), "btc-regtest")
    plain = load_state(Store(sim["ref"]), "btc-regtest")
    assert isinstance(rebuilt.addresses, SpillingTable) and rebuilt.addresses.hot_count <= 64
    assert _entries(rebuilt.utxo) == _entries(plain.utxo)
    assert _entries(rebuilt.addresses) == _entries(plain.addresses)
    assert rebuilt.counters == plain.counters


def test_late_blocks_link_spilled_outputs_as_unbounded(tmp_path: Path, sim: dict,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The second half first (inputs stored unresolved), then the first: late resolution pops
    outputs from the spilled unspent set; the store equals the same order run unbounded."""
    plain, bounded = tmp_path / "plain", tmp_path / "bounded"
    order = [sim["files"]["second"], sim["files"]["first"]]
    for path in order:
        ingest_raw_files(Store.open(plain), [path], network=REGTEST, batch_blocks=10, batch_bytes=1 << 20)
        report = _bounded(monkeypatch, bounded, [path])
    assert report.linked_inputs > 0
    _assert_same_tables(bounded, plain)
    with memory_budget(BUDGET):
        state = load_state(Store(bounded), "btc-regtest")
    assert _entries(state.utxo) == _entries(load_state(Store(plain), "btc-regtest").utxo)


def test_real_mainnet_blocks_under_a_tiny_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = [NBITCOIN / "blk00000.dat", NBITCOIN / "blk00001.dat"]  # mainnet blocks 0-599
    plain, bounded = tmp_path / "plain", tmp_path / "bounded"
    ingest_raw_files(Store.open(plain), files, network=MAINNET, batch_blocks=50)
    monkeypatch.setenv("FUNDTRAIL_TEST_HOT_ENTRIES", "16")
    with memory_budget(BUDGET):
        report = ingest_raw_files(Store.open(bounded), files, network=MAINNET, batch_blocks=50)
    assert report.blocks == 600
    assert list((bounded / "cache" / "btc").glob("spill-*/*.run"))
    _assert_same_tables(bounded, plain, "btc")
    with Store(bounded).query() as con:  # known answer: block 170 spends block 9's coinbase (50 BTC)
        row = con.execute("SELECT count(*) FROM btc_inputs WHERE value = 5000000000 AND tx_id = "
                          "(SELECT first_tx_id + 1 FROM btc_blocks WHERE height = 170)").fetchone()
    assert row == (1,)


@pytest.fixture(scope="module")
def cli(sim: dict) -> dict:
    base = sim["base"]
    env = rs.cli_env(base, FUNDTRAIL_BATCH_BLOCKS="10", FUNDTRAIL_BATCH_MB="1",
                     FUNDTRAIL_MEMORY_LIMIT="64MB", FUNDTRAIL_TEST_HOT_ENTRIES=HOT)
    args = ("ingest", "bitcoin", "--raw", str(sim["files"]["all"]), "--network", "regtest", "--json")
    return {"env": env, "args": args}


def test_kills_at_crash_points_then_rerun_equal_the_unbounded_store(tmp_path: Path, sim: dict, cli: dict) -> None:
    store = tmp_path / "store"
    # each run resumes where the one before died; the last is killed after every block is stored,
    # before the snapshot: the rerun rebuilds the state from the lake into spilling tables
    for point, at in (("mid_write", 3), ("after_commit", 2), ("before_commit", 2), ("before_snapshot", 1)):
        env = {**cli["env"], "FUNDTRAIL_TEST_CRASH_POINT": point, "FUNDTRAIL_TEST_CRASH_AT": str(at)}
        done = rs.run_cli(store, *cli["args"], env=env)
        assert done.returncode == -signal.SIGKILL, (point, done.stderr)
    done = rs.run_cli(store, *cli["args"], env=cli["env"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["blocks"] == 0  # all stored before the last kill
    _assert_same_tables(store, sim["ref"])
    assert rs.stray_files(store) == []
    spill = store / "cache" / "btc-regtest"
    assert list(spill.glob("spill-*/*.run")), "the CLI run under FUNDTRAIL_TEST_HOT_ENTRIES did not spill"
    # spill files are the snapshot's: none left over from the killed runs
    snap = next(spill.glob("state-*.npz"))
    with np.load(snap) as z:
        named = {str(n) for k in ("addr", "utxo") for n in z[f"{k}_spill_runs"]}
    assert {p.name for p in spill.glob("spill-*/*.run")} == named


def test_undo_data_for_a_stored_block_under_a_tiny_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo data given after the block (undo_stored.py): its addresses are looked up in, and new
    ones assigned by, a spilling address index; the store equals the unbounded sequence's."""
    bcoin = NBITCOIN.parent / "bcoin"
    raw, undo = bcoin / "block300025.raw", bcoin / "block300025-undo.raw"
    plain, bounded = tmp_path / "plain", tmp_path / "bounded"
    ingest_raw_files(Store.open(plain), [raw])
    plain_report = ingest_raw_files(Store.open(plain), [raw], undo_files=[undo])
    monkeypatch.setenv("FUNDTRAIL_TEST_HOT_ENTRIES", "16")
    with memory_budget(BUDGET):
        ingest_raw_files(Store.open(bounded), [raw])
        report = ingest_raw_files(Store.open(bounded), [raw], undo_files=[undo])
    assert report.undo_resolved == plain_report.undo_resolved > 0
    assert list((bounded / "cache" / "btc").glob("spill-addr/*.run"))
    _assert_same_tables(bounded, plain, "btc")
