"""Fixtures of the web workbench tests: the demo's store served by a real server, and a real browser.

- `demo_server` (session): `fundtrail demo` run once by the CLI (in process) into a temporary store,
  one user per role with a known password (plus the demo's own `demo`, with the password the demo
  printed), and uvicorn serving the workbench app on a free 127.0.0.1 port in a thread. It knows the
  demo's answer key (the simulator's ground truth files, read as `cli/demo.py` reads them): the
  ransom addresses and the cash-out services.
- `browser` (per test, on a Chromium kept per module): a clean headless Chromium, loopback only; after
  the test every SEVERE console entry fails it, and a failed test leaves a screenshot.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.sim.scenario import CASE
from fundtrail.web.app import create_app
from fundtrail.workspace import Actor, Workspace
from web.server import start
from web.browser import (CSRF_HEADER, check_console, fresh_screenshots, http_login, new_driver,
                         require_browser, reset, screenshot)

ROLES = ("analyst", "investigator", "auditor", "admin")
CHAIN = "btc-regtest"


@dataclass
class DemoServer:
    """A running workbench on the demo's store, and what tests need to know about it."""

    url: str
    store: Path
    workdir: Path
    users: dict[str, str]  # role (or "demo") -> user name
    passwords: dict[str, str]  # user name -> password
    ransom_addresses: list[str]  # where victims paid, in the order the demo prints them
    exchanges: list[str]  # the cash-out services of the answer key (exchanges, the OTC desk)
    case: dict[str, Any]  # the simulator's answer key of the ransomware case
    demo_output: str
    chain: str = CHAIN
    _uv: uvicorn.Server | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def ransom_address(self) -> str:
        """The address the demo tells a newcomer to search first."""
        return self.ransom_addresses[0]

    @contextlib.contextmanager
    def client(self, role: str | None = None, **kwargs: Any) -> Iterator[httpx.Client]:
        """`with server.client(role) as c`: an httpx client of the server, logged in through the login
        form as `role`'s user (None: logged out). The session cookie stays in the client, and the
        session's CSRF token goes with every request (header `x-csrf-token`; a form takes it from
        `c.headers`)."""
        with httpx.Client(base_url=self.url, timeout=60, **kwargs) as c:
            if role is not None:
                user = self.users[role]
                c.headers[CSRF_HEADER] = http_login(c, user, self.passwords[user])
            yield c


def run_demo(store: Path, workdir: Path) -> str:
    """`fundtrail demo` as `make demo` runs it (through the CLI, in process); its standard output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["-q", "--store", str(store), "demo", "--workdir", str(workdir)])
    assert code == 0, out.getvalue()[-2000:]
    return out.getvalue()


def demo_password(output: str) -> str:
    """The password the demo printed for its user `demo`."""
    found = re.search(r"^  password: (\S+)$", output, re.M)
    assert found, "the demo printed no password for the workbench"
    return found.group(1)


def answer_key(workdir: Path) -> dict[str, Any]:
    """The simulator's ground truth of the demo's ransomware case (as cli/demo.py reads it)."""
    return dict(json.loads((workdir / "truth" / "cases" / f"{CASE}.json").read_text()))


def serve(store: Path, **settings: object) -> tuple[str, uvicorn.Server, threading.Thread]:
    """uvicorn serving the workbench app (API and pages) on a free loopback port, in a thread."""
    return start(create_app(Settings.load(store=store, **settings)))


@pytest.fixture(scope="session", autouse=True)
def strict_messages() -> Iterator[None]:
    """Every workbench page the web tests render uses strict catalogues: a message missing from one
    fails the page (`web.i18n.strict`)."""
    before = os.environ.get("FUNDTRAIL_I18N_STRICT")
    os.environ["FUNDTRAIL_I18N_STRICT"] = "1"
    yield
    if before is None:
        os.environ.pop("FUNDTRAIL_I18N_STRICT", None)
    else:
        os.environ["FUNDTRAIL_I18N_STRICT"] = before


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The demo's store, users of every role, and the workbench serving it (see the module doc)."""
    base = tmp_path_factory.mktemp("workbench")
    store, workdir = base / "demo-store", base / "demo-data"
    output = run_demo(store, workdir)
    users = {role: role for role in ROLES}
    passwords = {role: f"{role}-{secrets.token_urlsafe(12)}" for role in ROLES}
    ws = Workspace.open(Settings.load(store=store), writable=True, actor=Actor(user="setup", via="python"))
    for role in ROLES:
        ws.users_add(role, role=role, password=passwords[role])
    users["demo"], passwords["demo"] = "demo", demo_password(output)
    case = answer_key(workdir)
    ransom = list(dict.fromkeys(s["address"] for s in case["seed_outputs"]))
    exchanges = sorted({p["actor"] for p in case["cashout_points"]})
    url, uv, thread = serve(store, api_refresh_seconds=0)
    server = DemoServer(url, store, workdir, users, passwords, ransom, exchanges, case, output, _uv=uv, _thread=thread)
    yield server
    uv.should_exit = True
    thread.join(timeout=30)
    assert not thread.is_alive(), "the workbench server did not stop"


@pytest.fixture(scope="session")
def _screenshots_dir(request: pytest.FixtureRequest) -> None:
    """Empty test-artifacts/screenshots once per run (shared by xdist's workers)."""
    worker = getattr(request.config, "workerinput", None)
    fresh_screenshots(worker["testrunuid"] if worker else None)


@pytest.fixture(scope="module")
def chrome(_screenshots_dir: None) -> Iterator[Any]:
    """One headless Chromium per test module (started once: the browser's start is the slow part)."""
    require_browser()
    driver = new_driver()
    yield driver
    driver.quit()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test, so the `browser` fixture knows whether the test failed."""
    report = yield
    setattr(item, f"ft_report_{report.when}", report)
    return report


@pytest.fixture
def browser(chrome: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A clean browser (no cookies, no stored data, blank page); after the test, any JavaScript error
    or failed load in the console fails it, and a failed test leaves FAILED-<test>.png."""
    origins = [request.getfixturevalue("demo_server").url] if "demo_server" in request.fixturenames else []
    reset(chrome, origins)
    yield chrome
    report = getattr(request.node, "ft_report_call", None)
    if report is not None and report.failed:
        with contextlib.suppress(Exception):
            screenshot(chrome, f"FAILED-{request.node.name}")
    try:
        check_console(chrome)
    finally:
        reset(chrome, origins)
