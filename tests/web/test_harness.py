"""The browser harness itself: the demo's server answers, Chromium loads its pages from local files
only, the console check catches errors, and the browser reaches no host but the server's."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait

from web.browser import (SCREENSHOTS, allow_console_errors, check_console, csrf_of, js_errors, login,
                         screenshot, wait_for)


def test_server_serves_the_demo_store(demo_server: Any) -> None:
    """The server answers: the API on the demo's store, and the workbench's login page."""
    assert demo_server.url.startswith("http://127.0.0.1:")
    assert len(demo_server.ransom_addresses) == 4 and demo_server.exchanges  # the demo's answer key was read
    with httpx.Client(base_url=demo_server.url, timeout=60) as c:
        assert c.get("/api/openapi.json").json()["info"]["title"] == "fundtrail REST API"
        assert c.get(f"/api/v1/{demo_server.chain}/addresses/{demo_server.ransom_address}").status_code == 401
        first = c.get("/")
        assert first.status_code == 303 and first.headers["location"].startswith("/login")  # logged out
        assert 'id="login-form"' in c.get("/login").text


def test_every_user_logs_in_over_http(demo_server: Any) -> None:
    """The users the harness made, and the demo's `demo` with the password the demo printed, log in
    through the login form; a wrong password does not."""
    for role in ("demo", "analyst", "investigator", "auditor", "admin"):
        with demo_server.client(role) as c:
            home = c.get("/", follow_redirects=True)  # the auditor and the admin start elsewhere
            assert home.status_code == 200 and demo_server.users[role] in home.text, role
    with httpx.Client(base_url=demo_server.url, timeout=60) as c:
        page = c.get("/login")
        wrong = c.post("/login", data={"username": "demo", "password": "not-the-password",
                                       "csrf_token": csrf_of(page.text)})
        assert wrong.status_code == 401 and "ft_session" not in wrong.cookies


def test_chromium_logs_in_and_loads_only_local_files(demo_server: Any, browser: Any) -> None:
    """A real Chromium logs in through the form; everything the page loaded came from the server."""
    login(browser, demo_server, "demo")
    wait_for(browser, "body")
    assert browser.current_url.startswith(demo_server.url) and "/login" not in browser.current_url
    assert "demo" in browser.find_element("css selector", "body").text
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(u.startswith(demo_server.url + "/") for u in loaded), loaded
    shot = screenshot(browser, "harness-after-login")
    assert shot.parent == SCREENSHOTS and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_console_errors_are_caught(demo_server: Any, browser: Any) -> None:
    """A console.error and an uncaught exception both fail the after-test check, until allowed."""
    browser.get(demo_server.url + "/login")
    wait_for(browser, "#login-form")
    check_console(browser)  # a clean page passes
    browser.execute_script("console.error('ft-harness: a deliberate error');"
                           "setTimeout(() => { throw new Error('ft-harness: uncaught'); }, 0);")
    WebDriverWait(browser, 15).until(lambda d: len(js_errors(d)) >= 2)
    messages = [e["message"] for e in js_errors(browser)]
    assert any("ft-harness: a deliberate error" in m for m in messages), messages
    assert any("Uncaught Error: ft-harness: uncaught" in m for m in messages), messages
    with pytest.raises(AssertionError, match="ft-harness: a deliberate error"):
        check_console(browser)
    allow_console_errors(browser, r"ft-harness: ")
    assert js_errors(browser) == []  # so this test passes the fixture's check


@pytest.fixture
def outside() -> Iterator[tuple[str, list[str]]]:
    """A live web server on 127.0.0.2 (loopback, but not the workbench's address): the stand-in for a
    CDN the browser must not reach. Its URL and the paths it was asked for."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = b"console.log('ft-outside reached')"
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.2:{server.server_address[1]}", asked
    server.shutdown()
    thread.join(timeout=10)


def test_outside_hosts_are_blocked(demo_server: Any, browser: Any, outside: tuple[str, list[str]]) -> None:
    """The browser reaches nothing but the server: not another address (the live server on
    127.0.0.2, which Python reaches), not a CDN by name; a page's script from outside fails loudly."""
    url, asked = outside
    assert httpx.get(url + "/python").status_code == 200 and asked == ["/python"]
    for target in (url + "/navigate", "https://cdn.jsdelivr.net/npm/cytoscape@3.35.0/dist/cytoscape.min.js",
                   "http://93.184.216.34/"):
        with pytest.raises(WebDriverException, match="ERR_PROXY_CONNECTION_FAILED|ERR_NAME_NOT_RESOLVED"):
            browser.get(target)
    browser.get("about:blank")  # no Content-Security-Policy here: the network itself must refuse
    browser.execute_script("for (const src of arguments) { const s = document.createElement('script');"
                           " s.src = src; document.head.appendChild(s); }",
                           url + "/script.js", "https://cdn.jsdelivr.net/npm/cytoscape@3.35.0/dist/cytoscape.min.js")
    WebDriverWait(browser, 15).until(lambda d: len(js_errors(d)) >= 2)
    failed = [e["message"] for e in js_errors(browser)]
    assert any(url + "/script.js" in m and "ERR_PROXY_CONNECTION_FAILED" in m for m in failed), failed
    assert any("cdn.jsdelivr.net" in m and "net::ERR_" in m for m in failed), failed
    assert asked == ["/python"]  # the browser never reached it
    allow_console_errors(browser, r"127\.0\.0\.2|cdn\.jsdelivr\.net")
