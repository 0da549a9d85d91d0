"""The three case files of the default scenario (ransomware-1, theft-1, scam-1): consistent with the
ingested chain, closed under the case-boundary rule, and with oracle answers that conserve value."""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import pytest

from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.sim.oracle import case_answers, to_jsonable
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions

CASES = ("ransomware-1", "theft-1", "scam-1")
ACTOR = {"ransomware-1": "ransomware-group-1", "theft-1": "thief-1", "scam-1": "scam-operation-1"}


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("cases")
    res = simulate(base / "out", seed=21, txs=6000)
    ingest_blocks_dir(Store.open(base / "store"), base / "out" / "blocks")
    txs = list(iter_transactions(Store.open(base / "store"), "btc-regtest"))
    truth = base / "out" / "truth"
    cases = {c: json.loads((truth / "cases" / f"{c}.json").read_text()) for c in CASES}
    graphs = {c: [json.loads(x) for x in (truth / "cases" / f"{c}.txgraph.jsonl").read_text()
                  .splitlines()] for c in CASES}
    return {"manifest": res.manifest, "txs": txs, "by_txid": {t["txid"]: t for t in txs},
            "owner": {a["address"]: a for a in _csv(truth / "addresses.csv")},
            "patterns": {t["txid"]: t for t in _csv(truth / "transactions.csv")},
            "cases": cases, "graphs": graphs}


def test_manifest_lists_every_case_file(world: dict) -> None:
    m = world["manifest"]
    assert m["cases"] == list(CASES)
    for c in CASES:
        assert f"truth/cases/{c}.json" in m["files"]["truth"]
        assert f"truth/cases/{c}.txgraph.jsonl" in m["files"]["truth"]


@pytest.mark.parametrize("case", CASES)
def test_case_graph_matches_the_chain(world: dict, case: str) -> None:
    c, graph, by_txid = world["cases"][case], world["graphs"][case], world["by_txid"]
    assert c["seed_outputs"] and len(graph) == c["transactions"] >= 10
    for s in c["seed_outputs"]:
        o = by_txid[s["txid"]]["outputs"][s["vout"]]
        assert (o["address"], o["value"]) == (s["address"], s["value"])
        assert world["owner"][s["address"]]["actor"] == ACTOR[case]
    heights = [g["height"] for g in graph]
    assert heights == sorted(heights)
    for g in graph:
        tx = by_txid[g["txid"]]
        assert [(o["value"], o["address"]) for o in tx["outputs"]] == \
            [(o["value"], o["address"]) for o in g["outputs"]]
        assert [(i["prev_txid"], i["prev_vout"], i["value"]) for i in tx["inputs"]] == \
            [(i["txid"], i["vout"], i["value"]) for i in g["inputs"]]
        assert case in world["patterns"][g["txid"]]["case"].split(";")
    for p in c["cashout_points"]:
        assert (world["owner"][p["address"]]["category"], world["owner"][p["address"]]["role"]) \
            in {("exchange", "deposit"), ("otc_desk", "deposit")}


@pytest.mark.parametrize("case", CASES)
def test_case_graph_is_closed_under_the_boundary_rule(world: dict, case: str) -> None:
    """Every chain transaction spending a marked output is in the graph, and nothing else is.

    Marked: a seed output, or an output of a graph transaction held by the case's actor or by the
    custodial mixer. Outputs of anyone else (a cash-out point, another CoinJoin participant, a
    mixer customer) are leaves.
    """
    c, graph, owner = world["cases"][case], world["graphs"][case], world["owner"]
    in_graph = {g["txid"] for g in graph}
    seeds = {(s["txid"], s["vout"]) for s in c["seed_outputs"]}
    marked = set(seeds)
    for g in graph:
        for vout, o in enumerate(g["outputs"]):
            a = owner.get(o["address"] or "")
            if a and (a["actor"] == ACTOR[case] or a["category"] == "mixer"):
                marked.add((g["txid"], vout))
    spending = {t["txid"] for t in world["txs"]
                if any((i["prev_txid"], i["prev_vout"]) in marked for i in t["inputs"])}
    seed_txids = {s["txid"] for s in c["seed_outputs"]}
    assert spending | seed_txids == in_graph


@pytest.mark.parametrize("case", CASES)
def test_answers_are_the_oracle_on_the_graph_and_conserve_value(world: dict, case: str) -> None:
    c, graph = world["cases"][case], world["graphs"][case]
    seeds = [(s["txid"], s["vout"]) for s in c["seed_outputs"]]
    again = to_jsonable(case_answers(graph, seeds, frozenset(p["address"]
                                                             for p in c["cashout_points"])))
    assert json.loads(json.dumps(again)) == c["answers"]
    for policy in ("haircut", "fifo"):
        a = c["answers"][policy]
        total = Fraction(a["total_arrived"]) + sum(map(Fraction, a["unspent"].values())) \
            + Fraction(a["fees"])
        assert total == Fraction(a["injected"]) == sum(s["value"] for s in c["seed_outputs"])
        assert a["total_arrived_sat"] > 0


def test_ransomware_mixes_with_clean_coins_so_policies_differ(world: dict) -> None:
    c = world["cases"]["ransomware-1"]
    arrived = {p: Fraction(c["answers"][p]["total_arrived"]) for p in ("poison", "haircut", "fifo")}
    assert len(set(arrived.values())) == 3, arrived
    assert arrived["poison"] > arrived["haircut"] and arrived["poison"] > arrived["fifo"]
    assert {"commingling", "coinjoin", "peel_chain", "mixing"} <= set(c["typologies"])
    protocols = {x["protocol"] for x in c["coinjoins"]}
    assert {"whirlpool_tx0", "whirlpool_mix"} <= protocols
    # the group's clean coins: an input of a commingling transaction from outside the graph
    graph_outs = {(g["txid"], v) for g in world["graphs"]["ransomware-1"]
                  for v in range(len(g["outputs"]))}
    mingled = [g for g in world["graphs"]["ransomware-1"]
               if world["patterns"][g["txid"]]["typology"] == "commingling"]
    assert mingled and any((i["txid"], i["vout"]) not in graph_outs for i in mingled[0]["inputs"])


def test_theft_drains_a_hot_wallet_and_mixes_in_wasabi2(world: dict) -> None:
    c, owner = world["cases"]["theft-1"], world["owner"]
    seed_tx = world["by_txid"][c["seed_txids"][0]]
    assert world["patterns"][seed_tx["txid"]]["pattern"] == "theft"
    assert {owner[i["address"]]["role"] for i in seed_tx["inputs"]} <= {"hot", "change"}
    assert len({owner[i["address"]]["actor"] for i in seed_tx["inputs"]}) == 1
    assert {owner[i["address"]]["category"] for i in seed_tx["inputs"]} == {"exchange"}
    assert "wasabi2" in {x["protocol"] for x in c["coinjoins"]}
    assert {"peel_chain", "fan_out", "coinjoin", "cash_out"} <= set(c["typologies"])


def test_scam_victims_pay_reused_addresses_then_structured_deposits(world: dict) -> None:
    c = world["cases"]["scam-1"]
    assert len(c["seed_outputs"]) >= 10 and len(set(c["seed_addresses"])) <= 3
    payers = {world["patterns"][s["txid"]]["actor"] for s in c["seed_outputs"]}
    assert len(payers) >= 5 and all(p.startswith("user-") for p in payers)
    assert {"fan_in", "structuring"} <= set(c["typologies"])
    deposits = [o["value"] for g in world["graphs"]["scam-1"]
                if world["patterns"][g["txid"]]["typology"] == "structuring"
                for o in g["outputs"] if world["owner"][o["address"]]["role"] == "deposit"]
    assert deposits and all(o < 10_000_000 for o in deposits)
