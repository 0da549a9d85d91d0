"""The account graph index over a real anvil chain (the ingest test scenario: ETH, internal transfers,
ERC-20 incl. 2**256-1, WETH, reverts, fees): slices match the export, incremental update equals a
full build, rollback rebuilds, an interrupted write keeps the old index; seeds and their errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.anvil import Anvil
from support.eth_scenario import Scenario, run_scenario

from fundtrail.chains.ethereum.hexutil import eip55
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.ingest.ethereum.jobs import ingest_ethereum
from fundtrail.ingest.ethereum.pipeline import EthIngest
from fundtrail.ingest.ethereum.rollback import rollback_to
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport
from fundtrail.model.chains import evm_chain
from fundtrail.store import Store
from fundtrail.store.account_export import iter_transfers
from fundtrail.trace.account_engine import trace_account
from fundtrail.trace.account_graph import _ARRAYS, AccountGraph, account_graph_dir
from fundtrail.trace.account_report import transfer_ref
from fundtrail.trace.account_seeds import asset_id, parse_account_seed

CHAIN = "anvil"


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[Anvil, Scenario]]:
    with Anvil() as node:
        yield node, run_scenario(node)


def _ingest(node: Anvil, root: Path, last: int | None = None) -> Store:
    store = Store.open(root)
    ingest_ethereum(store, EthRpc(HttpTransport(node.url)), chain=CHAIN, first=0,
                    last=node.block_number() if last is None else last, batch_blocks=6)
    return store


def _bad_checksum(address: str) -> str:
    """The EIP-55 form of `address` with one letter's case flipped: a typo the checksum catches."""
    good = eip55(bytes.fromhex(address[2:]))
    i = next(i for i, c in enumerate(good) if i > 1 and c.isalpha())
    return good[:i] + good[i].swapcase() + good[i + 1:]


def _same(a: AccountGraph, b: AccountGraph) -> None:
    for name in _ARRAYS:
        assert np.array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name))), name


def test_events_match_the_export(chain, tmp_path: Path) -> None:
    node, sc = chain
    store = _ingest(node, tmp_path / "s")
    g = AccountGraph.ensure(store, CHAIN)
    value = [t for t in iter_transfers(store, CHAIN)
             if t["success"] and t["kind"] in ("native", "internal", "erc20", "fee")]
    assert g.n_events == len(value)  # NFTs and failed transfers are not value
    exported = sorted((t["tx_hash"], t["kind"], int(t["amount"])) for t in value)
    kinds = ("native", "internal", "erc20", "", "", "", "fee")
    indexed = sorted((g.tx_hash_hex(int(g.ev_tx[e])), kinds[int(g.ev_kind[e])],
                      g.amount(e)) for e in range(g.n_events))
    assert indexed == exported
    assert sorted(g.amount(int(e)) for e in g.big_pos) == [2**256 - 1, 2**256 - 1]  # exact beyond 128 bits
    # execution order: a forwarder's incoming value comes before what it sends on
    fwd = next(m for m in sc.movements if m["label"] == "forward alice->F1->erin" and m["kind"] == "internal")
    tx = g.find_tx(bytes.fromhex(fwd["tx_hash"][2:]))
    kinds = [int(g.ev_kind[e]) for e in g.events_of_tx(tx)]
    assert kinds[0] == 0 and kinds[-1] == 1
    assert transfer_ref(g, list(g.events_of_tx(tx))[-1]) == f"{fwd['tx_hash']}:trace:0"
    # each address's events are its transfers, in order
    alice = g.find_address(bytes.fromhex(sc.accounts[1][2:]))
    evs = np.asarray(g.events_of(alice))
    assert np.all(np.diff(evs) > 0)
    assert all(alice in (int(g.ev_from[e]), int(g.ev_to[e])) for e in evs)
    assert len(evs) == int(((g.ev_from == alice) | (g.ev_to == alice)).sum())


def test_incremental_update_equals_full_build(chain, tmp_path: Path) -> None:
    node, sc = chain
    store = _ingest(node, tmp_path / "inc", last=sc.first_block + 12)
    first = AccountGraph.ensure(store, CHAIN)
    ingest_ethereum(store, EthRpc(HttpTransport(node.url)), chain=CHAIN, batch_blocks=6)
    inc = AccountGraph.ensure(store, CHAIN)
    assert inc.n_events > first.n_events
    _same(inc, AccountGraph.ensure(_ingest(node, tmp_path / "full"), CHAIN))
    mtime = (account_graph_dir(store, CHAIN) / "meta.json").stat().st_mtime_ns
    AccountGraph.ensure(store, CHAIN)  # up to date: nothing rewritten
    assert (account_graph_dir(store, CHAIN) / "meta.json").stat().st_mtime_ns == mtime


def test_rollback_below_the_index_rebuilds(chain, tmp_path: Path) -> None:
    node, sc = chain
    store = _ingest(node, tmp_path / "rb")
    g = AccountGraph.ensure(store, CHAIN)
    keep = sc.first_block + 20
    with EthIngest(store, evm_chain(CHAIN, 31337), EthRpc(HttpTransport(node.url))) as ing:
        assert rollback_to(ing, keep) > 0
    again = AccountGraph.ensure(store, CHAIN)
    assert again.n_events < g.n_events and int(np.asarray(again.ev_block).max()) == keep
    _same(again, AccountGraph.ensure(_ingest(node, tmp_path / "short", last=keep), CHAIN))


def test_interrupted_write_leaves_the_old_index(chain, tmp_path: Path, monkeypatch) -> None:
    node, _ = chain
    store = _ingest(node, tmp_path / "s")
    g = AccountGraph.ensure(store, CHAIN)
    before = {n: np.array(getattr(g, n)) for n in _ARRAYS}
    import fundtrail.trace.graph as graph_mod

    def boom(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(graph_mod.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        AccountGraph.ensure(store, CHAIN, full=True)
    monkeypatch.undo()
    g2 = AccountGraph.load(store, CHAIN)
    for n in _ARRAYS:
        assert np.array_equal(before[n], np.asarray(getattr(g2, n))), n
    shutil.rmtree(account_graph_dir(store, CHAIN))
    assert AccountGraph.ensure(store, CHAIN).n_events == g.n_events


def test_seeds_and_their_errors(chain, tmp_path: Path) -> None:
    node, sc = chain
    store = _ingest(node, tmp_path / "s")
    g = AccountGraph.ensure(store, CHAIN)
    erin = sc.accounts[5]
    seed = parse_account_seed(g, erin.upper().replace("0X", "0x"))  # all-caps: no checksum, accepted
    assert seed.kind == "address" and len(seed.events) == 2  # the two forwards to erin
    times = [int(g.ev_time[e]) for e in seed.events]
    assert parse_account_seed(g, erin, since=max(times) + 1).events == []
    assert parse_account_seed(g, erin, until=min(times) - 1).events == []
    assert parse_account_seed(g, erin, since=min(times), until=max(times)).events == seed.events
    tx_seed = parse_account_seed(g, sc.creation_txs["doomed"])
    assert tx_seed.kind == "transaction" and [g.amount(e) for e in tx_seed.events] == [2 * 10**18]
    assert asset_id(g, "eth") == -1 and asset_id(g, None) is None
    assert asset_id(g, sc.contracts["token"]) == g.find_address(bytes.fromhex(sc.contracts["token"][2:]))
    bad = [("0x1234", UsageError), ("0x" + "zz" * 20, UsageError), ("0x" + "g" * 64, UsageError),
           (_bad_checksum(erin), UsageError),
           ("0x" + "12" * 20, NotFoundError), ("0x" + "ab" * 32, NotFoundError)]
    for text, err in bad:
        with pytest.raises(err) as info:
            parse_account_seed(g, text)
        assert "\n" not in info.value.one_line()
    with pytest.raises(UsageError, match="neither ETH nor a token"):
        asset_id(g, "DOGE")
    with pytest.raises(UsageError, match="unknown taint policy"):
        trace_account(g, seed, policy="lifo")
    with pytest.raises(UsageError, match="forward or backward"):
        trace_account(g, seed, direction="sideways")
    with pytest.raises(NotFoundError, match="not in the store"):
        AccountGraph.ensure(store, "eth")
