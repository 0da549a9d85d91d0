"""CoinJoin/change marks on trace nodes and the peel-chain follower (issue 12 item 19).

Checked against the simulator's ground truth (truth/coinjoins.csv, truth/addresses.csv, the answer
key computed by the oracle) and, on a real mainnet block, against the clustering layer's own
verdicts over the same transactions.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fundtrail.cluster import change, coinjoin
from fundtrail.cluster.txview import load_txview
from fundtrail.errors import UsageError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir, ingest_raw_files
from fundtrail.sim.exercises import make_exercise
from fundtrail.store import Store
from fundtrail.trace.engine import trace
from fundtrail.trace.follow import DEFAULT_MIN_CONFIDENCE, follow_change, render_text
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.marks import marks_for, render_lines, trace_marks
from fundtrail.trace.report import to_json
from fundtrail.trace.seeds import parse_seed

CHAIN = "btc-regtest"
BLOCK_574200 = "block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk"


@pytest.fixture(scope="module")
def ex(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("marks")
    res = {}
    for name in ("peel-chain", "coinjoin"):
        key = make_exercise(base / name, name, seed=5)
        store = Store.open(base / f"{name}-store")
        ingest_blocks_dir(store, base / name / "blocks")
        truth = base / name / "instructor" / "truth"
        with open(truth / "addresses.csv", newline="", encoding="utf-8") as fh:
            addrs = {r["address"]: r for r in csv.DictReader(fh)}
        with open(truth / "transactions.csv", newline="", encoding="utf-8") as fh:
            txs = {r["txid"]: r for r in csv.DictReader(fh)}
        with open(truth / "coinjoins.csv", newline="", encoding="utf-8") as fh:
            cjs = {r["txid"]: r["protocol"] for r in csv.DictReader(fh)}
        res[name] = {"key": key, "store": store, "graph": GraphIndex.ensure(store, CHAIN),
                     "addrs": addrs, "txs": txs, "cjs": cjs}
    return res


def _seed(e: dict) -> list[int]:
    v = e["key"]["victim_payment"]
    return parse_seed(e["graph"], f"{v['txid']}:{v['vout']}").outputs


def test_coinjoin_marks_are_the_true_coinjoins(ex: dict) -> None:
    e = ex["coinjoin"]
    g = e["graph"]
    marks = marks_for(e["store"], CHAIN, range(g.n_tx))
    assert len(marks) == g.n_tx
    found = {g.txid_hex(t): m.coinjoin.protocol for t, m in marks.items()
             if m.coinjoin and m.coinjoin.confidence >= 0.5}
    assert set(found) == set(e["cjs"])
    assert {t for t, p in found.items() if p.startswith("whirlpool")} == \
        {t for t, p in e["cjs"].items() if p.startswith("whirlpool")}
    assert all(found[t] == p for t, p in e["cjs"].items() if p.startswith("whirlpool"))
    tx0 = e["key"]["coinjoin"]["tx0"]
    assert found[tx0] == "whirlpool_tx0"
    assert all(marks[g.find_tx(bytes.fromhex(t)[::-1])].change is None for t in found)


def test_change_marks_of_peel_steps_are_the_criminals_coins(ex: dict) -> None:
    e = ex["peel-chain"]
    g = e["graph"]
    steps = [t for t, r in e["txs"].items() if r["typology"] == "peel_chain"]
    assert len(steps) >= 10
    ids = [g.find_tx(bytes.fromhex(t)[::-1]) for t in steps]
    marks = marks_for(e["store"], CHAIN, ids)
    for t in ids:
        m = marks[t].change
        assert m is not None and m.votes and m.confidence >= DEFAULT_MIN_CONFIDENCE
        outs = list(g.outputs_of(t))
        assert m.output == outs[m.vout] and m.value == int(g.out_value[m.output])
        paid = {e["addrs"][_text(g, int(g.out_address[o]))]["category"]
                for o in outs if o != m.output}
        assert paid <= {"exchange", "otc_desk"}  # what is not change is the peeled slice
        change_addr = _text(g, int(g.out_address[m.output]))
        assert e["addrs"][change_addr]["actor"] == "ransomware-group-1"


def _text(g: GraphIndex, a: int) -> str:
    from fundtrail.chains.bitcoin.address import render_address
    from fundtrail.chains.bitcoin.params import network

    return render_address(*g.address_key(a), network("regtest"))


def test_marks_agree_with_clustering_on_a_real_block(tmp_path: Path, testdata: Path) -> None:
    """Block 574200 (mainnet, 2019): a trace and clustering give the same verdict per transaction."""
    store = Store.open(tmp_path / "store")
    ingest_raw_files(store, [testdata / "btc-raw-blocks" / "btcd" / BLOCK_574200])
    with store.query() as con:
        n = int(con.execute("SELECT count(*) FROM btc_transactions").fetchall()[0][0])
        view = load_txview(con, "btc", 0, n)
    assert n > 1000
    cj, ch = coinjoin.detect(view), change.consensus(view)
    marks = marks_for(store, "btc", range(n))
    assert len(marks) == n
    for i, t in enumerate(view.tx_id.tolist()):
        m = marks[t]
        assert (m.coinjoin.protocol if m.coinjoin else "none") == \
            coinjoin.PROTOCOL_NAMES[int(cj.protocol[i])]
        k = int(ch.out_index[i])
        assert (m.change.output if m.change else -1) == (int(view.out_id[k]) if k >= 0 else -1)
        if m.change:
            assert m.change.confidence == pytest.approx(float(ch.confidence[i]))
    assert sum(1 for m in marks.values() if m.change) > n // 4  # the rules do vote on real data
    assert np.any(cj.protocol != 0) == any(m.coinjoin for m in marks.values())


def test_follow_walks_the_peel_chain_to_the_unspent_remainder(ex: dict) -> None:
    e = ex["peel-chain"]
    res = follow_change(e["store"], e["graph"], _seed(e), seed_input="victim")
    (pc,) = res.chains
    key = e["key"]["policies"]["haircut"]
    paid: dict[str, int] = {}
    for h in pc.hops:
        assert h.change is not None and h.change_mark is not None and h.inputs == 1
        for p in h.payments:
            paid[p.address] = paid.get(p.address, 0) + p.value_sat
    # The oracle's haircut answer (exact, from the simulator's ledger): every slice, every satoshi.
    assert paid == {r["address"]: r["amount_sat"] for r in key["cashout"] + key["minor_cashout"]}
    assert pc.stop == "unspent" and [pc.end] == [u["outpoint"] for u in key["unspent"]]
    assert pc.end_value_sat == key["unspent"][0]["amount_sat"]
    doc = json.loads(json.dumps(res.to_json()))
    assert doc["chains"][0]["paid_sat"] == sum(paid.values()) and doc["mode"] == "follow_change"
    text = render_text(doc)
    assert pc.end in text and "unspent" in text and f"hop {len(pc.hops):>3}" in text


def test_follow_stops_and_says_why(ex: dict) -> None:
    e = ex["peel-chain"]
    g, store = e["graph"], e["store"]
    (pc,) = follow_change(store, g, _seed(e), max_hops=3).chains
    assert len(pc.hops) == 3 and pc.stop == "hop_limit" and pc.end == pc.hops[-1].change.outpoint
    (pc,) = follow_change(store, g, _seed(e), min_confidence=1.0).chains
    assert len(pc.hops) == 1 and pc.stop == "no_change" and pc.hops[0].change is None
    assert len(pc.hops[0].payments) == 2  # without a change, every output is a payment
    second = follow_change(store, g, _seed(e), max_hops=2).chains[0].hops[1].change
    at = int(g.out_address[parse_seed(g, second.outpoint).outputs[0]])
    (pc,) = follow_change(store, g, _seed(e), stop=lambda a: "exchange: x" if a == at else None).chains
    assert pc.stop == "service" and len(pc.hops) == 2 and pc.end_label == "exchange: x"
    end = e["key"]["policies"]["haircut"]["unspent"][0]["outpoint"]
    (pc,) = follow_change(store, g, parse_seed(g, end).outputs).chains
    assert pc.hops == [] and pc.stop == "unspent" and pc.end == end
    c = ex["coinjoin"]
    (pc,) = follow_change(c["store"], c["graph"], _seed(c)).chains
    assert pc.stop == "coinjoin" and len(pc.hops) == 1
    assert pc.hops[0].txid == c["key"]["coinjoin"]["tx0"]
    assert pc.hops[0].coinjoin.protocol == "whirlpool_tx0"
    for bad in ({"max_hops": 0}, {"min_confidence": 1.5}):
        with pytest.raises(UsageError):
            follow_change(store, g, _seed(e), **bad)


def test_trace_nodes_carry_marks(ex: dict) -> None:
    e = ex["coinjoin"]
    g = e["graph"]
    seed = parse_seed(g, f"{e['key']['victim_payment']['txid']}:{e['key']['victim_payment']['vout']}")
    doc = to_json(g, seed, trace(g, seed.outputs, policy="haircut"))
    trace_marks(e["store"], CHAIN, g, doc)
    nodes = {n["txid"]: n for n in doc["graph"]["nodes"]}
    tx0 = e["key"]["coinjoin"]["tx0"]
    assert nodes[tx0]["coinjoin"]["protocol"] == "whirlpool_tx0" and nodes[tx0]["change"] is None
    assert set(e["key"]["coinjoin"]["mixes"]) <= {
        t for t, n in nodes.items() if (n["coinjoin"] or {}).get("protocol") == "whirlpool_mix"}
    met = {c["txid"] for c in doc["summary"]["coinjoins"]}
    assert met == {t for t, n in nodes.items() if n["coinjoin"]} and met <= set(e["cjs"])
    text = "\n".join(render_lines(doc))
    assert "CoinJoins met" in text and tx0 in text and "whirlpool_tx0" in text
