"""The REST API and the workbench pages on TRON: a real server (uvicorn on loopback, in a thread)
over the flow's store (tests/tron/conftest.py), asked with httpx in every input form.

Each API answer must be the CLI's `--json` document for the same question (the CLI is checked
against the flow's figures in test_tron_commands.py), and show `T…` addresses and bare txids; the
pages must show and link the `T…` forms. Bad input is one JSON error naming the field.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.web.app import create_app
from fundtrail.workspace import Actor, Workspace

USDT_T = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
PASSWORD = "tron-analyst-password-1"
_T = re.compile(r"T[1-9A-HJ-NP-Za-km-z]{33}")


@pytest.fixture(scope="module")
def server(flow: Any) -> Iterator[tuple[str, str]]:
    ws = Workspace.open(Settings.load(store=flow.store), writable=True, actor=Actor(user="setup", via="python"))
    ws.users_add("tron-analyst", role="investigator", password=PASSWORD)  # investigators may trace
    token = ws.tokens_create("tron-analyst").token
    config = uvicorn.Config(create_app(Settings.load(store=flow.store, api_refresh_seconds=0)), host="127.0.0.1",
                            port=0, log_config=None, access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{uv.servers[0].sockets[0].getsockname()[1]}", token
    uv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def api(server: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], headers={"Authorization": f"Bearer {server[1]}"}, timeout=60) as c:
        yield c


def cli(capsys: pytest.CaptureFixture[str], flow: Any, *args: str) -> Any:
    capsys.readouterr()
    assert main(["-q", "--store", str(flow.store), *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def t_of(flow: Any, name: str) -> str:
    return cli_t[name] if (cli_t := getattr(flow, "_t", None)) else _t(flow)[name]


def _t(flow: Any) -> dict[str, str]:
    from fundtrail.chains.tron.address import to_base58  # the codec tests/chains/tron checks on vectors

    flow._t = {k: to_base58(bytes.fromhex(v[2:])) for k, v in flow.accounts.items()}
    return flow._t


def test_address_and_txs_in_every_form_are_the_cli_documents(api, flow, capsys) -> None:
    a = t_of(flow, "a")
    want = cli(capsys, flow, "address", a, "--chain", "tron")
    for text in (a, flow.accounts["a"], "0x" + flow.accounts["a"][2:]):
        got = api.get(f"/api/v1/tron/addresses/{text}")
        assert got.status_code == 200, got.text
        assert got.json() == want, text
    page = api.get(f"/api/v1/tron/addresses/{flow.accounts['b']}/txs").json()
    assert page == cli(capsys, flow, "txs", t_of(flow, "b"), "--chain", "tron")
    assert [t["txid"] for t in page["txs"]][:2] == [flow.txs["a_b"], flow.txs["a_b_trx"]]


def test_tx_search_and_bad_input(api, flow, capsys) -> None:
    want = cli(capsys, flow, "tx", flow.txs["b_dep"], "--chain", "tron")
    for text in (flow.txs["b_dep"], "0x" + flow.txs["b_dep"]):
        assert api.get(f"/api/v1/tron/txs/{text}").json() == want
    assert want["txid"] == flow.txs["b_dep"] and want["from_address"] == t_of(flow, "b")
    hits = api.get("/api/v1/search", params={"q": "0x" + flow.txs["b_dep"]}).json()["hits"]
    assert [(h["kind"], h["link"]) for h in hits] == [("transaction", f"/api/v1/tron/txs/{flow.txs['b_dep']}")]
    assert api.get(hits[0]["link"]).status_code == 200
    typo = t_of(flow, "a")[:-1] + ("x" if t_of(flow, "a")[-1] != "x" else "y")
    bad = api.get(f"/api/v1/tron/addresses/{typo}")
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["field"] == "address" and "checksum" in bad.json()["error"]["message"]


def test_trace_and_paths_through_the_api(api, flow, capsys) -> None:
    body = {"seeds": [flow.accounts["a"]], "asset": USDT_T}
    got = api.post("/api/v1/tron/trace", json=body)
    assert got.status_code == 200, got.text
    doc = got.json()
    assert {e["address"] for e in doc["endpoints"]} == {t_of(flow, k) for k in ("a", "c", "e", "hot", "dep")}
    frozen = [e for e in doc["endpoints"] if e["frozen"]]
    assert [(e["address"], e["frozen"]["tx"]) for e in frozen] == [(t_of(flow, "c"), flow.txs["freeze_c"])]
    drawn = api.post("/api/v1/graph/trace", json={**body, "chain": "tron"})
    assert drawn.status_code == 200, drawn.text
    labels = {n["address"] for n in drawn.json()["nodes"] if n.get("address")}
    assert t_of(flow, "hot") in labels and all(_T.fullmatch(x) for x in labels)
    paths = api.get("/api/v1/tron/paths", params={"from": "0x" + flow.txs["a_b"], "to": t_of(flow, "hot")}).json()
    assert [s["txid"] for s in paths["paths"][0]["steps"]] == [flow.txs[k] for k in ("a_b", "b_dep", "dep_hot")]
    graph = api.get(f"/api/v1/tron/graph/addresses/{flow.accounts['dep']}").json()
    assert {n["address"] for n in graph["nodes"] if n.get("address")} >= {t_of(flow, "b"), t_of(flow, "hot")}
    txg = api.get(f"/api/v1/tron/graph/txs/{flow.txs['dep_hot']}")
    assert txg.status_code == 200, txg.text


def test_pages_show_and_link_t_forms(server, flow) -> None:
    from tests.web.browser import http_login

    with httpx.Client(base_url=server[0], timeout=60) as web:
        http_login(web, "tron-analyst", PASSWORD)
        page = web.get(f"/tron/addresses/{flow.accounts['b']}")
        assert page.status_code == 200, page.text[:500]
        html = page.text
        assert t_of(flow, "b") in html and f"/tron/addresses/{t_of(flow, 'c')}" in html
        assert f"/tron/txs/{flow.txs['b_c']}" in html and "0x" + flow.txs["b_c"] not in html
        tx = web.get(f"/tron/txs/0x{flow.txs['dep_hot']}")
        assert tx.status_code == 200 and f"/tron/addresses/{t_of(flow, 'hot')}" in tx.text
        for seed in (flow.accounts["a"], flow.txs["src_a"], "0x" + flow.txs["src_a"]):  # the trace page
            traced = web.get("/trace", params={"chain": "tron", "seed": seed})
            assert traced.status_code == 200, traced.text[:500]
            assert f"/tron/addresses/{t_of(flow, 'c')}" in traced.text and "/tron/txs/0x" not in traced.text
        graph = web.get("/graph", params={"chain": "tron", "start": f"a:{t_of(flow, 'dep')}"})
        assert graph.status_code == 200, graph.text[:500]
