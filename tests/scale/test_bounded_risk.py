"""The risk assessor's tag map and cluster members, and the clustering run's service-label guard,
within a tiny memory budget (issue 19): per-address categories as int16 codes, cluster members found
by scanning the labels a range at a time, the guard asking the hook a range of members at a time;
exposure results, verdicts and run outputs equal to the unbounded run."""

from __future__ import annotations

import gc

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fundtrail.cluster import runs
from fundtrail.cluster.engine import run_clustering
from fundtrail.cluster.guard import service_conflicts
from fundtrail.cluster.labels import AddressLabels
from fundtrail.cluster.query import address_texts, load_clustering
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.risk.assess import Assessor
from fundtrail.risk.cluster_exposure import member_rows
from fundtrail.risk.members import ClusterMembers
from fundtrail.risk.profile import load_profile
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store, spill
from fundtrail.tags.importer import import_file
from fundtrail.trace.attribution import TagMap
from fundtrail.trace.graph import GraphIndex

CHAIN = "btc-regtest"
TINY = 64 * 1024
_CATS = {"exchange": "exchange", "otc_desk": "exchange", "mixer": "mixing_service"}


def _truth_labels(sim: Path) -> dict[str, str]:
    """Service addresses of the simulation's ground truth: address -> "category: actor"."""
    with open(sim / "truth" / "addresses.csv", newline="") as fh:
        return {r["address"]: f"{_CATS[r['category']]}: {r['actor']}" for r in csv.DictReader(fh)
                if r["category"] in _CATS}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Path]:
    """A simulated chain ingested, a third of its service addresses tagged (a CSV import: the
    others inherit through their clusters), clustered, indexed."""
    base = tmp_path_factory.mktemp("risk")
    simulate(base / "sim", seed=5, txs=8000)
    store = Store.open(base / "store")
    ingest_blocks_dir(store, base / "sim" / "blocks")
    with open(base / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "source", "currency"])
        for addr, label in list(_truth_labels(base / "sim").items())[::3]:
            cat, actor = label.split(": ")
            w.writerow([addr, actor, cat, "simulator truth", "BTC-REGTEST"])
    assert import_file(store, base / "labels.csv", "csv").status == "imported"
    run_clustering(store, CHAIN, full=True, memory_limit=None)
    GraphIndex.ensure(store, CHAIN, memory_limit=None)
    return store, base


def _naive_categories(tm: TagMap, n: int) -> list[str | None]:
    """The definition, address by address: the first direct tag's category, else the cluster's."""
    out: list[str | None] = []
    for a in range(n):
        own = tm.direct.get(a)
        if own and own[0]["category"]:
            out.append(own[0]["category"])
            continue
        cid = tm.cluster_of(a)
        got = (tm.by_cluster or {}).get(cid, []) if cid is not None else []
        out.append(got[0]["category"] if got else None)
    return out


def test_category_codes_match_the_definition(chain: tuple[Store, Path]) -> None:
    store, _ = chain
    g = GraphIndex.load(store, CHAIN)
    tm = TagMap.load(store, g)
    codes = tm.category_codes(g.n_addresses)
    assert codes.codes.dtype == np.int16 and codes.codes.shape == (g.n_addresses,)
    want = _naive_categories(tm, g.n_addresses)
    assert codes.objects().tolist() == want == tm.category_array(g.n_addresses).tolist()
    tagged = {a: c for a, c in enumerate(want) if c is not None}
    assert len(tagged) > len(tm.direct) > 50  # cluster inheritance tags more than the direct tags
    assert dict(codes.items()) == tagged and len(codes) == len(tagged)
    a = next(iter(tagged))
    assert codes[a] == tagged[a] and a in codes and codes.get(-5) is None and -5 not in codes


def test_cluster_members_scan_equals_index(chain: tuple[Store, Path]) -> None:
    store, _ = chain
    labels = load_clustering(store, CHAIN).labels
    index = ClusterMembers(labels, None)
    scan = ClusterMembers(labels, TINY, range_rows=1000)  # many ranges, clusters cut across them
    assert index.indexed and not scan.indexed
    big = index.clusters_of_size(3)
    assert big.size > 5 and scan.clusters_of_size(3).tolist() == big.tolist()
    cids = np.unique(np.r_[big, labels[:50]])
    assert scan.sizes(cids).tolist() == index.sizes(cids).tolist()
    for cap in (1, 2, 10**6):
        got, want = scan.members(cids, cap), index.members(cids, cap)
        assert got.tolist() == want.tolist()
    # the oracle: each cluster's members are the addresses labelled with it, ascending
    full = index.members(cids, 10**6).tolist()
    assert full == [a for c in cids.tolist() for a in np.flatnonzero(labels == c).tolist()]


def _exposures(store: Store, limit: int | None, texts: list[str]) -> str:
    assessor = Assessor(store, CHAIN, load_profile(None), memory_limit=limit)
    assert assessor.prepare(3) > 0
    rows = [{"address": r.address, "score": r.score, "exposure": r.exposure} for r in assessor.addresses(texts)]
    return json.dumps(rows, sort_keys=True, default=str)


def test_assessor_bounded_equals_unbounded(chain: tuple[Store, Path], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store, base = chain
    monkeypatch.setattr(spill, "_DEFAULT", [None])
    copy = tmp_path / "store"
    shutil.copytree(store.root, copy)
    bounded = Store.open(copy)
    shutil.rmtree(copy / "derived" / CHAIN / "exposure", ignore_errors=True)
    texts = list(_truth_labels(base / "sim"))[:40]
    with open_snapshot(store, CHAIN) as snap:  # and untagged addresses of the chain
        texts += list(address_texts(snap, list(range(0, 4000, 97))).values())
    ref = _exposures(store, None, texts)
    assert '"cluster": {' in ref and '"exchange"' in ref
    in_files: list[str] = []
    real = spill.Spill.array

    def observed(self: spill.Spill, name: str, *args: object, **kwargs: object) -> np.ndarray:
        arr = real(self, name, *args, **kwargs)  # type: ignore[arg-type]
        if isinstance(arr, np.memmap):
            in_files.append(name)
        return arr

    monkeypatch.setattr(spill.Spill, "array", observed)
    assert _exposures(bounded, TINY, texts) == ref
    # the per-address arrays (the category codes, the index's category column) were files
    assert {"category_codes", "addr_cat", "incoming", "outgoing"} <= set(in_files)
    gc.collect()  # the index is gone: so is the file of its category column
    assert not list((copy / spill.SPILL_DIR).glob("exposure-*"))
    for name in ("incoming.npy", "outgoing.npy"):
        assert (store.root / "derived" / CHAIN / "exposure" / name).read_bytes() == \
            (copy / "derived" / CHAIN / "exposure" / name).read_bytes()


def _naive_conflicts(labels: np.ndarray, candidates: np.ndarray, hook: object) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for cid in candidates.tolist():
        members = np.flatnonzero(labels == cid)
        found = hook(members)  # type: ignore[operator]
        seen = {lab: min(a for a, b in found.items() if b == lab) for lab in set(found.values())}
        if len(seen) >= 2:
            out[cid] = seen
    return out


def test_guard_in_ranges_equals_one_pass(chain: tuple[Store, Path]) -> None:
    store, _ = chain
    labels = load_clustering(store, CHAIN).labels
    sizes = np.bincount(labels, minlength=labels.shape[0])
    candidates = np.flatnonzero(sizes >= 2)
    calls: list[int] = []

    def hook(members: np.ndarray) -> dict[int, str]:  # a deterministic labelling of a tenth of the ids
        calls.append(int(members.size))
        return {int(a): f"exchange: E{int(a) % 3}" for a in members.tolist() if a % 10 == 0}

    whole = service_conflicts(labels, candidates, sizes, hook, memory_limit=None)
    assert len(calls) == 1
    calls.clear()
    ranged = service_conflicts(labels, candidates, sizes, hook, memory_limit=TINY)
    assert len(calls) > 1 and max(calls) <= spill.MIN_ROWS
    assert [s.to_json() for s in ranged] == [s.to_json() for s in whole]
    naive = _naive_conflicts(labels, candidates, hook)
    assert len(whole) == len(naive) > 0
    for s in whole:
        names = ", ".join(f"{lab} (address id {a})" for lab, a in sorted(naive[s.cluster_id].items()))
        assert s.detail == f"members labelled {names}" and s.size == int(sizes[s.cluster_id])


def test_cluster_run_with_guard_bounded_equals_unbounded(chain: tuple[Store, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole run with real service labels (the truth, plus two labels put on the largest cluster)."""
    store, base = chain
    labels = load_clustering(store, CHAIN).labels
    biggest = int(np.bincount(labels).argmax())
    with open_snapshot(store, CHAIN) as snap:
        texts = address_texts(snap, np.flatnonzero(labels == biggest)[-2:])
    service = {**_truth_labels(base / "sim"), **dict(zip(texts.values(), ("exchange: X", "mixing_service: Y")))}
    results = []
    for limit in (None, TINY):
        copy = tmp_path / f"s{limit}"
        shutil.copytree(store.root, copy)
        st = Store.open(copy)
        monkeypatch.setattr(spill, "_DEFAULT", [limit])
        s = run_clustering(st, CHAIN, full=True, service_labels=AddressLabels(st, CHAIN, service))
        d = runs.run_dir(st, runs.latest_run(st, CHAIN))  # type: ignore[arg-type]
        results.append(([x.to_json() for x in s.suspects], pq.read_table(d / runs.MAPPING)))
    (sus0, map0), (sus1, map1) = results
    assert any(x["reason"] == "service_conflict" and x["cluster_id"] == biggest for x in sus0)
    assert sus1 == sus0 and map1.equals(map0)


def test_member_rows_equal_of_addresses(chain: tuple[Store, Path]) -> None:
    """The compact copy read in chain order gives `of_addresses`'s rows bit for bit (the oracle:
    the kernels over the whole index, address by address), in the order asked, in any batch size."""
    store, _ = chain
    assessor = Assessor(store, CHAIN, load_profile(None), memory_limit=None)
    labels = load_clustering(store, CHAIN).labels
    index = ClusterMembers(labels, None)
    members = index.members(index.clusters_of_size(2), 10**6)
    rng = np.random.default_rng(9)
    mixed = np.r_[members, rng.integers(0, labels.shape[0], 500)]
    want = assessor.exposure.of_addresses(mixed)
    assert float(want.direct_in.sum()) > 0 and float(want.indirect_out.sum()) > 0
    for batch in (7, 10**6):
        got = member_rows(assessor.exposure, mixed, batch=batch)
        for name in ("received", "sent", "direct_in", "direct_out", "indirect_in", "indirect_out"):
            assert getattr(got, name).tobytes() == getattr(want, name).tobytes(), (batch, name)
