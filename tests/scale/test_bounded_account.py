"""The account graph index within a tiny memory budget (issue 19): every proportional array spilled
to a file (the outputs in place in the staging directory), the store read in chunks of whole
blocks, the lookup keys and address -> events lists sorted in passes; every file equal to the
unbounded build's byte for byte, for a first build, incremental extensions and a rebuild, and the
spill directory gone afterwards. Two real chains: a simulated TRON chain (TRX, USDT, fees; more
transfers than the smallest chunk) and the anvil ingest scenario (internal transfers with trace
addresses, ERC-20 amounts of 2**256-1, reverts), read there in chunks smaller than a block."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.spill_watch import no_spill_left, observe_spills
from support.anvil import Anvil
from support.eth_scenario import Scenario, run_scenario

from fundtrail.cli.main import main
from fundtrail.ingest.ethereum.jobs import ingest_ethereum
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport
from fundtrail.store import Store, spill
from fundtrail.store.spill import Spill
from fundtrail.trace import account_graph, graph_build
from fundtrail.trace.account_graph import _ARRAYS, AccountGraph, account_graph_dir
from fundtrail.trace.account_graph_build import derive

TINY = 64 * 1024  # half of it for kept arrays: everything larger than 32 KB goes to a file
SMALL = 2 * 1024
FILES = [f"{n}.npy" for n in _ARRAYS] + ["meta.json"]


@pytest.fixture
def spilled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the arrays placed in files (the real `Spill.array`, observed); the default limit
    unbounded, so that a call without `memory_limit` is the in-memory path."""
    return observe_spills(monkeypatch)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each build of the index: whether it extended an old one (the real builder, observed)."""
    got: list[bool] = []
    real = account_graph.build_account_arrays

    def observed(store: Store, chain: str, old: AccountGraph | None, *args: object) -> dict[str, np.ndarray]:
        got.append(old is not None)
        return real(store, chain, old, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(account_graph, "build_account_arrays", observed)
    return got


def _both(ref: Store, bounded: Store, chain: str, *, full: bool = False,
          limit: int = TINY) -> tuple[AccountGraph, list[int]]:
    """Ensure the index unbounded on `ref` and within `limit` on `bounded`; assert every file is
    the same; the bounded index and the progress of its transfer reads (one call per chunk)."""
    g0 = AccountGraph.ensure(ref, chain, full=full)
    chunks: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "transfers":
            chunks.append(done)

    g1 = AccountGraph.ensure(bounded, chain, full=full, memory_limit=limit, progress=progress)
    assert g1.meta == g0.meta
    a, b = account_graph_dir(ref, chain), account_graph_dir(bounded, chain)
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    no_spill_left(bounded)
    return g1, chunks


def test_tron_bounded_equals_unbounded(tmp_path: Path, spilled: list[str], builds: list[bool]) -> None:
    assert main(["-q", "simulate", "--chain", "tron", "--seed", "5", "--txs", "8000", "--out",
                 str(tmp_path / "sim")]) == 0
    ref, bounded = Store.open(tmp_path / "ref"), Store.open(tmp_path / "bounded")

    def ingest(store: Store, *to: str) -> None:
        assert main(["-q", "--store", str(store.root), "ingest", "tron", "--replay", str(tmp_path / "sim" / "rpc"),
                     "--batch-blocks", "20", *to]) == 0

    for store in (ref, bounded):
        ingest(store, "--to", "60")
    g, chunks = _both(ref, bounded, "tron")
    assert {"ev_from", "ev_lo", "ev_trace_ptr", "addr_events", "tx_hash", "tx_key", "tx_ev_start"} <= set(spilled)
    assert len(chunks) > 1  # more than one chunk of transfers
    assert g.find_tx(bytes(g.tx_hash[1234])) == 1234
    n_half = g.n_events
    for store in (ref, bounded):
        ingest(store)
    spilled.clear()
    g, chunks = _both(ref, bounded, "tron")
    assert g.n_events > n_half and chunks[0] == 0 and len(chunks) > 1
    assert {"ev_from", "addr_events", "tx_key"} <= set(spilled)
    assert builds == [False, False, True, True]  # first builds, then both extended the old index
    g, _ = _both(ref, bounded, "tron", full=True)
    assert builds[-2:] == [False, False]
    # each address's events: exactly those it sent or received, in execution order
    p = np.asarray(g.addr_ptr)
    top = int(np.argmax(np.diff(p)))
    evs = np.asarray(g.events_of(top))
    assert np.all(np.diff(evs) > 0) and evs.size == int(((g.ev_from == top) | (g.ev_to == top)).sum())


@pytest.fixture(scope="module")
def anvil_chain() -> Iterator[tuple[Anvil, Scenario]]:
    with Anvil() as node:
        yield node, run_scenario(node)


def test_anvil_bounded_equals_unbounded(anvil_chain: tuple[Anvil, Scenario], tmp_path: Path, spilled: list[str],
                                        builds: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    """The scenario's chain is small: a 2 KB budget and the smallest chunk lowered to 2 rows, so its
    blocks are split across chunks and some are larger than one (read whole), and every sort takes
    many passes."""
    node, sc = anvil_chain
    monkeypatch.setattr(spill, "MIN_ROWS", 2)
    ref, bounded = Store.open(tmp_path / "ref"), Store.open(tmp_path / "bounded")

    def ingest(store: Store, **kw: int) -> None:
        ingest_ethereum(store, EthRpc(HttpTransport(node.url)), chain="anvil", batch_blocks=6, **kw)

    steps = [{"first": 0, "last": sc.first_block + 7}, {"last": sc.first_block + 20}, {"last": node.block_number()}]
    sizes, reread = [], False
    for step in steps:
        for store in (ref, bounded):
            ingest(store, **step)
        g, chunks = _both(ref, bounded, "anvil", limit=SMALL)
        assert len(chunks) > 10
        reread |= len(set(chunks)) < len(chunks)  # a block larger than the chunk: read again, whole
        sizes.append(g.n_events)
    assert reread
    assert sizes[0] < sizes[1] < sizes[2] and builds == [False, False, True, True, True, True]
    assert {"ev_from", "ev_trace", "big_raw", "addr_ptr", "addr_events", "addr_key", "tx_key"} <= set(spilled)
    # the bounded build's exact amounts and trace addresses: the 2**256-1 tokens, internal calls
    assert sorted(g.amount(int(e)) for e in g.big_pos) == [2**256 - 1, 2**256 - 1]
    assert any(g.trace_address(e) for e in range(g.n_events))
    erin = g.find_address(bytes.fromhex(sc.accounts[5][2:]))
    assert erin >= 0 and len(g.events_of(erin)) >= 2
    _both(ref, bounded, "anvil", full=True, limit=SMALL)
    assert builds[-2:] == [False, False]


@pytest.mark.parametrize("max_buckets", [256, 2])
def test_derive_in_passes_equals_whole_array_sorts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   max_buckets: int) -> None:
    """The derived arrays made in passes under a small budget equal the whole-array sorts written
    here: keys with equal 8-byte prefixes (ties by id), hubs with more events than a pass holds,
    self-transfers, the no-one id -1, events outside any transaction; the address lists' bucket
    files written in one scan, or in groups of two (one scan per group)."""
    monkeypatch.setattr(graph_build, "MAX_BUCKETS", max_buckets)
    rng = np.random.default_rng(7)
    n_addr, n_tx = 3000, 20_000
    tx = np.sort(rng.integers(0, n_tx, 60_000))
    tx[rng.random(tx.shape[0]) < 0.02] = -1
    ev_from = np.where(rng.random(tx.shape[0]) < 0.3, rng.integers(0, 2, tx.shape[0]),  # hubs
                       rng.integers(-1, n_addr, tx.shape[0]))
    ev_to = np.where(rng.random(tx.shape[0]) < 0.1, ev_from, rng.integers(-1, n_addr, tx.shape[0]))
    addr_bytes = rng.integers(0, 256, (n_addr, 20), np.uint8)
    addr_bytes[100:400, :8] = addr_bytes[7, :8]
    tx_hash = rng.integers(0, 256, (n_tx, 32), np.uint8)
    tx_hash[::50, :8] = 0
    cols = {"ev_from": ev_from, "ev_to": ev_to, "ev_tx": tx, "addr_bytes": addr_bytes, "tx_hash": tx_hash,
            "tx_block": np.zeros(n_tx, np.int64)}
    want: dict[str, np.ndarray] = {}
    for name, table in (("addr", addr_bytes), ("tx", tx_hash)):
        key = table[:, :8].copy().view(">u8").ravel().astype(np.uint64)
        want[f"{name}_key_ids"] = np.argsort(key, kind="stable")
        want[f"{name}_key"] = key[want[f"{name}_key_ids"]]
    pos = np.arange(tx.shape[0])
    side_to = (ev_to >= 0) & (ev_to != ev_from)
    owners = np.concatenate([ev_from[ev_from >= 0], ev_to[side_to]])
    events = np.concatenate([pos[ev_from >= 0], pos[side_to]])
    want["addr_events"] = events[np.lexsort((events, owners))]
    want["addr_ptr"] = np.r_[0, np.cumsum(np.bincount(owners, minlength=n_addr))]
    want["tx_ev_count"] = np.bincount(tx[tx >= 0], minlength=n_tx)
    want["tx_ev_start"] = np.zeros(n_tx, np.int64)
    first = np.flatnonzero((tx >= 0) & np.r_[True, tx[1:] != tx[:-1]])
    want["tx_ev_start"][tx[first]] = first
    (tmp_path / "out").mkdir()
    with Spill(tmp_path, 256 * 1024, "derive") as sp:  # passes of 4096 entries: each hub alone, streamed
        got = derive(dict(cols), sp, lambda name, shape, dtype, fill=None: sp.array(
            name, shape, dtype, fill, path=tmp_path / "out" / f"{name}.npy"))
        assert {"addr_events", "tx_key"} <= set(sp.spilled)
        assert np.bincount(owners)[:2].min() > sp.rows(64, share=4)
        for name, arr in want.items():
            assert np.array_equal(np.asarray(got[name]), arr), name
            assert got[name].dtype == (np.uint64 if name.endswith("_key") else np.int64), name
