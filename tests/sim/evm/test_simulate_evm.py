"""The EVM simulator end to end on a real anvil node.

The simulated chain is ingested twice, live from the node and from the recording, and both must
equal the truth the simulator wrote (derived from what the contracts do, not from the node's
logs or traces); balances on the node must equal the truth's movements; the same seed must give
byte-identical files.
"""

from __future__ import annotations

import csv
import filecmp
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.anvil import Anvil

from fundtrail.ingest.ethereum.jobs import ingest_ethereum
from fundtrail.ingest.ethereum.replay import ReplayTransport
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport
from fundtrail.sim.evm.node import BLOCK_GAS_LIMIT, GENESIS_TIME
from fundtrail.sim.evm.scenario import simulate_evm
from fundtrail.store import Store
from fundtrail.store.account_export import iter_transfers

MINER = "0x" + "00" * 20
SEED, TXS = 7, 600
ANVIL_ARGS = ["--timestamp", str(GENESIS_TIME), "--block-base-fee-per-gas", "0",
              "--gas-limit", str(BLOCK_GAS_LIMIT)]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Anvil, Path, dict]]:
    out = tmp_path_factory.mktemp("evm") / "sim"
    with Anvil(automine=False, extra_args=ANVIL_ARGS) as node:
        manifest = simulate_evm(out, seed=SEED, txs=TXS, rpc_url=node.url)
        yield node, out, manifest


def _truth_transfers(out: Path) -> list[dict]:
    with (out / "truth" / "transfers.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _expected(out: Path) -> Counter:
    c: Counter = Counter()
    for t in _truth_transfers(out):
        to = t["to"] or (MINER if t["kind"] == "fee" else None)
        c[(t["tx_hash"], t["kind"], t["from"], to, t["asset"], int(t["amount"]))] += 1
    return c


def _ingested(store: Store) -> Counter:
    c: Counter = Counter()
    for t in iter_transfers(store, "anvil"):
        if t["kind"] == "native" and not t["success"]:
            continue  # the attempted value of a reverted transaction did not move
        assert t["success"], t
        asset = t["asset"] if t["asset"] == "ETH" else t["asset"].lower()
        c[(t["tx_hash"], t["kind"], t["from"].lower(), (t["to"] or "").lower() or None, asset,
           int(t["amount"]))] += 1
    return c


def test_live_ingest_matches_truth(sim, tmp_path: Path) -> None:
    node, out, manifest = sim
    store = Store.open(tmp_path / "live")
    report = ingest_ethereum(store, EthRpc(HttpTransport(node.url)), chain="anvil")
    assert report.blocks == manifest["blocks"] == node.block_number() + 1
    assert report.transactions == manifest["transactions"]
    expected, got = _expected(out), _ingested(store)
    assert sum(expected.values()) == manifest["transfers"]
    assert got == expected, (list((got - expected).items())[:3], list((expected - got).items())[:3])
    # the case in particular: every one of its movements, ERC-20 amounts to the base unit
    case = json.loads((out / "truth" / "cases" / "theft-1.json").read_text())
    hashes = {t["tx_hash"] for t in case["transactions"]}
    in_case = Counter({k: n for k, n in expected.items() if k[0] in hashes})
    assert {k[1] for k in in_case} >= {"native", "internal", "erc20", "fee"}
    assert Counter({k: n for k, n in got.items() if k[0] in hashes}) == in_case
    stolen = next(s for s in case["seed_transfers"] if s["asset"] != "ETH")
    assert got[(stolen["tx_hash"], "erc20", stolen["from"], stolen["to"], stolen["asset"],
                int(stolen["amount"]))] == 1


def test_recording_ingests_like_the_node(sim, tmp_path: Path) -> None:
    node, out, manifest = sim
    live = Store.open(tmp_path / "live")
    ingest_ethereum(live, EthRpc(HttpTransport(node.url)), chain="anvil")
    replayed = Store.open(tmp_path / "replay")
    transport = ReplayTransport(out / "rpc")
    report = ingest_ethereum(replayed, EthRpc(transport), chain="anvil")
    assert report.blocks == manifest["blocks"]
    assert report.trace_mode == "parity"
    assert list(iter_transfers(replayed, "anvil")) == list(iter_transfers(live, "anvil"))
    assert _ingested(replayed) == _expected(out)


def test_balances_add_up(sim) -> None:
    """The node's balances equal genesis allocations plus the truth's movements, to the wei/unit."""
    node, out, manifest = sim
    ledger: Counter = Counter()
    for a, v in manifest["genesis_allocations"].items():
        ledger[(a, "ETH")] += int(v)
    for t in _truth_transfers(out):
        ledger[(t["from"], t["asset"])] -= int(t["amount"])
        if t["to"]:
            ledger[(t["to"], t["asset"])] += int(t["amount"])
    stable = manifest["contracts"]["stablecoin"]
    with (out / "truth" / "addresses.csv").open(encoding="utf-8") as f:
        addresses = [r["address"] for r in csv.DictReader(f)]
    assert len(addresses) == manifest["addresses"] > 100
    checked = 0
    for a in addresses:
        assert int(node.rpc("eth_getBalance", a, "latest"), 16) == ledger[(a, "ETH")], a
        data = "0x70a08231" + a[2:].rjust(64, "0")
        assert int(node.rpc("eth_call", {"to": stable, "data": data}, "latest"), 16) == \
            ledger[(a, stable)], a
        checked += 1
    total_supply = int(node.rpc("eth_call", {"to": stable, "data": "0x18160ddd"}, "latest"), 16)
    assert total_supply == -ledger[(MINER, stable)] > 0  # mints come from the zero address
    assert checked == len(addresses)


def test_case_file(sim) -> None:
    node, out, _manifest = sim
    case = json.loads((out / "truth" / "cases" / "theft-1.json").read_text())
    with (out / "truth" / "transactions.csv").open(encoding="utf-8") as f:
        txs = {r["tx_hash"]: r for r in csv.DictReader(f)}
    assert len(case["seed_txs"]) == 2 and all(txs[h]["typology"] == "theft" for h in case["seed_txs"])
    typologies = {t["typology"] for t in case["transactions"]}
    assert {"theft", "fan_out", "peel_chain", "mixing", "swap", "bridge", "freeze",
            "cash_out"} <= typologies
    # the frozen address: the issuer froze it and the thief's transfer reverted on chain
    failed = [t for t in case["transactions"] if t["status"] == 0]
    assert len(failed) == 1 and failed[0]["typology"] == "freeze"
    receipt = node.rpc("eth_getTransactionReceipt", failed[0]["tx_hash"])
    assert receipt["status"] == "0x0"
    frozen = case["frozen"][0]
    assert int(frozen["amount"]) > 0
    data = "0x70a08231" + frozen["address"][2:].rjust(64, "0")
    assert int(node.rpc("eth_call", {"to": frozen["asset"], "data": data}, "latest"), 16) == \
        int(frozen["amount"])
    # cash-out points are exchange deposit addresses
    assert case["cashout_points"] and all(p["category"] == "exchange" for p in case["cashout_points"])
    # every answer accounts for all injected ETH under haircut and FIFO (conservation)
    for policy in ("haircut", "fifo"):
        a = case["answers"][policy]
        eth = sum(_frac(x["amount"]) for part in ("cashout", "other_leaves", "held")
                  for x in a[part] if x["asset"] == "ETH")
        eth += sum(_frac(x["dirty"]) for x in a["bridge"] if x["asset"] == "ETH")
        assert eth == _frac(a["injected"]["ETH"]), policy


def _frac(text: str):
    from fractions import Fraction
    return Fraction(text)


def test_bridge_exits_match_the_events(sim) -> None:
    """The truth's destination chain and address are what the Locked event on chain says."""
    node, out, manifest = sim
    exits = json.loads((out / "truth" / "bridge_exits.json").read_text())
    assert any(e["case"] == "theft-1" for e in exits)
    for e in exits:
        logs = node.rpc("eth_getTransactionReceipt", e["tx_hash"])["logs"]
        locked = [lg for lg in logs if lg["address"].lower() == manifest["contracts"]["bridge"]]
        assert len(locked) == 1
        lg = locked[0]
        assert int(lg["topics"][3], 16) == e["dest_chain_id"]
        data = bytes.fromhex(lg["data"][2:])
        assert int.from_bytes(data[:32], "big") == int(e["amount"])
        assert int.from_bytes(data[32:64], "big") == int(e["dest_address"], 16)
        assert int(lg["topics"][1], 16) == int(e["sender"], 16)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_rerun_after_crash(tmp_path: Path) -> None:
    first = simulate_evm(tmp_path / "a", seed=11, txs=400)
    simulate_evm(tmp_path / "b", seed=11, txs=400)
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert len(a) == first["recorded_files"] + len(first["files"]) + 1
    assert a == b
    other = simulate_evm(tmp_path / "c", seed=12, txs=400)
    assert other["files"] != first["files"]

    def crash(stage: str, done: int, target: int) -> None:
        if stage == "recording":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate_evm(tmp_path / "d", seed=11, txs=400, progress=crash)
    assert not (tmp_path / "d" / "manifest.json").exists()
    simulate_evm(tmp_path / "d", seed=11, txs=400)
    assert _tree(tmp_path / "d") == a
    assert not filecmp.dircmp(tmp_path / "a", tmp_path / "d").diff_files


def test_docs_name_every_pattern_typology_and_role(sim) -> None:
    _node, out, _manifest = sim
    doc = (Path(__file__).resolve().parents[3] / "docs" / "simulator-evm.md").read_text()
    with (out / "truth" / "transactions.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with (out / "truth" / "addresses.csv").open(encoding="utf-8") as f:
        roles = {r["role"] for r in csv.DictReader(f)}
    names = {r["pattern"] for r in rows} | {r["typology"] for r in rows if r["typology"]} | roles
    assert len(names) > 30
    missing = sorted(n for n in names if n not in doc)
    assert not missing, f"docs/simulator-evm.md does not explain {missing}"
