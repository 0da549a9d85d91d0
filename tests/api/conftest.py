"""Real API servers over loopback for the API tests: uvicorn in a thread on a free port, a real
httpx client, a simulated Bitcoin chain ingested by the CLI, one user and token per role.

Two servers: `api` with the default limits (shared by most tests), and `tight` with small limits
(rate, body size, screening rows) on a store of its own, which the audit-failure test may break.
"""

from __future__ import annotations

import csv
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from fundtrail.api import create_app
from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.sim.scenario import simulate
from fundtrail.workspace import Actor, Workspace

ROLES = ("analyst", "investigator", "auditor", "admin")


@dataclass
class Server:
    """A running API server and what the tests need to talk to it."""

    url: str
    store: Path
    tokens: dict[str, str]
    sim: Path
    uv: uvicorn.Server
    thread: threading.Thread
    addresses: list[str] = field(default_factory=list)

    def client(self, role: str | None = None, **headers: str) -> httpx.Client:
        """An httpx client acting as `role` (None: no token)."""
        h = dict(headers)
        if role is not None:
            h["Authorization"] = f"Bearer {self.tokens[role]}"
        return httpx.Client(base_url=self.url, headers=h, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_store(base: Path, *, cluster: bool = False) -> tuple[Path, dict[str, str], Path]:
    """A simulated chain ingested through the CLI (clustered if asked), plus a user and token per role."""
    simulate(base / "sim", seed=11, txs=600)
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    if cluster:
        assert main(["-q", "--store", str(store), "cluster", "run"]) == 0
    ws = Workspace.open(Settings.load(store=store), writable=True, actor=Actor(user="setup", via="python"))
    tokens = {}
    for role in ROLES:
        ws.users_add(f"{role}1", role=role)
        tokens[role] = ws.tokens_create(f"{role}1").token
    return store, tokens, base / "sim"


def start(store: Path, tokens: dict[str, str], sim: Path, **settings: object) -> Server:
    """uvicorn serving `create_app` on a free loopback port, in a thread (no signal handlers)."""
    app = create_app(Settings.load(store=store, **settings))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.02)
    with open(sim / "truth/addresses.csv") as fh:
        addresses = [r["address"] for r in csv.DictReader(fh)]
    return Server(f"http://127.0.0.1:{port}", store, tokens, sim, uv, thread, addresses)


def stop(server: Server) -> None:
    server.uv.should_exit = True
    server.thread.join(timeout=30)
    assert not server.thread.is_alive()


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The shared server (default limits)."""
    store, tokens, sim = build_store(tmp_path_factory.mktemp("api"), cluster=True)
    server = start(store, tokens, sim, api_refresh_seconds=0)
    yield server
    stop(server)


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with small limits on a store of its own."""
    store, tokens, sim = build_store(tmp_path_factory.mktemp("tight"))
    server = start(store, tokens, sim, api_rate_per_second=1, api_burst=5, api_max_body_mb=1, api_max_upload_mb=3,
                   api_max_screen_rows=50)
    yield server
    stop(server)


def error_of(response: httpx.Response) -> dict[str, object]:
    """The error document of a failed response, checked to be the one error shape (the `err`
    fixture hands this function to tests)."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    doc = response.json()
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message", "field"}, doc
    assert "Traceback" not in response.text
    return dict(doc["error"])


@pytest.fixture(scope="session")
def err() -> object:
    """`err(response)`: the error document of a failed response, in the one error shape."""
    return error_of
