"""Traces over the graph index equal the simulator's answer keys and the reference oracle exactly.

The oracle (`fundtrail.sim.oracle`) is a deliberately simple exact implementation of the three
policies over a transaction list; the tracer is the product's graph-index implementation. Run on
the whole simulated chain with the same stop set (exchange and OTC addresses from the ground
truth), they must agree on every cash-out amount, every unspent outpoint and the fees.
"""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin.address import render_address
from fundtrail.chains.bitcoin.params import network
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.sim.exercises import make_exercise
from fundtrail.sim.oracle import case_answers
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions
from fundtrail.trace.engine import Limits, trace
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.policies import whole_sat
from fundtrail.trace.seeds import parse_seed
from fundtrail.trace.stops import StopList

CHAIN = "btc-regtest"
NET = network("regtest")


def _services(truth: Path) -> set[str]:
    with open(truth / "addresses.csv") as fh:
        return {r["address"] for r in csv.DictReader(fh) if r["category"] in ("exchange", "otc_desk")}


def _oracle_txs(store: Store) -> list[dict]:
    return [{"txid": t["txid"], "time": t["time"],
             "inputs": [{"txid": i["prev_txid"], "vout": i["prev_vout"], "value": i["value"]}
                        for i in t["inputs"]],
             "outputs": [{"value": o["value"], "address": o["address"]} for o in t["outputs"]]}
            for t in iter_transactions(store, CHAIN)]


def _stoplist(g: GraphIndex, services: set[str]) -> StopList:
    stops = StopList()
    stops.add_addresses(g, ((a, "exchange") for a in services))
    return stops


def _by_reason(g: GraphIndex, result, reason: str) -> dict:
    out: dict = {}
    for e in result.endpoints:
        if e.reason != reason:
            continue
        if reason == "service":
            key = render_address(*g.address_key(e.address), NET)
        else:
            key = (g.txid_hex(e.tx), e.output - int(g.tx_first_out[e.tx]))
        out[key] = out.get(key, 0) + e.amount
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("trace")
    simulate(base / "sim", seed=11, txs=4000)
    store = Store.open(base / "store")
    ingest_blocks_dir(store, base / "sim" / "blocks")
    g = GraphIndex.ensure(store, CHAIN)
    services = _services(base / "sim" / "truth")
    return {"base": base, "store": store, "graph": g, "services": services,
            "txs": _oracle_txs(store), "stops": _stoplist(g, services)}


@pytest.mark.parametrize("policy", ["poison", "haircut", "fifo"])
def test_forward_equals_oracle_on_whole_chain(world: dict, policy: str) -> None:
    g = world["graph"]
    case = json.loads((world["base"] / "sim/truth/cases/ransomware-1.json").read_text())
    seeds = [(o["txid"], o["vout"]) for o in case["seed_outputs"]]
    expected = case_answers(world["txs"], seeds, world["services"], policies=[policy])[policy]
    seed_ids = [parse_seed(g, f"{t}:{v}").outputs[0] for t, v in seeds]
    result = trace(g, seed_ids, policy=policy, stop=world["stops"], exact=True)
    assert result.truncated is None and result.exact
    assert expected["by_target"], "the case must reach some service"
    assert _by_reason(g, result, "service") == expected["by_target"]
    assert _by_reason(g, result, "unspent") == expected["unspent"]
    assert result.fees == expected["fees"]
    if policy != "poison":  # conservation: every traced satoshi ends somewhere
        total = sum((e.amount for e in result.endpoints), Fraction(0)) + result.fees
        assert total == expected["injected"]


def test_grid_haircut_matches_exact_haircut_to_the_satoshi(world: dict) -> None:
    """The default haircut arithmetic (2^-128-sat grid) against exact fractions on the same trace."""
    g = world["graph"]
    case = json.loads((world["base"] / "sim/truth/cases/ransomware-1.json").read_text())
    seed_ids = [parse_seed(g, f"{o['txid']}:{o['vout']}").outputs[0] for o in case["seed_outputs"]]
    exact = trace(g, seed_ids, policy="haircut", stop=world["stops"], exact=True)
    grid = trace(g, seed_ids, policy="haircut", stop=world["stops"])
    assert exact.exact and not grid.exact
    ex = {(e.output, e.reason): e.amount for e in exact.endpoints}
    gr = {(e.output, e.reason): e.amount for e in grid.endpoints}
    assert ex.keys() == gr.keys()
    bound = Fraction(grid.txs_visited + 1, 1 << 128)
    for k in ex:
        assert abs(ex[k] - gr[k]) <= bound
        assert whole_sat(gr[k]) == int(ex[k])
    # the grid conserves the traced value exactly in its own units
    assert sum((e.amount for e in grid.endpoints), Fraction(0)) + grid.fees == grid.seed_value


@pytest.mark.parametrize("exercise", ["direct-cashout", "peel-chain"])
@pytest.mark.parametrize("policy", ["haircut", "fifo", "poison"])
def test_forward_equals_exercise_answer_key(tmp_path: Path, exercise: str, policy: str) -> None:
    key = make_exercise(tmp_path / "ex", exercise, seed=3)
    store = Store.open(tmp_path / "store")
    ingest_blocks_dir(store, tmp_path / "ex" / "blocks")
    g = GraphIndex.ensure(store, CHAIN)
    services = _services(tmp_path / "ex" / "instructor" / "truth")
    vp = key["victim_payment"]
    seed = parse_seed(g, f"{vp['txid']}:{vp['vout']}")
    result = trace(g, seed.outputs, policy=policy, stop=_stoplist(g, services), exact=True)
    part = key["policies"][policy]
    expected = {r["address"]: Fraction(r["exact"]) for r in part["cashout"] + part["minor_cashout"]}
    got = _by_reason(g, result, "service")
    assert got == expected
    for u in part["unspent"]:
        txid, vout = u["outpoint"].split(":")
        assert _by_reason(g, result, "unspent")[(txid, int(vout))] >= u["amount_sat"]


def test_backward_conserves_value_and_reaches_the_victims(world: dict) -> None:
    g = world["graph"]
    case = json.loads((world["base"] / "sim/truth/cases/ransomware-1.json").read_text())
    cash = case["cashout_points"][0]
    seed = parse_seed(g, cash["address"])
    for policy in ("haircut", "fifo"):
        result = trace(g, seed.outputs, direction="backward", policy=policy)
        assert result.truncated is None
        total = sum((e.amount for e in result.endpoints), Fraction(0))
        assert total == result.seed_value  # every satoshi received is attributed to a source
        assert {e.reason for e in result.endpoints} <= {"coinbase"}  # a full chain: all from mining
    poison = trace(g, seed.outputs, direction="backward", policy="poison", limits=Limits(hops=3))
    assert {e.reason for e in poison.endpoints} <= {"coinbase", "hop_limit"}
    assert max(e.hops for e in poison.endpoints) <= 3


def test_hop_limit_threshold_and_truncation(world: dict) -> None:
    g = world["graph"]
    case = json.loads((world["base"] / "sim/truth/cases/ransomware-1.json").read_text())
    o = case["seed_outputs"][0]
    seed = parse_seed(g, f"{o['txid']}:{o['vout']}")
    two = trace(g, seed.outputs, policy="haircut", limits=Limits(hops=2))
    assert two.endpoints and max(e.hops for e in two.endpoints) <= 2
    assert "hop_limit" in {e.reason for e in two.endpoints}
    assert sum((e.amount for e in two.endpoints), Fraction(0)) + two.fees == seed_value(g, seed)
    big = trace(g, seed.outputs, policy="haircut", limits=Limits(min_value=10**12))
    assert {e.reason for e in big.endpoints} == {"threshold"}
    cut = trace(g, seed.outputs, policy="haircut", limits=Limits(max_txs=3))
    assert cut.txs_visited == 3 and cut.truncated and "3 transactions" in cut.truncated
    assert "truncated" in {e.reason for e in cut.endpoints}
    assert sum((e.amount for e in cut.endpoints), Fraction(0)) + cut.fees == seed_value(g, seed)


def seed_value(g: GraphIndex, seed) -> int:
    return sum(int(g.out_value[o]) for o in seed.outputs)
