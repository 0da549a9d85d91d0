"""The account-chain exposure index within a tiny memory budget (issue 19): the (address, asset)
pair index in passes over key ranges, every array proportional to the events or the pairs in a file
(the results in place in the index's staging directory); the index equal to the unbounded one byte
for byte, and to a reference written here (the in-memory `np.unique` pair index and the two passes
in plain Python floats), on a simulated TRON chain and on random synthetic graphs."""

from __future__ import annotations

import csv
import gc
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.spill_watch import no_spill_left, observe_spills

from fundtrail.chains.resolve import parse_account_address
from fundtrail.cli.main import main
from fundtrail.risk import account_exposure
from fundtrail.risk.account_exposure import _ARRAYS, AccountExposureIndex
from fundtrail.risk.account_pairs import PairIndex
from fundtrail.store import Store
from fundtrail.store.spill import SPILL_DIR
from fundtrail.trace.account_graph import AccountGraph

CHAIN = "tron"
TINY = 64 * 1024  # half of it for kept arrays: everything larger than 32 KB goes to a file
CATS = ("service_hack", "exchange")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Store, dict[str, str]]:
    """A simulated TRON chain (TRX and USDT) ingested twice, and its tags: the thief's seed address,
    the exchanges' hot wallets and every third deposit address, an OTC desk (a category outside CATS)."""
    base = tmp_path_factory.mktemp("account-scale")
    assert main(["-q", "simulate", "--chain", "tron", "--seed", "5", "--txs", "30000", "--out", str(base / "sim")]) == 0
    assert main(["-q", "--store", str(base / "ref"), "ingest", "tron", "--replay", str(base / "sim" / "rpc")]) == 0
    shutil.copytree(base / "ref", base / "bounded")
    tags: dict[str, str] = {}
    with open(base / "sim" / "truth" / "addresses.csv", newline="") as fh:
        for i, r in enumerate(csv.DictReader(fh)):
            if r["role"] == "seed" and r["category"] == "criminal":
                tags[r["address"]] = "service_hack"
            elif r["role"] == "hot" or (r["role"] == "deposit" and i % 3 == 0):
                tags[r["address"]] = "exchange"
            elif r["category"] == "otc_desk":
                tags[r["address"]] = "otc_desk"
    return Store.open(base / "ref"), Store.open(base / "bounded"), tags


@pytest.fixture
def spilled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Path]]:
    """(name, file) of the arrays placed in files (the real `Spill.array`, observed); the default
    limit unbounded, so that a call without `memory_limit` is the in-memory path."""
    return observe_spills(monkeypatch, with_paths=True)


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Key ranges of every pair index built (the real `pair_index`, observed)."""
    got: list[int] = []
    real = account_exposure.pair_index

    def observed(*args: object, **kwargs: object) -> PairIndex:
        index = real(*args, **kwargs)  # type: ignore[arg-type]
        got.append(index.passes)
        return index

    monkeypatch.setattr(account_exposure, "pair_index", observed)
    return got


def _addr_cat(graph: AccountGraph, tags: dict[str, str]) -> np.ndarray:
    col = {c: i for i, c in enumerate(CATS)}
    cat = np.full(graph.n_addresses, -1, np.int16)
    for text, c in tags.items():
        a = graph.find_address(parse_account_address(text, chain=CHAIN))
        if a >= 0:
            cat[a] = col.get(c, len(CATS))
    return cat


def test_index_bounded_equals_unbounded(stores: tuple[Store, Store, dict[str, str]],
                                        spilled: list[tuple[str, Path]], passes: list[int]) -> None:
    ref, bounded, tags = stores
    built = []
    for store, limit in ((ref, None), (bounded, TINY)):
        g = AccountGraph.ensure(store, CHAIN)
        built.append(AccountExposureIndex.ensure(store, g, CATS, _addr_cat(g, tags), memory_limit=limit))
        if limit is None:
            assert not spilled
    e0, e1 = built
    assert np.asarray(e0.arrays["assets"]).shape == (2,) and np.asarray(e0.arrays["pair_key"]).shape[0] > 4096
    assert (_addr_cat(g, tags) == 0).sum() >= 1 and (_addr_cat(g, tags) == 1).sum() > 100
    for name in ("in_direct", "in_indirect", "out_direct", "out_indirect"):
        assert float(np.asarray(e0.arrays[name])[:, :2].sum()) > 0, name  # the comparison is of something
    assert passes[0] == 1 and passes[1] > 1
    names = {n for n, _ in spilled}
    assert {"send_pair", "recv_pair", "pair_keys", "amount", "frac", "bal", "taint"} <= names
    staging = bounded.root / "derived" / CHAIN / "account-exposure.tmp"
    results = {n: f for n, f in spilled if n in _ARRAYS}
    assert set(results) == set(_ARRAYS) - {"assets"}  # every result a file, built where it is kept
    assert all(f == staging / f"{n}.npy" for n, f in results.items())
    assert all(f.parent.parent == bounded.root / SPILL_DIR for n, f in spilled if n not in _ARRAYS)
    assert e0.path is not None and e1.path is not None
    for name in [f"{n}.npy" for n in _ARRAYS] + ["meta.json"]:
        assert (e0.path / name).read_bytes() == (e1.path / name).read_bytes(), name
    assert not staging.exists()
    no_spill_left(bounded)


def test_compute_under_a_limit_keeps_its_files_while_the_index_lives(
        stores: tuple[Store, Store, dict[str, str]], tmp_path: Path, spilled: list[tuple[str, Path]]) -> None:
    ref, _, tags = stores
    g = AccountGraph.ensure(ref, CHAIN)
    cat = _addr_cat(g, tags)
    want = AccountExposureIndex.compute(g, CATS, cat)
    with pytest.raises(ValueError, match="needs a store"):
        AccountExposureIndex.compute(g, CATS, cat, memory_limit=TINY)
    store = Store.open(tmp_path / "s")
    got = AccountExposureIndex.compute(g, CATS, cat, memory_limit=TINY, store=store)
    assert isinstance(got.arrays["in_direct"], np.memmap)
    for name in _ARRAYS:
        assert np.asarray(got.arrays[name]).tobytes() == np.asarray(want.arrays[name]).tobytes(), name
    assert len(list((store.root / SPILL_DIR).glob("account-exposure-result-*"))) == 1
    del got
    gc.collect()
    no_spill_left(store)


# -- random synthetic graphs against a reference ----------------------------------------------------


def _reference(g: AccountGraph, addr_cat: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """The index by its definition, independently of the code under test: the pairs by one
    `np.unique` over all keys, then the forward and reverse passes of the module docstring in plain
    Python floats (IEEE doubles, the same operations in the same order as the kernels)."""
    f, t = np.asarray(g.ev_from), np.asarray(g.ev_to)
    assets, asset_idx = np.unique(np.asarray(g.ev_asset), return_inverse=True)
    n_assets = max(assets.shape[0], 1)
    both = np.concatenate([np.where(f >= 0, f * n_assets + asset_idx, -1),
                           np.where(t >= 0, t * n_assets + asset_idx, -1)])
    pair_key, inverse = np.unique(both[both >= 0], return_inverse=True)
    pair = np.full(both.shape[0], -1, np.int64)
    pair[both >= 0] = inverse
    n, p = f.shape[0], pair_key.shape[0]
    send, recv = pair[:n].tolist(), pair[n:].tolist()
    amount = [g.amount(e) for e in range(n)]
    amount = [float(a) if a >> 128 else float(a >> 64) * 2.0**64 + float(a & (2**64 - 1)) for a in amount]
    cat = [int(c) for c in addr_cat]
    bal, frac = [0.0] * p, [0.0] * n
    taint = [[0.0] * k for _ in range(p)]
    received, sent = [0.0] * p, [0.0] * p
    in_d, in_i, out_d, out_i = ([[0.0] * k for _ in range(p)] for _ in range(4))
    for e in range(n):
        fe, te, a, s, r = int(f[e]), int(t[e]), amount[e], send[e], recv[e]
        if fe >= 0 and fe == te:
            continue
        vec = [0.0] * k
        tagged = fe >= 0 and cat[fe] >= 0
        if s >= 0:
            if bal[s] > 0.0:
                frac[e] = min(a / bal[s], 1.0)
            if tagged:
                vec[cat[fe]] = a
            elif bal[s] > 0.0:
                share = min(a / bal[s], 1.0)
                for c in range(k):
                    vec[c] = taint[s][c] * share
                    taint[s][c] -= vec[c]
            bal[s] -= a
            if bal[s] <= 0.0:
                bal[s], taint[s] = 0.0, [0.0] * k
            sent[s] += a
            if te >= 0 and cat[te] >= 0:
                out_d[s][cat[te]] += a
        if r >= 0:
            bal[r] += a
            received[r] += a
            for c in range(k):
                taint[r][c] += vec[c]
                (in_d if tagged else in_i)[r][c] += vec[c]
    w = [[0.0] * k for _ in range(p)]
    for e in range(n - 1, -1, -1):
        fe, te, a, s, r, q = int(f[e]), int(t[e]), amount[e], send[e], recv[e], frac[e]
        if s < 0 or fe == te:
            continue
        if te >= 0 and cat[te] >= 0:
            if cat[fe] < 0:
                w[s] = [x * (1.0 - q) for x in w[s]]
                w[s][cat[te]] += q
        elif r >= 0:
            for c in range(k):
                out_i[s][c] += a * w[r][c]
                if cat[fe] < 0:
                    w[s][c] = q * w[r][c] + (1.0 - q) * w[s][c]
        elif cat[fe] < 0:
            w[s] = [x * (1.0 - q) for x in w[s]]

    def arr(rows: list[list[float]]) -> np.ndarray:
        return np.array(rows, np.float64).reshape(p, k)

    return {"pair_key": pair_key.astype(np.int64), "assets": assets.astype(np.int64),
            "received": np.array(received, np.float64), "sent": np.array(sent, np.float64),
            "in_direct": arr(in_d), "in_indirect": arr(in_i), "out_direct": arr(out_d), "out_indirect": arr(out_i)}


def _random_graph(rng: np.random.Generator, spread: int) -> tuple[AccountGraph, np.ndarray]:
    """Transfers between addresses drawn half from a power law (a few hubs), half uniformly, in up to
    eight assets, with mints, burns, self-transfers and some uint256 amounts; a tenth of the addresses
    tagged. Only every `spread`-th address id moves value (the others: e.g. NFT-only addresses)."""
    n_addr, n_ev = int(rng.integers(4000, 8000)), int(rng.integers(10000, 16000))
    tokens = rng.choice(n_addr * spread, int(rng.integers(0, 8)), replace=False)

    def people(n: int) -> np.ndarray:
        hubs = np.minimum((np.exp(rng.random(n) * np.log(n_addr)) - 1).astype(np.int64), n_addr - 1)
        return np.where(rng.random(n) < 0.5, hubs, rng.integers(0, n_addr, n))

    f, t = people(n_ev) * spread, people(n_ev) * spread
    f[rng.random(n_ev) < 0.05] = -1
    t[rng.random(n_ev) < 0.05] = -1
    self_ = rng.random(n_ev) < 0.01
    t[self_] = f[self_]
    asset = np.where(rng.random(n_ev) < 0.4, -1, tokens[rng.integers(0, max(1, tokens.shape[0]), n_ev)]) \
        if tokens.shape[0] else np.full(n_ev, -1)
    amount = rng.integers(1, 10**6, n_ev).astype(object) * 10 ** rng.integers(0, 20, n_ev).astype(object)
    amount[rng.random(n_ev) < 0.002] = 2**130 + 12345
    rows = [{"from": None if f[i] < 0 else int(f[i]), "to": None if t[i] < 0 else int(t[i]),
             "asset": None if asset[i] < 0 else int(asset[i]), "amount": int(amount[i])} for i in range(n_ev)]
    g = AccountGraph.from_rows("anvil", rows, [rng.bytes(20) for _ in range(n_addr * spread)])
    n = n_addr * spread
    cat = np.where(rng.random(n) < 0.1, rng.integers(0, 4, n), -1).astype(np.int16)  # 3: outside the categories
    return g, cat


@pytest.mark.parametrize(("seed", "spread"), [(1, 1), (2, 1), (3, 5)])
def test_random_graphs_bounded_equal_the_reference(seed: int, spread: int, tmp_path: Path,
                                                   spilled: list[tuple[str, Path]], passes: list[int]) -> None:
    """Spread 5: the address ids of a key range far sparser than its keys (no per-address table)."""
    rng = np.random.default_rng(seed)
    g, cat = _random_graph(rng, spread)
    cats = ("a", "b", "c")
    want = _reference(g, cat, len(cats) + 1)
    assert want["pair_key"].shape[0] > 4096 and float(want["out_indirect"].sum()) > 0
    store = Store.open(tmp_path / "s")
    for limit in (None, TINY, 4 << 20):
        got = AccountExposureIndex.compute(g, cats, cat, memory_limit=limit, store=store if limit else None)
        for name in _ARRAYS:
            a, b = np.asarray(got.arrays[name]), want[name]
            assert a.dtype == b.dtype and a.shape == b.shape, (limit, name)
            assert a.tobytes() == b.tobytes(), (limit, name)
        del got
    assert passes[0] == 1 and passes[1] > 1 and {"send_pair", "taint", "out_indirect"} <= {n for n, _ in spilled}
    gc.collect()
    no_spill_left(store)
