"""Helpers of the workbench's security and page tests: logging in over HTTP as any role, a private
server on a copy of the demo's store (for tests that change users, tags or the login limiter), the
app's routes, and the store's audit records.

    from web.support_security import login_client, serve_copy, flat_routes, audit_records

A private server is configured like `fundtrail serve` runs uvicorn (no proxy headers, no server
header), so the client address the login limiter counts is the socket's, as in production.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fundtrail.settings import Settings
from fundtrail.web.app import create_app
from web.server import start
from web.browser import CSRF_FIELD, SESSION_COOKIE, csrf_of

CSRF_HEADER = "x-csrf-token"


def login(client: httpx.Client, user: str, password: str, **headers: str) -> httpx.Response:
    """POST the login form as a browser does (the form's CSRF token first); the answer, unfollowed."""
    page = client.get("/login", headers=headers)
    assert page.status_code == 200, page.text[:300]
    return client.post("/login", data={"username": user, "password": password, CSRF_FIELD: csrf_of(page.text)},
                       headers=headers)


@contextlib.contextmanager
def login_client(url: str, user: str, password: str, **kwargs: Any) -> Iterator[httpx.Client]:
    """An httpx client logged in as `user` through the login form, whatever page the role lands on
    (the auditor's and admin's start pages included). The session's CSRF token, read from the page
    the login leads to, is in `client.headers` (`x-csrf-token`) for scripts' calls and forms."""
    with httpx.Client(base_url=url, timeout=60, **kwargs) as client:
        answer = login(client, user, password)
        assert answer.status_code == 303 and SESSION_COOKIE in answer.cookies, (user, answer.status_code)
        landing = client.get(answer.headers["location"])
        if CSRF_FIELD not in landing.text:  # a start page not built yet: a refused page has the forms too
            landing = client.get("/search")
        client.headers[CSRF_HEADER] = csrf_of(landing.text)
        yield client


def session_of(client: httpx.Client) -> str:
    """The session cookie a logged-in client holds."""
    value = client.cookies.get(SESSION_COOKIE)
    assert value, "the client holds no session cookie"
    return str(value)


@dataclass
class Served:
    """A workbench on a private copy of a store."""

    url: str
    store: Path
    app: Any
    _uv: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)


def serve_store(store: Path, *, tls: tuple[Path, Path] | None = None, **settings: object) -> Served:
    """uvicorn serving the workbench on `store` as `fundtrail serve` configures it, on a free
    loopback port in a thread (`tls`: certificate and key files, for https)."""
    app = create_app(Settings.load(store=store, api_refresh_seconds=0, **settings))
    url, uv, thread = start(app, tls=tls, name="workbench-copy")
    return Served(url, store, app, uv, thread)


@contextlib.contextmanager
def serve_copy(source: Path, target: Path, **kwargs: Any) -> Iterator[Served]:
    """A workbench on a copy of the store `source` (its users and passwords included), stopped after."""
    shutil.copytree(source, target)
    served = serve_store(target, **kwargs)
    try:
        yield served
    finally:
        served._uv.should_exit = True
        served._thread.join(timeout=30)
        assert not served._thread.is_alive(), "the workbench server did not stop"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throw-away certificate and key for 127.0.0.1 (made by the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed (needed to make a test certificate)")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=120)
    return cert, key


def flat_routes(routes: list[Any]) -> Iterator[Any]:
    """Every route of an app, included routers opened (FastAPI keeps them as one entry each)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flat_routes(inner.routes)
        else:
            yield route


def audit_records(store: Path) -> list[dict[str, Any]]:
    """The records of the store's audit log (`audit/audit.log`, JSON Lines)."""
    text = (store / "audit" / "audit.log").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def cookie_attrs(response: httpx.Response, name: str) -> dict[str, str]:
    """The attributes of the Set-Cookie header of cookie `name` (lower-case names; flags map to '')."""
    for header in response.headers.get_list("set-cookie"):
        first, *rest = [part.strip() for part in header.split(";")]
        if first.split("=", 1)[0] == name:
            attrs = {"value": first.split("=", 1)[1]}
            for part in rest:
                key, _, value = part.partition("=")
                attrs[key.lower()] = value
            return attrs
    raise AssertionError(f"no Set-Cookie for {name} in {response.headers.get_list('set-cookie')}")
