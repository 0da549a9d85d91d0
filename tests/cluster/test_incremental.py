"""Incremental runs equal full recomputes; rollbacks and changed settings force a recompute; a run
killed at any point and rerun equals an uninterrupted one; overrides survive re-runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fundtrail.cluster import overrides, runs
from fundtrail.cluster.engine import run_clustering
from fundtrail.cluster.query import load_clustering
from fundtrail.store import Store

CHAIN = "btc-regtest"


def labels(store: Store) -> np.ndarray:
    return np.asarray(load_clustering(store, CHAIN).labels)


def forest(store: Store) -> set[tuple]:
    """Evidence edges of the current clustering (all runs of its lineage)."""
    rec = runs.latest_run(store, CHAIN)
    out = set()
    for r in runs.lineage(store, rec):
        t = pq.read_table(runs.run_dir(store, r) / runs.EVIDENCE, columns=["a", "b", "tx_id"])
        out |= set(zip(*(t.column(c).to_pylist() for c in ("a", "b", "tx_id"))))
    return out


@pytest.fixture(scope="module")
def full_reference(tmp_path_factory, sample_blocks) -> tuple[np.ndarray, set]:
    from fundtrail.chains.bitcoin import writer as w
    from fundtrail.chains.bitcoin.params import REGTEST
    from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir

    base = tmp_path_factory.mktemp("fullref")
    w.write_blocks_dir(base / "blocks", sample_blocks, REGTEST)
    store = Store.open(base / "store")
    ingest_blocks_dir(store, base / "blocks", batch_blocks=7)
    s = run_clustering(store, CHAIN)
    assert s.mode == "full" and s.n_unions > 100
    return labels(store), forest(store)


@pytest.mark.parametrize("warm", [True, False], ids=["state-kept-in-process", "state-from-files"])
def test_incremental_after_more_blocks_equals_full(tmp_path: Path, sample_blocks, ingest_blocks,
                                                   full_reference, monkeypatch: pytest.MonkeyPatch,
                                                   warm: bool) -> None:
    from fundtrail.cluster import engine, state

    monkeypatch.setattr(engine, "MAX_JOURNAL_RUNS", 3)  # the third incremental run is a checkpoint
    store = ingest_blocks(tmp_path / "store", sample_blocks[:25], batch_blocks=7)
    first = run_clustering(store, CHAIN)
    steps = [first]
    for upto in (35, 45, 60):
        ingest_blocks(tmp_path / "store", sample_blocks[:upto], batch_blocks=7)
        if not warm:  # as a new process would: checkpoint plus the journal's files
            state.forget()
        steps.append(run_clustering(store, CHAIN))
        assert steps[-1].mode == "incremental" and steps[-1].tx_lo == steps[-2].tx_hi
    assert [r.checkpoint for r in runs.lineage(store, runs.latest_run(store, CHAIN))] == [True, False, False, True]
    # every evidence edge names its transaction by the stored hash
    with store.query() as con:
        stored = dict(con.execute("SELECT tx_id, txid FROM btc_regtest_transactions").fetchall())
    for r in runs.lineage(store, runs.latest_run(store, CHAIN)):
        ev = pq.read_table(runs.run_dir(store, r) / runs.EVIDENCE, columns=["tx_id", "txid"]).to_pylist()
        assert ev and all(bytes(e["txid"]) == bytes(stored[e["tx_id"]]) for e in ev)
    ref_labels, ref_forest = full_reference
    assert np.array_equal(labels(store), ref_labels)
    assert forest(store) == ref_forest
    # the checkpoint compacted the forest of all runs before it into one file
    f = pq.read_table(runs.run_dir(store, runs.latest_run(store, CHAIN)) / runs.FOREST, columns=["a", "b", "tx_id"])
    assert set(zip(*(f.column(c).to_pylist() for c in ("a", "b", "tx_id")))) == ref_forest
    assert f.num_rows == len(ref_forest)
    # the checkpoint's mapping lists every address of a multi-address cluster
    t = pq.read_table(runs.run_dir(store, runs.latest_run(store, CHAIN)) / runs.MAPPING)
    sizes = np.bincount(ref_labels)
    multi = np.flatnonzero(sizes[ref_labels] >= 2)
    assert t.column("address_id").to_numpy().tolist() == multi.tolist()
    assert np.array_equal(t.column("cluster_id").to_numpy(), ref_labels[multi])


def test_journal_runs_replay_to_the_same_state(tmp_path: Path, sample_blocks, ingest_blocks) -> None:
    store = ingest_blocks(tmp_path / "store", sample_blocks[:30], batch_blocks=7)
    run_clustering(store, CHAIN)
    ingest_blocks(tmp_path / "store", sample_blocks, batch_blocks=7)
    s = run_clustering(store, CHAIN)
    rec = runs.latest_run(store, CHAIN)
    assert s.mode == "incremental" and not rec.checkpoint
    assert not (runs.run_dir(store, rec) / runs.PARENT).exists()  # a journal run writes evidence only
    # ... and its unions as an array, the same edges as its evidence, in order
    ab = np.load(runs.run_dir(store, rec) / runs.UNIONS)
    ev = pq.read_table(runs.run_dir(store, rec) / runs.EVIDENCE, columns=["a", "b"])
    assert ab.shape == (2, ev.num_rows) and ev.num_rows > 0
    assert ab[0].tolist() == ev.column("a").to_pylist() and ab[1].tolist() == ev.column("b").to_pylist()
    got = labels(store)
    (runs.run_dir(store, rec) / runs.UNIONS).unlink()  # without the array, the evidence is replayed
    assert np.array_equal(labels(store), got)
    fresh = run_clustering(store, CHAIN, full=True)
    assert (fresh.n_clusters, fresh.largest, fresh.n_addresses) == (s.n_clusters, s.largest, s.n_addresses)
    assert np.array_equal(labels(store), got)


def test_rollback_below_the_processed_point_forces_a_full_recompute(tmp_path: Path, sample_blocks,
                                                                    ingest_blocks) -> None:
    from support import reliability as rs

    fork = rs.build_fork(sample_blocks, len(sample_blocks) - 5, 7)
    final = sample_blocks[:-5] + fork
    store = ingest_blocks(tmp_path / "store", sample_blocks, batch_blocks=7)
    run_clustering(store, CHAIN)
    ingest_blocks(tmp_path / "store", final, batch_blocks=7)  # the heavier fork: rollback, then new blocks
    s = run_clustering(store, CHAIN)
    assert s.mode == "full" and "rolled back" in s.reason
    fresh = ingest_blocks(tmp_path / "fresh", final, batch_blocks=7)
    run_clustering(fresh, CHAIN)
    assert np.array_equal(labels(store), labels(fresh))
    assert forest(store) == forest(fresh)


def test_settings_change_or_full_flag_recompute_and_say_why(hand) -> None:
    assert run_clustering(hand.store, CHAIN).reason.startswith("first")
    assert run_clustering(hand.store, CHAIN).mode == "incremental"
    s = run_clustering(hand.store, CHAIN, coinjoin_floor=0.9)
    assert s.mode == "full" and "differ from run 1" in s.reason
    s = run_clustering(hand.store, CHAIN, coinjoin_floor=0.9, full=True)
    assert s.mode == "full" and "requested" in s.reason


def _cli(store: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "--store", str(store), *args],
                          env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("point", ["cluster_chunk", "cluster_before_commit"])
def test_killed_run_then_rerun_equals_uninterrupted(tmp_path: Path, sample_blocks, ingest_blocks,
                                                    full_reference, point: str) -> None:
    store = ingest_blocks(tmp_path / "store", sample_blocks[:30], batch_blocks=7)
    run_clustering(store, CHAIN)
    ingest_blocks(tmp_path / "store", sample_blocks, batch_blocks=7)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_")}
    env["FUNDTRAIL_CONFIG"] = str(tmp_path / "none.toml")
    killed = _cli(store.root, "cluster", "run", env={**env, "FUNDTRAIL_TEST_CRASH_POINT": point})
    assert killed.returncode == -signal.SIGKILL
    assert runs.latest_run(store, CHAIN).run_id == 0  # the killed run committed nothing
    done = _cli(store.root, "cluster", "run", "--json", env=env)
    assert done.returncode == 0, done.stderr
    ref_labels, ref_forest = full_reference
    assert np.array_equal(labels(store), ref_labels)
    assert forest(store) == ref_forest
    statuses = [r.status for r in runs.list_runs(store, CHAIN)]
    assert statuses == ["completed", "interrupted", "completed"]
    on_disk = sorted(p.name for p in runs.cluster_root(store, CHAIN).iterdir())
    assert on_disk == ["run-00000000", "run-00000002"]  # the killed run's files were removed


def test_overrides_apply_at_once_and_survive_reruns(hand, ingest_blocks, tmp_path: Path) -> None:
    store, ids = hand.store, hand.ids
    run_clustering(store, CHAIN)
    overrides.record(store, CHAIN, overrides.SPLIT, [ids[8]], "exchange hot wallet, not the user", "ana")
    overrides.record(store, CHAIN, overrides.MERGE, [ids[1], ids[3]], "same KYC record", "bob")
    lab = labels(store)
    assert lab[ids[8]] == ids[8] and lab[ids[9]] == lab[ids[5]]
    assert lab[ids[1]] == lab[ids[2]] == lab[ids[3]] == lab[ids[7]] == min(ids[k] for k in (1, 2, 3, 7))
    for full in (False, True):
        s = run_clustering(store, CHAIN, full=full)
        assert np.array_equal(labels(store), lab), s.mode
    # the run's mapping file records the overridden mapping too
    rec = runs.latest_run(store, CHAIN)
    t = pq.read_table(runs.run_dir(store, rec) / runs.MAPPING).to_pydict()
    assert dict(zip(t["address_id"], t["cluster_id"]))[ids[3]] == lab[ids[3]]
    assert rec.overrides_applied == 1


def test_split_that_takes_the_smallest_id_renames_the_rest() -> None:
    ov = overrides.Override(0, CHAIN, overrides.SPLIT, (2,), "r", "a", None)
    out = overrides.apply(np.array([0, 1, 2, 2, 2, 5]), [ov])
    assert out.tolist() == [0, 1, 2, 3, 3, 5]


def test_a_second_concurrent_run_is_refused(hand) -> None:
    from fundtrail.errors import StoreError

    with runs.run_lock(hand.store, CHAIN), pytest.raises(StoreError, match="another fundtrail process"):
        run_clustering(hand.store, CHAIN)


def test_state_files_of_superseded_checkpoints_are_dropped(hand) -> None:
    run_clustering(hand.store, CHAIN)
    run_clustering(hand.store, CHAIN)  # a journal run: the checkpoint of run 0 stays in use
    root = runs.cluster_root(hand.store, CHAIN)
    assert (root / "run-00000000" / runs.PARENT).exists() and (root / "run-00000000" / runs.FACT_FIRST).exists()
    run_clustering(hand.store, CHAIN, full=True)
    assert not (root / "run-00000000" / runs.PARENT).exists()
    assert (root / "run-00000002" / runs.PARENT).exists()
    assert (root / "run-00000000" / runs.EVIDENCE).exists()  # the record of each run stays
    shutil.rmtree(root / "run-00000002")
    s = run_clustering(hand.store, CHAIN)  # a damaged store falls back to a full recompute
    assert s.mode == "full" and "missing" in s.reason


def test_inputs_resolved_late_are_revisited(tmp_path: Path) -> None:
    """Blocks whose prevouts arrive later are stored with unresolved inputs; when the prevouts
    come, the incremental run revisits those transactions, so it equals a full recompute."""
    from support import reliability as rs

    from fundtrail.chains.bitcoin.samplechain import build_sample_chain
    from fundtrail.ingest.bitcoin.jobs import ingest_raw_files

    chain = build_sample_chain(seed=8, n_blocks=40, stale_branch=False).blocks
    store = Store.open(tmp_path / "store")
    ingest_raw_files(store, [rs.blk_stream(tmp_path / "b30.dat", chain[30:31])])
    ingest_raw_files(store, [rs.blk_stream(tmp_path / "b35.dat", chain[35:])])
    early = run_clustering(store, CHAIN)
    ingest_raw_files(store, [rs.blk_stream(tmp_path / "b0.dat", chain[:30])], batch_blocks=8)
    ingest_raw_files(store, [rs.blk_stream(tmp_path / "b31.dat", chain[31:35])], batch_blocks=8)
    s = run_clustering(store, CHAIN)
    assert s.mode == "incremental" and s.revisited_tx > 0 and s.tx_lo == early.tx_hi
    got = labels(store)
    run_clustering(store, CHAIN, full=True)
    assert np.array_equal(got, labels(store))


def test_cached_address_facts_equal_the_lake(tmp_path: Path, sample_blocks, ingest_blocks) -> None:
    """Heuristics read address facts (script type, first appearance); an incremental run takes them
    from the checkpoint plus the addresses added since: they must equal a fresh load."""
    from fundtrail.cluster import state
    from fundtrail.cluster.snapshot import open_snapshot
    from fundtrail.cluster.txview import AddressFacts, load_txview

    store = ingest_blocks(tmp_path / "store", sample_blocks[:20], batch_blocks=7)
    run_clustering(store, CHAIN)
    ingest_blocks(tmp_path / "store", sample_blocks[:40], batch_blocks=7)
    run_clustering(store, CHAIN)  # a journal run: facts still those of the first checkpoint
    ingest_blocks(tmp_path / "store", sample_blocks, batch_blocks=7)
    lin = runs.lineage(store, runs.latest_run(store, CHAIN))
    state.forget()  # the checkpoint, the journal's facts files and the lake, not the state kept in memory
    st = state.start(store, CHAIN, lin, "utxo")
    # the journal run left the facts of the addresses it added: only later ones come from the lake
    assert not lin[-1].checkpoint and (runs.run_dir(store, lin[-1]) / runs.NEW_FACTS).exists()
    assert st.facts_n == lin[-1].n_addresses > lin[-2].n_addresses
    with open_snapshot(store, CHAIN) as snap:
        cached = state.load_facts(st, snap, snap.n_addresses)
        fresh = AddressFacts.load(snap.con, snap.prefix)
        n = fresh.script.shape[0]
        assert n == snap.n_addresses > lin[-1].n_addresses
        assert np.array_equal(cached.script[:n], fresh.script)
        assert np.array_equal(cached.first_tx[:n], fresh.first_tx)
        lo = lin[-1].tx_hi
        a = load_txview(snap.con, CHAIN, lo, snap.next_tx_id, cached)
        b = load_txview(snap.con, CHAIN, lo, snap.next_tx_id, fresh)
    for name in ("in_script", "out_addr_first_tx", "in_address", "out_spent_by"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_an_incremental_run_reads_only_the_batches_it_needs(tmp_path: Path, sample_blocks, ingest_blocks,
                                                            full_reference) -> None:
    """The lake files of batches wholly before the new transactions (and addresses) are moved away
    during the incremental run: it must not need them, and must still equal a full recompute."""
    store = ingest_blocks(tmp_path / "store", sample_blocks[:25], batch_blocks=7)
    first = run_clustering(store, CHAIN)
    ingest_blocks(tmp_path / "store", sample_blocks, batch_blocks=7)
    with store.connect(read_only=True) as con:
        rows = con.execute("SELECT files, next_tx_id, next_address_id FROM batches WHERE chain = ? "
                           "ORDER BY batch_id", [CHAIN]).fetchall()
    lake = store.lake / CHAIN
    hidden = [lake / f for files, next_tx, next_addr in rows for f in files
              if (next_addr <= first.n_addresses if f.startswith("addresses/") else next_tx <= first.tx_hi)]
    assert len(hidden) >= 10  # three old batches of five tables
    for f in hidden:
        f.rename(f.with_name(f.name + ".away"))
    try:
        s = run_clustering(store, CHAIN)
    finally:
        for f in hidden:
            f.with_name(f.name + ".away").rename(f)
    assert s.mode == "incremental" and s.tx_lo == first.tx_hi
    ref_labels, ref_forest = full_reference
    assert np.array_equal(labels(store), ref_labels)
    assert forest(store) == ref_forest


def test_a_windowed_snapshot_sees_what_the_whole_one_sees(tmp_path: Path) -> None:
    """Transactions in a window, with inputs resolved late (input links in later batches) and
    outputs spent later, load the same from a window as from the whole chain."""
    from support import reliability as rs

    from fundtrail.chains.bitcoin.samplechain import build_sample_chain
    from fundtrail.cluster.snapshot import open_snapshot
    from fundtrail.cluster.txview import TxView, load_txview
    from fundtrail.ingest.bitcoin.jobs import ingest_raw_files

    chain = build_sample_chain(seed=8, n_blocks=40, stale_branch=False).blocks
    store = Store.open(tmp_path / "store")
    ingest_raw_files(store, [rs.blk_stream(tmp_path / "b30.dat", chain[30:31])])
    ingest_raw_files(store, [rs.blk_stream(tmp_path / "b35.dat", chain[35:])])
    ingest_raw_files(store, [rs.blk_stream(tmp_path / "b0.dat", chain[:30])], batch_blocks=8)
    ingest_raw_files(store, [rs.blk_stream(tmp_path / "b31.dat", chain[31:35])], batch_blocks=8)
    with open_snapshot(store, CHAIN) as whole:
        batches, end = whole.batches, whole.next_tx_id
        late = whole.con.execute(f"SELECT count(*) FROM {whole.prefix}__input_links").fetchall()[0][0]
        assert late > 0
        for b in batches[:-1]:
            lo = b.next_tx_id
            with open_snapshot(store, CHAIN, tx_from=lo) as win:
                a, w = load_txview(whole.con, CHAIN, lo, end), load_txview(win.con, CHAIN, lo, end)
                assert len(a) == end - lo
                for name in TxView.__dataclass_fields__:
                    assert np.array_equal(getattr(a, name), getattr(w, name)), (lo, name)


def test_a_state_kept_in_memory_is_used_only_for_the_run_it_came_from(tmp_path: Path, sample_blocks,
                                                                       ingest_blocks, full_reference) -> None:
    """Another process clustering in between makes this process's kept state stale: it must not be
    used (the result would silently miss that run's unions)."""
    from fundtrail.cluster import state

    store = ingest_blocks(tmp_path / "store", sample_blocks[:25], batch_blocks=7)
    run_clustering(store, CHAIN)
    ingest_blocks(tmp_path / "store", sample_blocks[:35], batch_blocks=7)
    kept_run = run_clustering(store, CHAIN).run_id  # a journal run: its state is kept here
    assert state._KEPT[state._key(store, CHAIN)][0] == kept_run
    ingest_blocks(tmp_path / "store", sample_blocks[:50], batch_blocks=7)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_")}
    env["FUNDTRAIL_CONFIG"] = str(tmp_path / "none.toml")
    other = _cli(store.root, "cluster", "run", env=env)  # another process's run
    assert other.returncode == 0, other.stderr
    assert runs.latest_run(store, CHAIN).run_id == kept_run + 1
    ingest_blocks(tmp_path / "store", sample_blocks, batch_blocks=7)
    s = run_clustering(store, CHAIN)
    assert s.mode == "incremental"
    ref_labels, ref_forest = full_reference
    assert np.array_equal(labels(store), ref_labels)
    assert forest(store) == ref_forest


def test_a_run_that_fails_leaves_no_kept_state(tmp_path: Path, sample_blocks, ingest_blocks, full_reference,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that fails after its unions changed the in-memory state must not hand that state to
    the next run: the retry must equal an uninterrupted run."""
    from fundtrail.cluster import state

    store = ingest_blocks(tmp_path / "store", sample_blocks[:25], batch_blocks=7)
    run_clustering(store, CHAIN)
    ingest_blocks(tmp_path / "store", sample_blocks[:35], batch_blocks=7)
    run_clustering(store, CHAIN)  # kept
    ingest_blocks(tmp_path / "store", sample_blocks, batch_blocks=7)
    real = runs.complete

    def broken(*_a, **_k):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(runs, "complete", broken)
    with pytest.raises(OSError, match="injected"):
        run_clustering(store, CHAIN)
    assert state._key(store, CHAIN) not in state._KEPT
    monkeypatch.setattr(runs, "complete", real)
    s = run_clustering(store, CHAIN)
    assert s.mode == "incremental"
    ref_labels, ref_forest = full_reference
    assert np.array_equal(labels(store), ref_labels)
    assert forest(store) == ref_forest
