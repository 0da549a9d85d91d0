"""The workbench graph's REST routes (issue 15) on a real server: the same documents as
the service layer, paging over HTTP, bad input named, saved graphs owned, the role matrix."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fundtrail.errors import NotFoundError
from fundtrail.workspace import TraceRequest, Workspace
from tests.api.conftest import Server, start, stop
from tests.api.graph_support import CHAIN, evm_store, labelled_store

#: permission -> the roles granting it (docs/api.md)
GRANTED = {"read": {"analyst", "investigator"}, "trace": {"investigator"}}
ROLES = ("analyst", "investigator", "auditor", "admin")
_names = itertools.count()


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("graph-api")
    store, tokens, sim = labelled_store(base)
    server = start(store, tokens, sim, api_refresh_seconds=0)
    case = json.loads((sim / "truth/cases/ransomware-1.json").read_text())
    yield {"server": server, "store": store, "case": case, "ws": Workspace.open(store=store)}
    stop(server)


def _seeds(case: dict[str, Any]) -> list[str]:
    return [f"{s['txid']}:{s['vout']}" for s in case["seed_outputs"]]


def test_routes_answer_what_the_service_answers(graph: dict[str, Any]) -> None:
    server: Server = graph["server"]
    ws: Workspace = graph["ws"]
    case = graph["case"]
    address, txid = case["seed_addresses"][0], case["seed_txids"][0]
    cluster = ws.address(address, risk=False).cluster_id
    with server.client("investigator") as c:
        pairs = [
            (c.get(f"/api/v1/{CHAIN}/graph/addresses/{address}"), ws.graph_address(address, chain=CHAIN)),
            (c.get(f"/api/v1/{CHAIN}/graph/addresses/{address}", params={"direction": "out", "limit": 1}),
             ws.graph_address(address, chain=CHAIN, direction="out", limit=1)),
            (c.get(f"/api/v1/{CHAIN}/graph/txs/{txid}", params={"direction": "in"}),
             ws.graph_tx(txid, chain=CHAIN, direction="in")),
            (c.get(f"/api/v1/{CHAIN}/graph/clusters/{cluster}", params={"limit": 2}),
             ws.graph_cluster(cluster, chain=CHAIN, limit=2)),
            (c.post("/api/v1/graph/trace", json={"seeds": _seeds(case), "policy": "haircut", "chain": CHAIN}),
             ws.trace_graph(TraceRequest(seeds=_seeds(case), policy="haircut", chain=CHAIN))),
        ]
        for response, result in pairs:
            assert response.status_code == 200, response.text[:300]
            assert response.json() == result.model_dump(mode="json")
    drawn = pairs[-1][0].json()
    assert {s["label"] for s in drawn["services"]} >= {c["actor"] for c in case["cashout_points"]
                                                       if c["category"] == "exchange"}


def test_paging_over_http_gives_every_neighbour_once(graph: dict[str, Any]) -> None:
    server: Server = graph["server"]
    ws: Workspace = graph["ws"]
    busiest = max(server.addresses[:300], key=lambda a: ws.address(a, risk=False).tx_count)
    every = ws.graph_address(busiest, chain=CHAIN, limit=1000)
    assert every.total >= 10
    seen: list[str] = []
    cursor = None
    with server.client("analyst") as c:
        while True:
            params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
            doc = c.get(f"/api/v1/{CHAIN}/graph/addresses/{busiest}", params=params).json()
            assert doc["total"] == every.total and len(doc["edges"]) <= 4
            seen += [e["id"] for e in doc["edges"]]
            cursor = doc["next_cursor"]
            if cursor is None:
                break
    assert seen == [e.id for e in every.edges] and len(set(seen)) == every.total


def test_bad_input_is_422_naming_the_field_and_unknown_is_404(graph: dict[str, Any], err: Any) -> None:
    server: Server = graph["server"]
    case = graph["case"]
    address, txid = case["seed_addresses"][0], case["seed_txids"][0]
    a, t = f"/api/v1/{CHAIN}/graph/addresses/{address}", f"/api/v1/{CHAIN}/graph/txs/{txid}"
    doc = {"name": "n", "chain": CHAIN, "document": {}}
    bad = [
        ("GET", a, {"params": {"direction": "up"}}, 422, "direction"),
        ("GET", a, {"params": {"limit": 0}}, 422, "limit"),
        ("GET", t, {"params": {"limit": 1001}}, 422, "limit"),
        ("GET", t, {"params": {"limit": "ten"}}, 422, "limit"),
        ("GET", a, {"params": {"cursor": "garbage"}}, 422, "cursor"),
        ("GET", f"/api/v1/{CHAIN}/graph/addresses/not-an-address", {}, 422, "address"),
        ("GET", f"/api/v1/{CHAIN}/graph/txs/abc", {}, 422, "txid"),
        ("GET", f"/api/v1/{CHAIN}/graph/clusters/x1", {}, 422, "id"),
        ("POST", "/api/v1/graph/trace", {"json": {"seeds": [txid], "direction": "sideways"}}, 422, "direction"),
        ("POST", "/api/v1/graphs", {"json": {**doc, "name": ""}}, 422, "name"),
        ("POST", "/api/v1/graphs", {"json": {"chain": CHAIN, "document": {}}}, 422, "name"),
        ("POST", "/api/v1/graphs", {"json": {**doc, "document": [1]}}, 422, "document"),
        ("POST", "/api/v1/graphs", {"json": {**doc, "extra": 1}}, 422, "extra"),
        ("POST", "/api/v1/graphs", {"content": b"{not json", "headers": {"content-type": "application/json"}},
         422, "body"),
        ("POST", "/api/v1/graphs", {"json": {**doc, "document": {"x": "y" * (8 << 20)}}}, 413, "document"),
        ("GET", "/api/v1/graphs/nope", {}, 422, "id"),
        ("GET", f"/api/v1/{CHAIN}/graph/addresses/mfWxJ45yp2SFn7UciZyNpvDKrzbhyfKrY8", {}, 404, "address"),
        ("GET", f"/api/v1/{CHAIN}/graph/txs/{'00' * 32}", {}, 404, "txid"),
        ("GET", f"/api/v1/{CHAIN}/graph/clusters/999999999", {}, 404, "id"),
        ("GET", f"/api/v1/nochain/graph/txs/{txid}", {}, 404, "chain"),
        ("GET", "/api/v1/graphs/g-0123456789abcdef", {}, 404, "id"),
        ("POST", "/api/v1/graphs", {"json": {**doc, "chain": "nochain"}}, 404, "chain"),
    ]
    with server.client("investigator") as c:
        for method, path, kwargs, status, field in bad:
            r = c.request(method, path, **kwargs)
            assert r.status_code == status and err(r)["field"] == field, (method, path, r.status_code, r.text[:300])
        assert c.get("/api/v1/graphs").json() == {"graphs": []}, "nothing was saved by a refused request"


def test_saved_graphs_round_trip_owned_and_not_in_the_audit_log(graph: dict[str, Any], err: Any) -> None:
    server: Server = graph["server"]
    marker = "annotation-7f3a91: 收款 <script>alert(1)</script>"
    doc = {"positions": {"a:x": [10, 20.5]}, "notes": {"a:x": marker}, "hidden": ["t:y"]}
    with server.client("analyst") as mine, server.client("investigator") as other:
        r = mine.post("/api/v1/graphs", json={"name": "case 7", "chain": CHAIN, "document": doc})
        assert r.status_code == 201, r.text
        saved = r.json()
        assert (saved["owner"], saved["name"], saved["chain"]) == ("analyst1", "case 7", CHAIN)
        loaded = mine.get(f"/api/v1/graphs/{saved['id']}").json()
        assert loaded["document"] == doc and {k: loaded[k] for k in saved} == saved
        assert [g["id"] for g in mine.get("/api/v1/graphs").json()["graphs"]] == [saved["id"]]
        assert other.get("/api/v1/graphs").json() == {"graphs": []}
        for r in (other.get(f"/api/v1/graphs/{saved['id']}"),
                  other.post("/api/v1/graphs", json={"name": "x", "chain": CHAIN, "document": {}, "id": saved["id"]})):
            assert r.status_code == 404 and err(r)["field"] == "id" and "analyst1" not in r.text
        again = mine.post("/api/v1/graphs", json={"name": "case 7b", "chain": CHAIN, "document": {"k": 1},
                                                   "id": saved["id"]})
        assert again.status_code == 200 and again.json()["id"] == saved["id"]
        assert mine.get(f"/api/v1/graphs/{saved['id']}").json()["document"] == {"k": 1}
    with server.client("auditor") as c:
        records = c.get("/api/v1/audit", params={"limit": 200}).json()
    text = json.dumps(records, ensure_ascii=False)
    assert "annotation-7f3a91" not in text and "收款" not in text, "a saved document never enters the audit log"
    saves = [r for r in records["records"] if r["action"] == "POST /api/v1/graphs"]
    assert saves and all(r["params"].get("bytes", 0) > 0 for r in saves)
    assert any(r["params"].get("name") == "case 7" and r["user"] == "analyst1" for r in saves)


def routes(graph: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(permission, method, path, request kwargs) for every graph route, each a valid request."""
    case, ws = graph["case"], graph["ws"]
    address, txid = case["seed_addresses"][0], case["seed_txids"][0]
    cluster = ws.address(address, risk=False).cluster_id
    return [
        ("read", "GET", f"/api/v1/{CHAIN}/graph/addresses/{address}", {"params": {"limit": 5}}),
        ("read", "GET", f"/api/v1/{CHAIN}/graph/txs/{txid}", {"params": {"direction": "out"}}),
        ("read", "GET", f"/api/v1/{CHAIN}/graph/clusters/{cluster}", {"params": {"limit": 5}}),
        ("trace", "POST", "/api/v1/graph/trace", {"json": {"seeds": [txid], "hops": 2, "chain": CHAIN}}),
        ("read", "GET", "/api/v1/graphs", {}),
        ("read", "POST", "/api/v1/graphs", {"json": {"name": "matrix", "chain": CHAIN, "document": {"n": 1}}}),
        ("read", "GET", "/api/v1/graphs/{id}", {}),
    ]


def test_every_graph_route_every_role(graph: dict[str, Any], err: Any) -> None:
    server: Server = graph["server"]
    own: dict[str, str] = {}
    for role in GRANTED["read"]:  # a saved graph of each reader, so that loading it is a valid request
        with server.client(role) as c:
            own[role] = c.post("/api/v1/graphs", json={"name": "mine", "chain": CHAIN, "document": {}}).json()["id"]
    clients: dict[str | None, httpx.Client] = {role: server.client(role) for role in ROLES}
    clients[None] = server.client(None)
    try:
        for permission, method, path, kwargs in routes(graph):
            for role, client in clients.items():
                req_path = path.format(id=own.get(role or "", "g-0123456789abcdef"))
                r = client.request(method, req_path, **kwargs)
                what = (role, method, req_path)
                if role is None:
                    assert r.status_code == 401 and err(r)["code"] == "unauthenticated", what
                elif role in GRANTED[permission]:
                    assert 200 <= r.status_code < 300, (what, r.text[:300])
                else:
                    assert r.status_code == 403 and err(r)["code"] == "forbidden", (what, r.text[:300])
    finally:
        for client in clients.values():
            client.close()


def test_graph_trace_is_not_taken_for_a_chain_named_graph(graph: dict[str, Any]) -> None:
    """`/api/v1/graph/trace` must reach the graph route even though `/api/v1/{chain}/trace` exists
    (the router is mounted before the trace routes)."""
    with graph["server"].client("investigator") as c:
        r = c.post("/api/v1/graph/trace", json={"seeds": _seeds(graph["case"]), "chain": CHAIN})
    assert r.status_code == 200 and {"nodes", "edges", "services", "endpoints"} <= set(r.json())


@pytest.fixture(scope="module")
def evm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from support.anvil import require_anvil

    require_anvil()
    base = tmp_path_factory.mktemp("graph-api-evm")
    store, tokens, sim = evm_store(base)
    server = start(store, tokens, sim, api_refresh_seconds=0)
    case = json.loads((sim / "truth/cases/theft-1.json").read_text())
    yield {"server": server, "case": case, "ws": Workspace.open(store=store)}
    stop(server)


def test_account_chain_routes(evm: dict[str, Any]) -> None:
    server: Server = evm["server"]
    ws: Workspace = evm["ws"]
    chain = ws.chains()[0].name
    tx = evm["case"]["seed_txs"][0]

    def degree(a: str) -> int:
        try:
            return ws.graph_address(a, chain=chain, limit=1).total
        except NotFoundError:  # an address of the simulation that never moved value
            return 0

    busiest = max(server.addresses[:40], key=degree)
    trace = {"seeds": [tx], "policy": "fifo", "asset": "ETH", "chain": chain}
    with server.client("investigator") as c:
        pairs = [(c.get(f"/api/v1/{chain}/graph/addresses/{busiest}", params={"limit": 5}),
                  ws.graph_address(busiest, chain=chain, limit=5)),
                 (c.get(f"/api/v1/{chain}/graph/txs/{tx}"), ws.graph_tx(tx, chain=chain)),
                 (c.post("/api/v1/graph/trace", json=trace), ws.trace_graph(TraceRequest(**trace)))]
        for response, result in pairs:
            assert response.status_code == 200, response.text[:300]
            assert response.json() == result.model_dump(mode="json")
    page = pairs[0][0].json()
    assert page["total"] > 5 and page["next_cursor"] and all(e["kind"] == "transfer" for e in page["edges"])
    assert pairs[2][0].json()["services"], "the stolen ETH reaches a tagged exchange"
