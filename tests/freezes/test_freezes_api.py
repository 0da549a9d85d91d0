"""`GET /api/v1/freezes` through a real server (uvicorn on loopback, in a thread) over the anvil
store of tests/freezes/conftest.py: the body is the CLI's `--json` document, every role of the
matrix gets what docs/api.md grants (`read`: analyst, investigator), and bad input is one error."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from fundtrail.api import create_app
from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.workspace import Actor, Workspace

ROLES = ("analyst", "investigator", "auditor", "admin")
GRANTED = {"analyst", "investigator"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(frozen_chain) -> Iterator[tuple[str, dict[str, str]]]:
    ws = Workspace.open(Settings.load(store=frozen_chain.store), writable=True, actor=Actor(user="setup", via="python"))
    tokens = {}
    for role in ROLES:
        ws.users_add(f"fz-{role}", role=role)
        tokens[role] = ws.tokens_create(f"fz-{role}").token
    app = create_app(Settings.load(store=frozen_chain.store, api_refresh_seconds=0))
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", tokens
    uv.should_exit = True
    thread.join(timeout=30)


def _client(url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=60)


def test_api_freezes_is_the_cli_document(server, frozen_chain, capsys) -> None:
    url, tokens = server
    assert main(["--store", str(frozen_chain.store), "freezes", "--chain", "anvil", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    with _client(url, tokens["analyst"]) as c:
        r = c.get("/api/v1/freezes", params={"chain": "anvil"})
        assert r.status_code == 200, r.text
        assert r.json() == cli and r.json()["total"] == len(frozen_chain.actions)
        page = c.get("/api/v1/freezes", params={"limit": 3}).json()
        rest = c.get("/api/v1/freezes", params={"limit": 100, "cursor": page["page"]["next_cursor"]}).json()
        assert page["freezes"] + rest["freezes"] == cli["freezes"]
        only = c.get("/api/v1/freezes", params={"address": frozen_chain.roles["mule"]}).json()
        assert [f["action"] for f in only["freezes"]] == ["destroyed", "blacklisted"]


def test_api_freezes_role_matrix(server) -> None:
    url, tokens = server
    for role in (None, *ROLES):
        with _client(url, tokens[role] if role else None) as c:
            r = c.get("/api/v1/freezes")
        if role is None:
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
        elif role in GRANTED:
            assert r.status_code == 200, (role, r.text)
        else:
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", role


def test_api_freezes_bad_input(server) -> None:
    url, tokens = server
    with _client(url, tokens["investigator"]) as c:
        for params, field in (({"address": "0x12"}, "address"), ({"limit": 0}, "limit"),
                              ({"cursor": "nope"}, "cursor"), ({"token": "NOSUCH"}, "token")):
            r = c.get("/api/v1/freezes", params=params)
            assert r.status_code == 422 and set(r.json()) == {"error"}, (params, r.text)
            assert r.json()["error"]["field"] == field and "Traceback" not in r.text, params
        r = c.get("/api/v1/freezes", params={"chain": "eth"})
        assert r.status_code == 404 and r.json()["error"]["field"] == "chain"
