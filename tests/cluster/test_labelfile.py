"""The current clustering's labels as a memory-mapped file (`cluster/labelfile.py`): equal to the
union-find replay of checkpoint and journal with the overrides applied to the whole array (written
out here as the oracle), made a range at a time, cached per run and overrides, and made in memory
where the store cannot be written."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from fundtrail.cluster import labelfile, overrides, runs
from fundtrail.cluster.engine import run_clustering
from fundtrail.cluster.query import load_clustering
from fundtrail.cluster.unionfind import UnionFind
from fundtrail.store import Store

CHAIN = "btc-regtest"


def oracle_overrides(labels: np.ndarray, ovs: list[overrides.Override]) -> np.ndarray:
    """The documented rules on the whole array (docs/clustering.md, "Overrides")."""
    out = labels.copy()
    n = out.shape[0]
    for ov in ovs:
        ids = [a for a in ov.addresses if 0 <= a < n]
        if ov.kind == overrides.MERGE and len(ids) == 2:
            la, lb = int(out[ids[0]]), int(out[ids[1]])
            out[out == max(la, lb)] = min(la, lb)
        elif ov.kind == overrides.SPLIT and ids:
            old = set(out[ids].tolist())
            out[ids] = -1
            for cid in old:
                rest = np.flatnonzero(out == cid)
                if rest.size:
                    out[rest] = rest.min()
            out[ids] = min(ids)
    return out


def oracle(store: Store) -> np.ndarray:
    rec = runs.latest_run(store, CHAIN)
    assert rec is not None
    ckpt, journal = runs.since_checkpoint(runs.lineage(store, rec))
    uf = UnionFind.from_arrays(np.load(runs.run_dir(store, ckpt) / runs.PARENT),
                               np.load(runs.run_dir(store, ckpt) / runs.SIZE), int(ckpt.n_addresses or 0))
    uf.grow(int(rec.n_addresses or 0))
    uf.union_count(*runs.load_journal(store, journal))
    return oracle_overrides(uf.labels(), overrides.list_overrides(store, CHAIN))


@pytest.fixture
def journaled(tmp_path: Path, sample_blocks, ingest_blocks) -> Store:
    """A checkpoint, then two journal runs."""
    store = ingest_blocks(tmp_path / "store", sample_blocks[:30], batch_blocks=7)
    run_clustering(store, CHAIN)
    for upto in (45, 60):
        ingest_blocks(tmp_path / "store", sample_blocks[:upto], batch_blocks=7)
        run_clustering(store, CHAIN)
    rec = runs.latest_run(store, CHAIN)
    assert rec is not None and not rec.checkpoint
    return store


def _current(store: Store, step: int) -> np.ndarray:
    rec = runs.latest_run(store, CHAIN)
    assert rec is not None
    return labelfile.current_labels(store, rec, runs.lineage(store, rec), overrides.list_overrides(store, CHAIN),
                                    step=step)


def test_a_checkpoint_without_overrides_maps_its_parent_array(tmp_path: Path, sample_blocks, ingest_blocks) -> None:
    store = ingest_blocks(tmp_path / "store", sample_blocks, batch_blocks=7)
    run_clustering(store, CHAIN)
    got = load_clustering(store, CHAIN).labels
    assert isinstance(got, np.memmap) and not got.flags.writeable
    assert Path(got.filename).name == runs.PARENT
    assert np.array_equal(got, oracle(store))
    assert not labelfile.labels_dir(store, CHAIN).exists()


@pytest.mark.parametrize("step", [1, 3, 64, labelfile.STEP])
def test_journal_and_overrides_equal_the_replay(journaled: Store, step: int) -> None:
    store = journaled
    rng = random.Random(step)
    n = int(runs.latest_run(store, CHAIN).n_addresses)  # type: ignore[union-attr]
    ref = oracle(store)
    big = np.bincount(ref).argmax()
    members = np.flatnonzero(ref == big).tolist()
    overrides.record(store, CHAIN, overrides.SPLIT, [members[0]], "the smallest id leaves", "t")
    overrides.record(store, CHAIN, overrides.MERGE, [members[-1], rng.randrange(n)], "one owner", "t")
    overrides.record(store, CHAIN, overrides.SPLIT, rng.sample(range(n), 5), "five strangers", "t")
    got = _current(store, step)
    want = oracle(store)
    assert np.array_equal(got, want) and not np.array_equal(want, ref)
    assert isinstance(got, np.memmap) and not got.flags.writeable
    assert Path(got.filename).parent == labelfile.labels_dir(store, CHAIN)


def test_the_file_is_reused_until_the_overrides_change(journaled: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store = journaled
    first = _current(store, 64)
    before = np.array(first)
    d = labelfile.labels_dir(store, CHAIN)
    assert [p.name for p in d.iterdir()] == [Path(first.filename).name]

    def no_recompute(*args: object) -> None:
        raise AssertionError("labels recomputed although the file was there")

    with monkeypatch.context() as m:
        m.setattr(labelfile, "_write", no_recompute)
        again = _current(store, 64)
    assert again.filename == first.filename and np.array_equal(again, first)
    overrides.record(store, CHAIN, overrides.SPLIT, [int(np.argmax(np.bincount(first)))], "why", "t")
    changed = _current(store, 64)
    assert changed.filename != first.filename and np.array_equal(changed, oracle(store))
    assert [p.name for p in d.iterdir()] == [Path(changed.filename).name]  # the superseded file is gone
    assert np.array_equal(first, before)  # a reader still mapping the superseded file reads it whole


def test_a_store_that_cannot_be_written_gets_the_labels_in_memory(journaled: Store,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(labelfile, "make_private_dir", refuse)
    got = _current(journaled, 5)
    assert not isinstance(got, np.memmap) and np.array_equal(got, oracle(journaled))
    assert not labelfile.labels_dir(journaled, CHAIN).exists()


def test_overrides_in_ranges_equal_the_whole_array_rules() -> None:
    rng = np.random.default_rng(5)
    for _ in range(30):
        n = int(rng.integers(1, 60))
        labels = np.array([min(i, int(x)) for i, x in enumerate(rng.integers(0, n, n))], np.int64)
        ovs = []
        for k in range(int(rng.integers(1, 6))):
            kind = overrides.MERGE if rng.random() < 0.5 else overrides.SPLIT
            ids = rng.choice(n + 3, 2 if kind == overrides.MERGE else int(rng.integers(1, 4)), replace=False)
            ovs.append(overrides.Override(k, CHAIN, kind, tuple(int(i) for i in ids), "r", "a", None))  # type: ignore[arg-type]
        want = oracle_overrides(labels, ovs)
        for step in (1, 2, 7, n):
            out = labels.copy()
            overrides.apply_in_place(out, ovs, step)
            assert np.array_equal(out, want)
        assert np.array_equal(overrides.apply(labels, ovs), want)
