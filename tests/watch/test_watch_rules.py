"""`moved` and `deposit` on simple targets (an output, a transaction's outputs, an address, a tag
category), evaluated while the tail blocks are ingested; the oracle is the raw blocks parsed by
the tests' own parser, addresses by embit. Re-evaluating a stored alert adds nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.store import Store
from fundtrail.watch import alerts as alert_rows
from fundtrail.watch.items import load_item
from tests.watch.support_watch import cli, cli_json


def _tail(world: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in world["txs"] if t["height"] > world["head_tip"]]


def _head_outputs(world: dict[str, Any]) -> dict[tuple[str, int], tuple[int, str | None]]:
    return {(t["txid"], n): o for t in world["txs"] if t["height"] <= world["head_tip"]
            for n, o in enumerate(t["outputs"])}


def _ingest_tail(world: dict[str, Any], store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for f in world["tail"]:
        assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(f)]) == 0
    capsys.readouterr()


def test_moved_output_transaction_and_address(world: dict[str, Any], store: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    head = _head_outputs(world)
    spends = [(t, p) for t in _tail(world) for p in t["inputs"] if tuple(p) in head]
    assert len(spends) >= 3
    tx, prev = spends[0]
    out = cli_json(capsys, store, "bob", "watch", "add", f"{prev[0]}:{prev[1]}")
    assert [i["kind"] for i in out["items"]] == ["output"] and out["items"][0]["severity"] == "warning"
    # a transaction target: one item per output
    tx2, prev2 = next((t, p) for t, p in spends if p[0] != prev[0])
    n_out = sum(1 for k in head if k[0] == prev2[0])
    by_tx = cli_json(capsys, store, "bob", "watch", "add", prev2[0], "--name", "ransom tx")
    assert len(by_tx["items"]) == n_out and {i["target"] for i in by_tx["items"]} == {
        f"{prev2[0]}:{n}" for n in range(n_out)}
    # an address with an output spent in the tail
    addr = next(head[tuple(p)][1] for _, p in spends if head[tuple(p)][1])
    by_addr = cli_json(capsys, store, "bob", "watch", "add", addr, "--min-value", "1sat")
    _ingest_tail(world, store, capsys)
    alerts = cli_json(capsys, store, "bob", "alerts", "list", "--limit", "1000")["alerts"]
    item = out["items"][0]["id"]
    mine = [a for a in alerts if a["item_id"] == item]
    assert len(mine) == 1 and mine[0]["txid"] == tx["txid"] and mine[0]["height"] == tx["height"]
    assert mine[0]["document"]["facts"]["outputs"] == [f"{prev[0]}:{prev[1]}"]
    assert mine[0]["document"]["facts"]["amount"] == str(head[tuple(prev)][0])
    want_tx = {(t["txid"], f"{p[0]}:{p[1]}") for t, p in spends if p[0] == prev2[0]}
    got_tx = {(a["txid"], a["document"]["item"]["target"]) for a in alerts
              if a["item_id"] in {i["id"] for i in by_tx["items"]}}
    assert got_tx == want_tx
    outs = {(t["txid"], n): o for t in world["txs"] for n, o in enumerate(t["outputs"])}  # head and tail
    from_addr = {t["txid"]: [outs[tuple(p)][0] for p in t["inputs"] if tuple(p) in outs and outs[tuple(p)][1] == addr]
                 for t in _tail(world)}
    want_addr = {txid: sum(v) for txid, v in from_addr.items() if v}
    got_addr = {a["txid"]: int(a["document"]["facts"]["amount"]) for a in alerts
                if a["item_id"] == by_addr["items"][0]["id"]}
    assert got_addr == want_addr and all(addr in a["document"]["facts"]["addresses"] for a in alerts
                                         if a["item_id"] == by_addr["items"][0]["id"])


def test_deposit_to_an_address_and_to_a_category(world: dict[str, Any], store: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    head = _head_outputs(world)
    known = {a for _, a in head.values() if a}
    tail = _tail(world)
    paid = [(t, n, v, a) for t in tail for n, (v, a) in enumerate(t["outputs"]) if a in known]
    addr = paid[0][3]
    item = cli_json(capsys, store, "carol", "watch", "add", addr, "--rule", "deposit")["items"][0]
    exchanges = {p["address"] for p in world["truth"]["cashout_points"]}
    cat = cli_json(capsys, store, "carol", "watch", "add", "category:exchange", "--rule", "deposit")["items"][0]
    assert cat["kind"] == "category" and cat["target"] == "exchange"
    _ingest_tail(world, store, capsys)
    alerts = cli_json(capsys, store, "carol", "alerts", "list", "--limit", "1000")["alerts"]
    want = {}
    for t, n, _v, a in paid:
        if a == addr:
            want.setdefault(t["txid"], []).append(f"{t['txid']}:{n}")
    got = {a["txid"]: a["document"]["facts"]["outputs"] for a in alerts if a["item_id"] == item["id"]}
    assert got == want and all(a["rule"] == "deposit" for a in alerts)
    want_cat = {t["txid"] for t in tail for _, a in t["outputs"] if a in exchanges}
    got_cat = {a["txid"] for a in alerts if a["item_id"] == cat["id"]}
    assert got_cat == want_cat and len(want_cat) >= 3


def test_deposit_to_an_address_not_on_the_chain_yet(world: dict[str, Any], store: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A ransom address published before it is paid: watched though the store has not seen it, and
    the alert comes with the block that first pays it."""
    known = {a for _, a in _head_outputs(world).values() if a}
    tail = _tail(world)
    fresh = next(a for t in tail for _, a in t["outputs"] if a and a not in known)
    code, out, err = cli(capsys, store, "dora", "watch", "add", fresh, "--rule", "deposit")
    assert code == 0 and "not on the chain yet" in out, err
    (item,) = cli_json(capsys, store, "dora", "watch", "list")["items"]
    _ingest_tail(world, store, capsys)
    alerts = [a for a in cli_json(capsys, store, "dora", "alerts", "list", "--limit", "1000")["alerts"]
              if a["item_id"] == item["id"]]
    want = {t["txid"] for t in tail for _, a in t["outputs"] if a == fresh}
    assert {a["txid"] for a in alerts} == want and want


def test_no_evaluator_without_active_items(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An ingest pays one catalog query when nothing is watched: no evaluator is installed."""
    from fundtrail.watch.hooks import evaluator_factory
    from fundtrail.workspace import Actor, Workspace

    ws = Workspace.open(store=store, writable=True, actor=Actor(user="dan"))
    assert ws._watch_hooks() is None
    item = ws.watch_add(["category:exchange"], rule="deposit").items[0]
    assert ws._watch_hooks() is evaluator_factory
    ws.watch_remove(item.id)
    assert ws._watch_hooks() is None


def test_the_same_alert_twice_is_stored_once(world: dict[str, Any], store: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    head = _head_outputs(world)
    spends = [(t, p) for t in _tail(world) for p in t["inputs"] if tuple(p) in head]
    tx, prev = spends[0]
    item_id = cli_json(capsys, store, "dan", "watch", "add", f"{prev[0]}:{prev[1]}")["items"][0]["id"]
    _ingest_tail(world, store, capsys)
    with Store.open(store).connect() as con:
        item = load_item(con, item_id)
        alert = alert_rows.Alert(item, tx["height"], "00" * 32, tx["txid"], "t", "")
        first = alert_rows.write(con, alert)
        again = alert_rows.write(con, alert)
        n = con.execute("SELECT count(*) FROM alerts WHERE item_id = ?", [item_id]).fetchone()
    assert first is not None and again is None and n is not None and n[0] == 2  # the ingest's one, and this one


def test_moved_and_deposit_on_a_cluster(world: dict[str, Any], store: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A cluster of the current clustering (an exchange's wallet): spends from and payments to its
    members, members as `cluster members` lists them, the rest from the raw blocks."""
    assert main(["-q", "--store", str(store), "cluster", "run"]) == 0
    capsys.readouterr()
    exchange = world["truth"]["cashout_points"][0]["address"]
    listed = cli_json(capsys, store, "gil", "cluster", "members", exchange, "--limit", "1000")
    members = {m["address"] for m in listed["members"]}
    assert len(members) > 1 and listed["next_cursor"] is None
    target = f"cluster:{listed['cluster_id']}"
    moved = cli_json(capsys, store, "gil", "watch", "add", target)["items"][0]
    deposit = cli_json(capsys, store, "gil", "watch", "add", target, "--rule", "deposit")["items"][0]
    assert moved["kind"] == deposit["kind"] == "cluster" and moved["target"] == str(listed["cluster_id"])
    _ingest_tail(world, store, capsys)
    alerts = cli_json(capsys, store, "gil", "alerts", "list", "--limit", "1000")["alerts"]
    outs = {(t["txid"], n): o for t in world["txs"] for n, o in enumerate(t["outputs"])}  # head and tail
    tail = _tail(world)
    want_moved = {t["txid"] for t in tail for p in t["inputs"]
                  if tuple(p) in outs and outs[tuple(p)][1] in members}
    want_paid = {t["txid"] for t in tail for _, a in t["outputs"] if a in members}
    assert {a["txid"] for a in alerts if a["item_id"] == moved["id"]} == want_moved
    assert {a["txid"] for a in alerts if a["item_id"] == deposit["id"]} == want_paid
    assert want_moved | want_paid
