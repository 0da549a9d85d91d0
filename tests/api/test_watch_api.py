"""Monitoring over HTTP on a real server: watch items and alerts (investigators, as the service layer
decides who sees what), webhooks and dead letters (admin), KYT transfer registration (screen); the
whole role matrix; KYT results and the alerts it raises checked against the raw blocks and the
simulator's ground truth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import stop
from tests.api.test_watch_support import CHAIN, World, build_world, catalog_rows
from tests.api.support_live import cli_json

GRANTED = {"cases": {"investigator"}, "admin": {"admin"}, "screen": {"analyst", "investigator"}}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = build_world(tmp_path_factory.mktemp("watchapi"), api_refresh_seconds=0, webhook_poll_seconds=0)
    yield w
    stop(w.server)


def _cashout(world: World, i: int) -> dict[str, Any]:
    return world.truth["cashout_points"][i]


def test_kyt_registration_scores_the_counterparty_and_raises_alerts_by_the_rules(world: World) -> None:
    cp, other = _cashout(world, 0), _cashout(world, 1)
    txid = cp["first_txid"]
    with world.client("admin") as admin:
        hook = admin.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
        assert hook.status_code == 201, hook.text
    with world.client("investigator") as inv, world.client("investigator2") as inv2:
        moved = inv.post("/api/v1/watch", json={"targets": ["category:ransomware"], "rule": "moved"})
        assert moved.status_code == 201, moved.text
        dep = inv.post("/api/v1/watch", json={"targets": [cp["address"]], "rule": "deposit",
                                              "category": "ransomware", "name": "cash-out watch"})
        assert dep.status_code == 201, dep.text
        miss = inv.post("/api/v1/watch", json={"targets": [other["address"]], "rule": "deposit"})
        assert miss.status_code == 201, miss.text
        theirs = inv2.post("/api/v1/watch", json={"targets": ["category:ransomware"], "rule": "moved"})
        assert theirs.status_code == 201, theirs.text
    ids = {k: r.json()["items"][0]["id"] for k, r in (("moved", moved), ("dep", dep), ("miss", miss),
                                                      ("theirs", theirs))}
    body = {"txid": txid, "address": cp["address"], "direction": "received", "customer_ref": "cust-0001"}
    before = catalog_rows(world.server.store, "SELECT count(*) FROM alerts")[0][0]
    with world.client("analyst") as analyst:
        r = analyst.post("/api/v1/kyt/transfers", json=body)
        assert r.status_code == 201, r.text
        first = r.json()
        # the oracle: the raw transaction
        paid = [(f"{txid}:{n}", v) for n, (v, a) in enumerate(world.chain.txs[txid]["outputs"]) if a == cp["address"]]
        funders = world.chain.funders(txid)
        payers = list(dict.fromkeys(a for _, _, a in funders if a and a != cp["address"]))
        assert first["outputs"] == [o for o, _ in paid] and first["amount"] == str(sum(v for _, v in paid))
        assert first["counterparties"] == payers and set(payers) <= world.actor_addresses
        scores = [analyst.get(f"/api/v1/{CHAIN}/addresses/{a}/risk").json() for a in payers]
        assert first["score"] == max(s["score"] for s in scores) and first["score"] > 0
        assert [x["address"] for x in first["risk"]] == payers
        assert first["alerts"] == [] and first["alerts_hidden"] == 3  # none of the analyst's items
        assert first["created"] and first["chain"] == CHAIN and first["registered_by"] == "analyst1"
        assert first["height"] == world.chain.txs[txid]["height"]
    after = catalog_rows(world.server.store, "SELECT item_id, rule, document FROM alerts ORDER BY created_at")
    new = after[before:]
    assert sorted(i for i, _, _ in new) == sorted([ids["moved"], ids["dep"], ids["theirs"]])
    docs = {i: json.loads(d) for i, _, d in new}
    tainted = sum(v for _, v, a in funders if a in world.actor_addresses)
    assert docs[ids["moved"]]["facts"]["amount"] == str(tainted)
    assert docs[ids["dep"]]["facts"]["amount"] == str(sum(v for _, v in paid))
    assert docs[ids["dep"]]["payer"]["label"] == world.actor and docs[ids["dep"]]["payer"]["category"] == "ransomware"
    assert all(d["kyt"] == {"transfer_id": first["transfer_id"], "direction": "received", "customer_ref": "cust-0001"}
               and d["txid"] == txid for d in docs.values())
    # written with their outbox rows (one per active webhook), in the registration's transaction
    outbox = catalog_rows(world.server.store, "SELECT alert_id, webhook_id, status, attempts FROM alert_outbox")
    alert_ids = {r[0] for r in catalog_rows(world.server.store, "SELECT alert_id FROM alerts WHERE txid = ?", [txid])}
    assert {(a, hook.json()["id"], "pending", 0) for a in alert_ids} <= set(outbox)  # webhook_poll_seconds 0: off
    # the same registration again (by anyone): the first one, nothing written; each caller sees their alerts
    with world.client("investigator") as inv:
        again = inv.post("/api/v1/kyt/transfers", json=body)
        assert again.status_code == 200, again.text
        rep = again.json()
        assert rep["transfer_id"] == first["transfer_id"] and not rep["created"]
        assert {a["item_id"] for a in rep["alerts"]} == {ids["moved"], ids["dep"]} and rep["alerts_hidden"] == 1
        assert all(a["new"] for a in rep["alerts"])
        listed = inv.get("/api/v1/alerts", params={"limit": 100}).json()["alerts"]
        assert {a["id"] for a in rep["alerts"]} <= {a["id"] for a in listed}
        assert not [a for a in listed if a["item_id"] in (ids["miss"], ids["theirs"])]
        # the sent side of the same transaction, by its output: the alerts the ingest rules would
        # raise for it are the ones already raised (same item and transaction), reported, not repeated
        sent = inv.post("/api/v1/kyt/transfers", json={"output": paid[0][0], "direction": "sent",
                                                       "customer_ref": "cust-0002"})
        assert sent.status_code == 201, sent.text
        s = sent.json()
        assert s["counterparties"] == [cp["address"]] and s["txid"] == txid
        assert {(a["id"], a["new"]) for a in s["alerts"]} == {(a["id"], False) for a in rep["alerts"]}
    assert catalog_rows(world.server.store, "SELECT count(*) FROM alerts")[0][0] == before + 3
    assert catalog_rows(world.server.store, "SELECT count(*) FROM kyt_transfers")[0][0] == 2


def test_kyt_bad_input_names_the_field_and_stores_nothing(world: World, err: Any) -> None:
    cp = _cashout(world, 2)
    txid = cp["first_txid"]
    n0 = catalog_rows(world.server.store, "SELECT count(*) FROM kyt_transfers")[0][0]
    ok = {"txid": txid, "address": cp["address"], "direction": "received", "customer_ref": "c-1"}
    cases = [
        ({**ok, "customer_ref": ""}, 422, "customer_ref"),
        ({**ok, "customer_ref": "a\nb"}, 422, "customer_ref"),
        ({k: v for k, v in ok.items() if k != "customer_ref"}, 422, "customer_ref"),
        ({**ok, "direction": "sideways"}, 422, "direction"),
        ({**ok, "output": f"{txid}:0"}, 422, "output"),
        ({**{k: v for k, v in ok.items() if k != "address"}, "output": "nope"}, 422, "output"),
        ({**{k: v for k, v in ok.items() if k != "address"}, "output": f"{'ab' * 32}:0"}, 422, "output"),
        ({**ok, "address": world.truth["cashout_points"][0]["address"]}, 422, "address"),
        ({**ok, "txid": "f" * 64}, 404, "txid"),
        ({**ok, "txid": "xyz"}, 422, "txid"),
        ({**{k: v for k, v in ok.items() if k != "address"}, "output": f"{txid}:99"}, 404, "output"),
        ({**ok, "chain": "nochain"}, 404, "chain"),
        ({**ok, "bogus": 1}, 422, "bogus"),
    ]
    with world.client("analyst") as c:
        for body, status, field in cases:
            r = c.post("/api/v1/kyt/transfers", json=body)
            assert r.status_code == status, (body, r.text)
            e = err(r)
            assert e["field"] == field and "\n" not in e["message"], (body, e)
    assert catalog_rows(world.server.store, "SELECT count(*) FROM kyt_transfers")[0][0] == n0


def test_watch_and_alert_routes_answer_as_the_cli_for_the_user_only(world: World, err: Any,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    store = world.server.store
    with world.client("investigator") as inv, world.client("investigator2") as inv2:
        made = inv.post("/api/v1/watch", json={"targets": [world.truth["cashout_points"][3]["address"]],
                                               "rule": "deposit", "severity": "critical"})
        assert made.status_code == 201, made.text
        item = made.json()["items"][0]
        assert item["owner"] == "investigator1" and item["severity"] == "critical"
        listed = inv.get("/api/v1/watch").json()
        assert listed == cli_json(capsys, store, "watch", "list", "--json", user="investigator1")
        assert item["id"] not in [i["id"] for i in inv2.get("/api/v1/watch").json()["items"]]
        cp = _cashout(world, 3)  # a deposit to the watched address, registered: this test's own alert
        with world.client("analyst") as analyst:
            reg = analyst.post("/api/v1/kyt/transfers", json={"txid": cp["first_txid"], "address": cp["address"],
                                                              "direction": "received", "customer_ref": "cust-77"})
            assert reg.status_code in (200, 201), reg.text
        alerts = inv.get("/api/v1/alerts", params={"limit": 1000}).json()
        assert alerts == cli_json(capsys, store, "alerts", "list", "--limit", "1000", "--json", user="investigator1")
        assert item["id"] in {a["item_id"] for a in alerts["alerts"]}, "the registration raised the deposit alert"
        alert = alerts["alerts"][0]["id"]
        shown = inv.get(f"/api/v1/alerts/{alert}").json()
        assert shown == cli_json(capsys, store, "alerts", "show", alert, "--json", user="investigator1")
        # another investigator: the very 404 of an unknown id, on every route
        for method, path in (("GET", f"/api/v1/alerts/{alert}"), ("POST", f"/api/v1/alerts/{alert}/ack"),
                             ("DELETE", f"/api/v1/watch/{item['id']}")):
            theirs = inv2.request(method, path)
            unknown = inv2.request(method, path.replace(alert, "AL-000000000000").replace(item["id"], "W-00000000"))
            assert theirs.status_code == unknown.status_code == 404, (path, theirs.text)
            assert err(theirs)["field"] == err(unknown)["field"]
        r = inv2.get("/api/v1/alerts", params={"item": item["id"]})
        assert r.status_code == 404 and err(r)["field"] == "item"
        acked = inv.post(f"/api/v1/alerts/{alert}/ack").json()
        assert acked["acked_by"] == "investigator1" and acked["acked_at"]
        assert inv.post(f"/api/v1/alerts/{alert}/ack").json()["acked_at"] == acked["acked_at"]  # the first stays
        assert alert not in [a["id"] for a in inv.get("/api/v1/alerts", params={"unacked": True}).json()["alerts"]]
        gone = inv.delete(f"/api/v1/watch/{item['id']}")
        assert gone.status_code == 200 and gone.json()["removed_by"] == "investigator1"
        assert item["id"] not in [i["id"] for i in inv.get("/api/v1/watch").json()["items"]]
        assert item["id"] in [i["id"] for i in inv.get("/api/v1/watch", params={"all": True}).json()["items"]]
        for body, field in (({"targets": []}, "targets"), ({"targets": ["category:nonsense"]}, "targets"),
                            ({"targets": ["category:scam"], "rule": "nope"}, "rule"),
                            ({"targets": ["category:scam"], "severity": "loud"}, "severity"),
                            ({"targets": ["category:scam"], "threshold": 5}, "threshold"),
                            ({"targets": ["category:scam"], "rules": "moved"}, "rules")):
            bad = inv.post("/api/v1/watch", json=body)
            assert bad.status_code == 422 and err(bad)["field"] == field, (body, bad.text)
        bad = inv.get("/api/v1/alerts/not-an-alert")
        assert bad.status_code == 422 and err(bad)["field"] == "alert"


def test_webhook_secret_is_in_the_answer_only(world: World, err: Any) -> None:
    store: Path = world.server.store
    with world.client("admin") as admin:
        made = admin.post("/api/v1/webhooks", json={"url": "https://hooks.example.org:8443/in?team=aml",
                                                    "secret": "s3cr3t-value-for-the-test-0123"})
        assert made.status_code == 201, made.text
        doc = made.json()
        assert doc["secret"] == "s3cr3t-value-for-the-test-0123" and doc["id"].startswith("WH-")
        listed = admin.get("/api/v1/webhooks")
        assert doc["id"] in [w["id"] for w in listed.json()["webhooks"]] and "s3cr3t" not in listed.text
        refused = admin.post("/api/v1/webhooks", json={"url": "https://bob:hunter22@hooks.example.org/x"})
        assert refused.status_code == 422 and err(refused)["field"] == "url" and "hunter22" not in refused.text
        removed = admin.delete(f"/api/v1/webhooks/{doc['id']}")
        assert removed.status_code == 200 and removed.json()["webhook"]["removed_at"]
        bad = admin.delete("/api/v1/webhooks/WH-nothex!")
        assert bad.status_code == 422 and err(bad)["field"] == "webhook"
        unknown = admin.delete("/api/v1/webhooks/WH-00000000")
        assert unknown.status_code == 404 and err(unknown)["field"] == "webhook"
        assert admin.get("/api/v1/alerts/dead").status_code == 200
        bad = admin.post("/api/v1/alerts/replay", json={})
        assert bad.status_code == 422 and err(bad)["field"] == "alert_id"
    audit = "".join(p.read_text(errors="replace") for p in sorted((store / "audit").rglob("*")) if p.is_file())
    assert "s3cr3t" not in audit and "hunter22" not in audit and "team=aml" not in audit
    assert "https://hooks.example.org:8443" in audit
    assert not list((store / "secrets/webhooks").glob(doc["id"]))  # deleted with the webhook


def test_every_monitoring_route_every_role(world: World, err: Any) -> None:
    cp = _cashout(world, 4)
    routes = [
        ("cases", "GET", "/api/v1/watch", {}),
        ("cases", "POST", "/api/v1/watch", {"json": {"targets": ["category:scam"], "rule": "moved"}}),
        ("cases", "DELETE", "/api/v1/watch/{item}", {}),
        ("cases", "GET", "/api/v1/alerts", {}),
        ("cases", "GET", "/api/v1/alerts/{alert}", {}),
        ("cases", "POST", "/api/v1/alerts/{alert}/ack", {}),
        ("admin", "GET", "/api/v1/webhooks", {}),
        ("admin", "POST", "/api/v1/webhooks", {"json": {"url": "http://127.0.0.1:9/x"}}),
        ("admin", "DELETE", "/api/v1/webhooks/{webhook}", {}),
        ("admin", "GET", "/api/v1/alerts/dead", {}),
        ("admin", "POST", "/api/v1/alerts/replay", {"json": {"all_dead": True}}),
        ("screen", "POST", "/api/v1/kyt/transfers", {"json": {"txid": cp["first_txid"], "address": cp["address"],
                                                              "direction": "received", "customer_ref": "matrix"}}),
    ]
    with world.client("investigator") as inv:  # this test's own alert (xdist may run it alone in a worker)
        made = inv.post("/api/v1/watch", json={"targets": [cp["address"]], "rule": "deposit"})
        assert made.status_code == 201, made.text
        with world.client("analyst") as analyst:
            reg = analyst.post("/api/v1/kyt/transfers", json={"txid": cp["first_txid"], "address": cp["address"],
                                                              "direction": "received", "customer_ref": "matrix-own"})
            assert reg.status_code in (200, 201), reg.text
        alert = inv.get("/api/v1/alerts").json()["alerts"][0]["id"]
    clients = {role: world.server.client(role) for role in ("analyst", "investigator", "auditor", "admin")}
    clients[None] = world.server.client(None)
    try:
        for permission, method, path, kwargs in routes:
            for role, client in clients.items():
                filled = path
                if "{item}" in path:
                    with world.client("investigator") as inv:
                        filled = path.format(item=inv.post("/api/v1/watch", json={
                            "targets": ["category:scam"]}).json()["items"][0]["id"])
                if "{webhook}" in path:
                    with world.client("admin") as admin:
                        filled = path.format(webhook=admin.post("/api/v1/webhooks", json={
                            "url": "http://127.0.0.1:9/y"}).json()["id"])
                filled = filled.replace("{alert}", alert)
                r = client.request(method, filled, **kwargs)
                what = (role, method, filled, r.text[:200])
                if role is None:
                    assert r.status_code == 401 and err(r)["code"] == "unauthenticated", what
                elif role in GRANTED[permission]:
                    assert 200 <= r.status_code < 300, what
                else:
                    assert r.status_code == 403 and err(r)["code"] == "forbidden", what
    finally:
        for client in clients.values():
            client.close()
