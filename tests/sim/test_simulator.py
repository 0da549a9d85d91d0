"""The simulator's own quality bar: its chains ingest cleanly, balance, match their ground truth,
and are byte-identical for a seed."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.sim.economy import SUBSIDY
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions

TXS = 20_000
TYPOLOGIES = {"peel_chain", "fan_out", "fan_in", "pass_through", "structuring", "layering",
              "mixing", "cash_out", "coinjoin", "commingling"}


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("sim")
    result = simulate(base / "out", seed=11, txs=TXS)
    report = ingest_blocks_dir(Store.open(base / "store"), base / "out" / "blocks")
    export = list(iter_transactions(Store.open(base / "store"), "btc-regtest"))
    return {"out": base / "out", "manifest": result.manifest,
            "report": report, "export": export}


def test_chain_ingests_cleanly(world: dict) -> None:
    r, m = world["report"], world["manifest"]
    assert r.unresolved_inputs == 0 and r.stale == 0 and r.rolled_back == 0
    assert [x for x in r.warnings if "genesis" not in x] == []
    assert r.blocks == m["blocks"] and r.transactions == m["transactions"]


def test_txs_honoured(world: dict) -> None:
    m = world["manifest"]
    assert TXS <= m["non_coinbase_transactions"] <= 1.3 * TXS  # speed: benchmarks/bench_simulate.py


def test_values_balance_and_only_coinbase_creates_value(world: dict) -> None:
    fees_by_block: dict[str, int] = defaultdict(int)
    coinbase_out: dict[str, int] = {}
    for tx in world["export"]:
        out = sum(o["value"] for o in tx["outputs"])
        if tx["coinbase"]:
            coinbase_out[tx["block_hash"]] = out
            continue
        ins = sum(i["value"] for i in tx["inputs"])
        assert all(i["value"] is not None for i in tx["inputs"])
        assert ins - out == tx["fee"] >= 0, tx["txid"]
        fees_by_block[tx["block_hash"]] += tx["fee"]
    for block, value in coinbase_out.items():
        assert value == SUBSIDY + fees_by_block[block]
    assert world["manifest"]["subsidy_created"] == SUBSIDY * len(coinbase_out)


def test_ground_truth_matches_the_chain(world: dict) -> None:
    out, export = world["out"], world["export"]
    chain_addrs = {o["address"] for tx in export for o in tx["outputs"]}
    txids = {tx["txid"] for tx in export}
    addrs = _csv(out / "truth" / "addresses.csv")
    assert len(addrs) == len({a["address"] for a in addrs}) == world["manifest"]["addresses"]
    assert {a["address"] for a in addrs} == chain_addrs - {None}
    txs = _csv(out / "truth" / "transactions.csv")
    assert [t["txid"] for t in txs if t["txid"] not in txids] == []
    assert len(txs) == len(export)
    found = {t["typology"] for t in txs} - {""}
    assert found >= TYPOLOGIES
    actors = {a["actor"]: a["category"] for a in _csv(out / "truth" / "actors.csv")}
    assert {"retail", "merchant", "miner", "exchange", "otc_desk", "mixer", "darknet_market",
            "ransomware", "scam", "theft", "coinjoin_coordinator"} <= set(actors.values())
    assert all(actors[a["actor"]] == a["category"] for a in addrs)


def test_case_file_seeds_cashouts_and_answers(world: dict) -> None:
    out, export = world["out"], world["export"]
    case = json.loads((out / "truth" / "cases" / "ransomware-1.json").read_text())
    by_txid = {tx["txid"]: tx for tx in export}
    for s in case["seed_outputs"]:
        o = by_txid[s["txid"]]["outputs"][s["vout"]]
        assert (o["address"], o["value"]) == (s["address"], s["value"])
    role = {a["address"]: (a["category"], a["role"]) for a in _csv(out / "truth" / "addresses.csv")}
    assert case["cashout_points"]
    for c in case["cashout_points"]:
        assert role[c["address"]] in {("exchange", "deposit"), ("otc_desk", "deposit")}
    assert set(case["typologies"]) >= TYPOLOGIES
    graph = [json.loads(x) for x in (out / "truth" / "cases" / case["txgraph"]).read_text().splitlines()]
    assert len(graph) == case["transactions"]
    for g in graph:
        tx = by_txid[g["txid"]]
        assert [(o["value"], o["address"]) for o in tx["outputs"]] == \
            [(o["value"], o["address"]) for o in g["outputs"]]
        assert [(i["prev_txid"], i["prev_vout"], i["value"]) for i in tx["inputs"]] == \
            [(i["txid"], i["vout"], i["value"]) for i in g["inputs"]]
    seed_total = sum(s["value"] for s in case["seed_outputs"])
    for policy in ("poison", "haircut", "fifo"):
        arrived = case["answers"][policy]["total_arrived_sat"]
        assert 0 < arrived <= (seed_total if policy != "poison" else 10 * seed_total)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_is_byte_identical_and_another_differs(tmp_path: Path) -> None:
    a = simulate(tmp_path / "a", seed=5, txs=3000, max_file_size=200_000)
    b = simulate(tmp_path / "b", seed=5, txs=3000, max_file_size=200_000)
    c = simulate(tmp_path / "c", seed=6, txs=3000, max_file_size=200_000)
    da, db, dc = _digest(a.out), _digest(b.out), _digest(c.out)
    assert len(a.manifest["files"]["blocks"]) >= 2
    assert da == db
    assert da["blocks/blk00000.dat"] != dc["blocks/blk00000.dat"]
    assert da["truth/addresses.csv"] != dc["truth/addresses.csv"]


def test_cli_simulate_and_bad_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--seed", "2", "--txs", "1000", "--out", str(tmp_path / "o")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simulated ")
    assert (tmp_path / "o" / "manifest.json").exists()
    assert main(["simulate", "--chain", "doge", "--out", str(tmp_path / "d")]) == 2
    assert "doge" in capsys.readouterr().err
    assert main(["simulate", "--scenario", "nope", "--out", str(tmp_path / "n")]) == 2
    assert main(["simulate", "--seed", "2", "--txs", "1000", "--out", str(tmp_path / "o")]) == 2
    assert "not empty" in capsys.readouterr().err  # a second run never mixes into a chain


def test_script_types_and_address_reuse_are_mixed(world: dict) -> None:
    kinds = Counter(o["script_type"] for tx in world["export"] for o in tx["outputs"])
    assert {"p2pkh", "p2wpkh", "p2sh", "p2tr"} <= set(kinds)
    paid = Counter(o["address"] for tx in world["export"] if not tx["coinbase"]
                   for o in tx["outputs"])
    reused = sum(1 for n in paid.values() if n > 1) / len(paid)
    assert 0.02 < reused < 0.5
