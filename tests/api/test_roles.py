"""The whole role x route matrix: every route, every role, and no token (401)."""

from __future__ import annotations

import itertools

import httpx
import pytest

CHAIN = "btc-regtest"
#: permission -> the roles granting it (docs/api.md, docs/security.md)
GRANTED = {"read": {"analyst", "investigator"}, "risk": {"analyst", "investigator"},
           "screen": {"analyst", "investigator"}, "trace": {"investigator"}, "paths": {"investigator"},
           "tags.write": {"investigator"}, "audit.read": {"auditor"}, "admin": {"admin"}}
_names = itertools.count()


def routes(api, txid: str, cluster: str, token_id: str) -> list[tuple[str, str, str, dict]]:
    """(permission, method, path, request kwargs) for every route, each a valid request."""
    a, b = api.addresses[0], api.addresses[1]
    return [
        ("read", "GET", "/api/v1/status", {}),
        ("read", "GET", "/api/v1/search", {"params": {"q": a}}),
        ("read", "GET", f"/api/v1/{CHAIN}/addresses/{a}", {}),
        ("read", "GET", f"/api/v1/{CHAIN}/addresses/{a}/txs", {"params": {"limit": 5}}),
        ("read", "GET", f"/api/v1/{CHAIN}/txs/{txid}", {}),
        ("read", "GET", f"/api/v1/{CHAIN}/clusters/{cluster}", {}),
        ("read", "GET", f"/api/v1/{CHAIN}/clusters/{cluster}/members", {"params": {"limit": 5}}),
        ("read", "GET", f"/api/v1/{CHAIN}/clusters/why", {"params": {"a": a, "b": b}}),
        ("read", "GET", "/api/v1/tags", {"params": {"address": a}}),
        ("read", "GET", "/api/v1/tags", {"params": {"q": "exchange"}}),
        ("risk", "GET", f"/api/v1/{CHAIN}/addresses/{a}/risk", {}),
        ("screen", "POST", "/api/v1/screen", {"json": {"inputs": [a, b]}}),
        ("trace", "POST", f"/api/v1/{CHAIN}/trace", {"json": {"seeds": [txid], "hops": 2}}),
        ("paths", "GET", f"/api/v1/{CHAIN}/paths", {"params": {"from": txid, "to": a, "max_hops": 2}}),
        ("tags.write", "POST", "/api/v1/tags", {"json": {"address": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
                                                        "label": "matrix test", "category": "scam", "currency": "BTC",
                                                        "confidence": "ownership"}}),
        ("audit.read", "GET", "/api/v1/audit", {"params": {"limit": 2}}),
        ("admin", "GET", "/api/v1/users", {}),
        ("admin", "POST", "/api/v1/users", {"json": {"name": "u{n}", "role": "analyst"}}),
        ("admin", "DELETE", "/api/v1/users/{user}", {}),
        ("admin", "GET", "/api/v1/tokens", {}),
        ("admin", "POST", "/api/v1/tokens", {"json": {"user": "analyst1"}}),
        ("admin", "DELETE", f"/api/v1/tokens/{token_id}", {}),
    ]


@pytest.fixture(scope="module")
def ids(api) -> tuple[str, str]:
    with api.client("analyst") as c:
        page = c.get(f"/api/v1/{CHAIN}/addresses/{api.addresses[0]}/txs", params={"limit": 1}).json()
        txid = page["txs"][0]["txid"]
        cluster = c.get(f"/api/v1/{CHAIN}/clusters/{api.addresses[0]}").json()["cluster_id"]
    return txid, str(cluster)


def test_every_route_every_role(api, ids, err) -> None:
    txid, cluster = ids
    clients = {role: api.client(role) for role in ("analyst", "investigator", "auditor", "admin")}
    clients[None] = api.client(None)
    try:
        for permission, method, path, kwargs in routes(api, txid, cluster, "{token}"):
            for role, client in clients.items():
                n = next(_names)
                req_path = path.format(n=n, token=_fresh_token_id(api) if "{token}" in path else "",
                                       user=_fresh_user(api, n) if "{user}" in path else "")
                req_kwargs = {k: _fill(v, n) for k, v in kwargs.items()}
                r: httpx.Response = client.request(method, req_path, **req_kwargs)
                what = (role, method, req_path)
                if role is None:
                    assert r.status_code == 401 and err(r)["code"] == "unauthenticated", what
                    assert r.headers["www-authenticate"] == "Bearer"
                elif role in GRANTED[permission]:
                    assert 200 <= r.status_code < 300, (what, r.text[:300])
                else:
                    assert r.status_code == 403 and err(r)["code"] == "forbidden", (what, r.text[:300])
    finally:
        for client in clients.values():
            client.close()


def _fresh_token_id(api) -> str:
    with api.client("admin") as c:
        return str(c.post("/api/v1/tokens", json={"user": "analyst1"}).json()["id"])


def _fresh_user(api, n: int) -> str:
    with api.client("admin") as c:
        return str(c.post("/api/v1/users", json={"name": f"d{n}", "role": "analyst"}).json()["name"])


def _fill(value: object, n: int) -> object:
    if isinstance(value, dict):
        return {k: _fill(v, n) for k, v in value.items()}
    if isinstance(value, str):
        return value.replace("{n}", str(n))
    return value


def test_wrong_and_revoked_tokens_are_401(api, err) -> None:
    with httpx.Client(base_url=api.url, headers={"Authorization": "Bearer ft_1_notavalidsecretatall"}) as c:
        r = c.get("/api/v1/status")
        assert r.status_code == 401 and err(r)["code"] == "unauthenticated"
    with httpx.Client(base_url=api.url, headers={"Authorization": "Basic abc"}) as c:
        assert c.get("/api/v1/status").status_code == 401
    with api.client("admin") as admin:
        made = admin.post("/api/v1/tokens", json={"user": "investigator1"}).json()
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {made['token']}"}) as c:
            assert c.get("/api/v1/status").status_code == 200
            assert admin.delete(f"/api/v1/tokens/{made['id']}").status_code == 200
            r = c.get("/api/v1/status")  # revocation is seen by the very next request
            assert r.status_code == 401 and err(r)["code"] == "unauthenticated"
