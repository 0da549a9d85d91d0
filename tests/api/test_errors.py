"""Bad input for every parameter of every route: one error shape, the right status, the field named."""

from __future__ import annotations

import json

import pytest

CHAIN = "btc-regtest"
TXID0 = "0" * 64


def test_route_errors_name_the_field(api, err) -> None:
    a = api.addresses[0]
    cases = [
        # (method, path, kwargs, status, code, field)
        ("GET", "/api/v1/nowhere", {}, 404, "not_found", None),
        ("DELETE", "/api/v1/status", {}, 405, "method_not_allowed", None),
        ("GET", f"/api/v1/nochain/addresses/{a}", {}, 404, "not_found", "chain"),
        ("GET", f"/api/v1/{CHAIN}/addresses/not-an-address", {}, 422, "bad_request", "address"),
        ("GET", f"/api/v1/{CHAIN}/addresses/{a}/txs", {"params": {"limit": "x"}}, 422, "bad_request", "limit"),
        ("GET", f"/api/v1/{CHAIN}/addresses/{a}/txs", {"params": {"limit": 0}}, 422, "bad_request", "limit"),
        ("GET", f"/api/v1/{CHAIN}/addresses/{a}/txs", {"params": {"cursor": "garbage!"}}, 422, "bad_request",
         "cursor"),
        ("GET", f"/api/v1/{CHAIN}/txs/{TXID0}", {}, 404, "not_found", "txid"),
        ("GET", f"/api/v1/{CHAIN}/txs/xyz", {}, 422, "bad_request", "txid"),
        ("GET", "/api/v1/search", {}, 422, "bad_request", "q"),
        ("GET", "/api/v1/search", {"params": {"q": "x" * 600}}, 422, "bad_request", "q"),
        ("GET", "/api/v1/search", {"params": {"q": "a", "limit": "many"}}, 422, "bad_request", "limit"),
        ("GET", f"/api/v1/{CHAIN}/clusters/why", {"params": {"a": a}}, 422, "bad_request", "b"),
        ("GET", "/api/v1/tags", {}, 422, "bad_request", "address"),
        ("GET", "/api/v1/tags", {"params": {"address": "not-an-address"}}, 422, "bad_request", "address"),
        ("GET", "/api/v1/tags", {"params": {"q": "x", "limit": "y"}}, 422, "bad_request", "limit"),
        ("GET", f"/api/v1/{CHAIN}/paths", {"params": {"from": a}}, 422, "bad_request", "to"),
        ("GET", f"/api/v1/{CHAIN}/paths", {"params": {"from": a, "to": a, "max_hops": "z"}}, 422, "bad_request",
         "max_hops"),
        ("POST", f"/api/v1/{CHAIN}/trace", {"json": {}}, 422, "bad_request", "seeds"),
        ("POST", f"/api/v1/{CHAIN}/trace", {"json": {"seeds": [a], "bogus": 1}}, 422, "bad_request", "bogus"),
        ("POST", f"/api/v1/{CHAIN}/trace", {"json": {"seeds": [a], "hops": "two"}}, 422, "bad_request", "hops"),
        ("POST", f"/api/v1/{CHAIN}/trace", {"json": {"seeds": [a], "min_value": "0.x"}}, 422, "bad_request",
         "min_value"),
        ("POST", f"/api/v1/{CHAIN}/trace", {"json": {"seeds": [a], "since": "yesterday"}}, 422, "bad_request",
         "since"),
        ("POST", f"/api/v1/{CHAIN}/trace", {"json": {"seeds": [a], "chain": "eth"}}, 422, "bad_request", "chain"),
        ("POST", f"/api/v1/{CHAIN}/trace", {"content": b"{not json", "headers": {"content-type":
         "application/json"}}, 422, "bad_request", "body"),
        ("POST", "/api/v1/screen", {"json": {"inputs": [a], "profile": "/etc/passwd"}}, 422, "bad_request",
         "profile"),
        ("POST", "/api/v1/screen", {"json": {"inputs": [a], "extra": True}}, 422, "bad_request", "extra"),
        ("POST", "/api/v1/screen", {"json": {"inputs": [a], "top": -1}}, 422, "bad_request", "top"),
        ("POST", "/api/v1/screen", {"content": b"a,b\n1,2\n", "headers": {"content-type": "text/csv"}}, 422,
         "bad_request", "column"),
        ("POST", "/api/v1/tags", {"json": {"address": a, "label": "x"}}, 422, "bad_request", "category"),
        ("POST", "/api/v1/tags", {"json": {"address": a, "label": "x", "category": "exchange",
                                           "creator": "someone-else"}}, 422, "bad_request", "creator"),
    ]
    with api.client("investigator") as client:
        for method, path, kwargs, status, code, field in cases:
            r = client.request(method, path, **kwargs)
            assert r.status_code == status, (method, path, kwargs, r.text)
            e = err(r)
            assert (e["code"], e["field"]) == (code, field), (method, path, kwargs, e)
            assert e["message"] and "\n" not in str(e["message"])


def test_cluster_errors(api, err) -> None:
    with api.client("analyst") as client:
        r = client.get(f"/api/v1/{CHAIN}/clusters/not-an-address")
        assert r.status_code in (404, 422) and err(r)["field"] in ("ref", "address", "id")
        r = client.get(f"/api/v1/{CHAIN}/clusters/1/members", params={"limit": -5})
        assert r.status_code == 422 and err(r)["field"] == "limit"


def test_huge_body_is_413_before_reading(tight, err) -> None:
    body = json.dumps({"inputs": ["x" * 1000] * 1200}).encode()  # > 1 MB
    with tight.client("analyst") as client:
        r = client.post("/api/v1/screen", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 413 and err(r)["code"] == "too_large" and err(r)["field"] == "body"

        def chunks():  # no Content-Length: counted as it streams
            for _ in range(40):
                yield b"x" * 65536

        r = client.post("/api/v1/screen", content=chunks(), headers={"content-type": "text/csv"})
        assert r.status_code == 413 and err(r)["code"] == "too_large"


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_screen_over_the_row_limit_is_413_naming_inputs(tight, err, kind: str) -> None:
    inputs = tight.addresses[:1] * 51
    with tight.client("analyst") as client:
        if kind == "json":
            r = client.post("/api/v1/screen", json={"inputs": inputs})
        else:
            r = client.post("/api/v1/screen", content=("address\n" + "\n".join(inputs)).encode(),
                            headers={"content-type": "text/csv"})
        assert r.status_code == 413
        e = err(r)
        assert (e["code"], e["field"]) == ("too_large", "inputs") and "51" in str(e["message"])


def test_rate_limit_is_429_with_retry_after(tight, err) -> None:
    with tight.client("auditor") as client:  # a token of its own: its bucket starts full (burst 5)
        codes = [client.get("/api/v1/audit", params={"limit": 1}).status_code for _ in range(12)]
        assert codes[:5] == [200] * 5 and 429 in codes
        r = client.get("/api/v1/audit", params={"limit": 1})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert err(r)["code"] == "rate_limited"
    with tight.client("admin") as other:  # another token is not slowed by it
        assert other.get("/api/v1/users").status_code == 200


def test_a_bug_is_500_internal_without_detail_and_audited(api, err, caplog) -> None:
    from fastapi.testclient import TestClient

    from fundtrail.api import create_app
    from fundtrail.settings import Settings

    app = create_app(Settings.load(store=api.store))

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret detail of a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/api/v1/boom", headers={"Authorization": f"Bearer {api.tokens['analyst']}"})
    assert r.status_code == 500 and err(r)["code"] == "internal" and "secret detail" not in r.text
    assert "unexpected error in GET /api/v1/boom" in caplog.text
    from fundtrail.workspace import Workspace
    last = Workspace.open(Settings.load(store=api.store)).audit_show(limit=1).records[-1]
    assert (last.action, last.status, last.outcome, last.user) == ("GET /api/v1/boom", 500, "internal", "analyst1")
