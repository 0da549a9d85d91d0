"""A saved trace's frontier watched with `reaches-service` while the case's last blocks arrive one
by one: each alert fires on the block where taint reaches an exchange, names it, its deposit
address and the exact amount -- checked against the simulator's answer key (`arrived_outputs`
per policy, exact fractions for haircut) -- and the frontier left at the end is what a trace of
the seeds over the whole chain leaves unspent. Exact haircut and FIFO (whose states are intervals,
not amounts) are both checked."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.store import Store
from tests.watch.support_watch import cli, cli_json


def _whole(x: Fraction) -> int:
    return x.numerator // x.denominator


@pytest.fixture(scope="module")
def run(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """alice opens a case, saves exact-haircut and FIFO traces of the ransom payments, watches
    both frontiers, then the tail blocks are ingested one raw file at a time."""
    store = tmp_path_factory.mktemp("frontier") / "store"
    shutil.copytree(world["store"], store)
    seeds = [f"{s['txid']}:{s['vout']}" for s in world["truth"]["seed_outputs"]]

    def call(*args: str) -> Any:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = main(["--store", str(store), "--as", "alice", *args, "--json"])
        assert code == 0
        return json.loads(buf.getvalue())

    case = call("case", "new", "--title", "Ransom")["id"]
    traces = {"haircut": call("case", "trace", case, *seeds, "--policy", "haircut", "--exact"),
              "fifo": call("case", "trace", case, *seeds, "--policy", "fifo")}
    items = {p: call("watch", "add", t["id"], "--case", case, "--rule", "reaches-service")
             for p, t in traces.items()}
    for f in world["tail"]:
        assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(f)]) == 0
    return {"store": store, "case": case, "traces": traces, "items": items,
            "alerts": call("alerts", "list", "--limit", "1000")["alerts"], "listed": call("watch", "list")["items"]}


@pytest.mark.parametrize("policy", ["haircut", "fifo"])
def test_alerts_match_the_answer_key(world: dict[str, Any], run: dict[str, Any], policy: str) -> None:
    key = world["truth"]["answers"][policy]
    added = run["items"][policy]
    item = added["items"][0]
    assert item["kind"] == "frontier" and item["policy"] == policy and item["rule"] == "reaches-service"
    # the frontier taken from the saved trace is its unspent endpoints, exactly
    saved_unspent = run["traces"][policy]["result"]["summary"]["by_reason_sat"]["unspent"]
    assert int(item["frontier_amount"]) == saved_unspent and item["frontier"] > 0
    assert any("the saved result's" in n for n in added["notes"])
    tail_txs = {t["txid"]: t for t in world["txs"] if t["height"] > world["head_tip"]}
    expected = {o: Fraction(a) for o, a in key["arrived_outputs"].items() if o.split(":")[0] in tail_txs}
    assert len(expected) >= 3, "the tail must hold arrivals for the test to mean something"
    mine = [a for a in run["alerts"] if a["item_id"] == item["id"]]
    got = {a["document"]["facts"]["outputs"][0]: a for a in mine}
    assert len(got) == len(mine) and set(got) == set(expected)
    cashout = {p["address"]: p["actor"] for p in world["truth"]["cashout_points"]}
    for output, a in got.items():
        doc, tx = a["document"], tail_txs[output.split(":")[0]]
        assert a["height"] == tx["height"] and a["txid"] == tx["txid"] and a["kind"] == "alert"
        assert Fraction(doc["facts"]["amount_exact"]) == expected[output]  # exact, as the key
        assert int(doc["facts"]["amount"]) == _whole(expected[output])
        address = tx["outputs"][int(output.split(":")[1])][1]
        svc = doc["service"]
        assert svc["address"] == address and svc["label"] == cashout[address] and svc["category"] == "exchange"
        assert svc["via"] == "tag" and svc["tag_source"] == "test label provider"
        assert cashout[address] in a["title"] and address in a["title"]
        assert doc["rule"] == "reaches-service" and doc["severity"] == "critical" and doc["policy"] == policy
        assert doc["item"] == {"id": item["id"], "name": item["name"], "kind": "frontier",
                               "target": run["traces"][policy]["id"], "case_id": run["case"]}
        assert doc["chain"] == "btc-regtest" and doc["block_hash"] == a["block_hash"]


@pytest.mark.parametrize("policy", ["haircut", "fifo"])
def test_frontier_moved_as_a_trace_from_the_seeds(world: dict[str, Any], run: dict[str, Any], policy: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Moved forward block by block, the frontier is what a trace of the seeds on the whole chain
    leaves unspent: the same outputs and amount. (The answer key's `unspent` is not: it follows
    only the case's own transactions, and users spend some of those outputs later.)"""
    item_id = run["items"][policy]["items"][0]["id"]
    seeds = [f"{s['txid']}:{s['vout']}" for s in world["truth"]["seed_outputs"]]
    exact = ["--exact"] if policy == "haircut" else []
    full = cli_json(capsys, run["store"], "alice", "trace", *seeds, "--policy", policy, *exact)
    unspent = {o for e in full["endpoints"] if e["reason"] == "unspent" for o in e["outputs"]}
    with Store.open(run["store"]).connect(read_only=True) as con:
        rows = con.execute("SELECT output, amount, state FROM watch_frontier WHERE item_id = ?", [item_id]).fetchall()
    live = {o: Fraction(a) for o, a, st in rows if json.loads(st)["spent"] is None}
    assert set(live) == unspent and len(live) > 10
    total = sum(live.values(), Fraction(0))
    assert _whole(total) == full["summary"]["by_reason_sat"]["unspent"]
    listed = next(i for i in run["listed"] if i["id"] == item_id)
    assert int(listed["frontier_amount"]) == _whole(total) and listed["frontier"] == len(live)
    assert any(json.loads(st)["spent"] is not None for _, _, st in rows)  # the undo journal of spent rows


def test_alert_show_and_text(run: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    store: Path = run["store"]
    first = run["alerts"][-1]
    code, out, _ = cli(capsys, store, "alice", "alerts", "show", first["id"])
    assert code == 0 and first["id"] in out and "service:" in out and first["document"]["service"]["label"] in out
    code, out, _ = cli(capsys, store, "alice", "watch", "list")
    assert code == 0 and out.count("reaches-service") == 2 and "frontier" in out
    page = cli_json(capsys, store, "alice", "alerts", "list", "--limit", "2")
    assert len(page["alerts"]) == 2 and page["page"]["next_cursor"]
    rest = cli_json(capsys, store, "alice", "alerts", "list", "--limit", "1000",
                    "--cursor", page["page"]["next_cursor"])
    assert [a["id"] for a in page["alerts"] + rest["alerts"]] == [a["id"] for a in run["alerts"]]
