"""The browser test harness: Debian's headless Chromium driven by Selenium 4, for tests/web.

    from web.browser import js_errors, login, screenshot, wait_for

A driver made here (`new_driver`) can reach loopback only: every other host resolves to nothing
(`--host-resolver-rules`) and every non-loopback request, IP literals included, goes to a dead
proxy, so a page that refers to a CDN or a remote font fails loudly (a console error) instead of
working only on a connected machine. The browser's console is captured: `js_errors` is every SEVERE
entry (script errors, failed loads) seen since the driver started, which the `browser` fixture
asserts empty after each test. A test that provokes an expected console error (a page answering
403, say) names it with `allow_console_errors`.

Chromium and chromedriver are Debian's (`make test` installs them); locally a missing one skips the
browser tests with the reason, under CI=true it fails them.
"""

from __future__ import annotations

import fcntl
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("FUNDTRAIL_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("FUNDTRAIL_CHROMEDRIVER", "/usr/bin/chromedriver"))
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
WINDOW = (1400, 900)
#: A loopback port nothing listens on: the proxy of every non-loopback request (connection refused).
DEAD_PROXY = "127.0.0.1:9"
CSRF_FIELD = "csrf_token"  # the hidden input of every form
CSRF_HEADER = "x-csrf-token"  # the same token on a script's state-changing request
SESSION_COOKIE = "ft_session"


class Server(Protocol):
    """What `login` needs of the `demo_server` fixture's object."""

    url: str
    passwords: dict[str, str]
    users: dict[str, str]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return f"{path} not found: install Debian's {package} (`make test` does)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def require_browser() -> None:
    """Skip (locally) or fail (CI=true) when Chromium, chromedriver or selenium is missing."""
    reason = missing_browser()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"browser tests cannot run: {reason}")
    pytest.skip(reason)


def new_driver(*, languages: str = "en-US,en") -> Any:
    """A headless Chromium (Debian's) under chromedriver, loopback only, console captured.

    `languages` is the browser's Accept-Language (the workbench picks its language from it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--disable-dev-shm-usage",
                "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-features=Translate,OptimizationHints,MediaRouter",
                f"--lang={languages.split(',')[0]}",
                # nothing but the server's 127.0.0.1: names resolve to nothing, and whatever still asks
                # for another address (an IP literal, the rest of 127/8) goes to a proxy that refuses
                # the connection (`<-loopback>` ends Chromium's implicit proxy bypass of 127/8)
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
                f"--proxy-server=http://{DEAD_PROXY}", "--proxy-bypass-list=<-loopback>;127.0.0.1;localhost"):
        opts.add_argument(arg)
    if os.geteuid() == 0:
        opts.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    opts.add_experimental_option("prefs", {"intl.accept_languages": languages,
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    driver.ft_console = []  # every console entry read so far (get_log drains the browser's buffer)
    driver.ft_allowed = []  # patterns of console errors the running test expects
    return driver


def console(driver: Any) -> list[dict[str, Any]]:
    """Every browser console entry since the driver started (or since `clear_console`)."""
    driver.ft_console.extend(driver.get_log("browser"))
    return list(driver.ft_console)


def js_errors(driver: Any) -> list[dict[str, Any]]:
    """The SEVERE console entries (JavaScript errors, failed loads, CSP violations) not allowed by
    `allow_console_errors`."""
    return [e for e in console(driver) if e.get("level") == "SEVERE"
            and not any(re.search(p, str(e.get("message", ""))) for p in driver.ft_allowed)]


def check_console(driver: Any) -> None:
    """AssertionError listing the console errors, if any (the `browser` fixture's after-test check)."""
    errors = js_errors(driver)
    assert not errors, "errors in the browser console:\n" + "\n".join(
        f"  {e.get('source', '?')}: {e.get('message')}" for e in errors)


def allow_console_errors(driver: Any, *patterns: str) -> None:
    """Let console errors matching any of `patterns` (regular expressions) pass the running test's
    check: for a test that opens a page answering 403 or 404 on purpose."""
    driver.ft_allowed.extend(patterns)


def clear_console(driver: Any) -> None:
    """Forget the entries read so far and the allowed patterns (between two tests)."""
    driver.get_log("browser")
    driver.ft_console.clear()
    driver.ft_allowed.clear()


def reset(driver: Any, origins: Iterable[str] = ()) -> None:
    """A clean browser for the next test: blank page, no cookies, no stored data of `origins`."""
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    for origin in origins:
        driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
    clear_console(driver)


def wait_for(driver: Any, css: str, timeout: float = 15) -> Any:
    """The first element matching `css` once it is displayed (TimeoutException after `timeout` s)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))


def wait_replaced(driver: Any, element: Any, timeout: float = 30) -> None:
    """Wait until `element` (e.g. the old page's <html>) no longer belongs to the document, the page
    having been replaced. While a navigation is under way chromedriver may answer a question about
    the old node with "Node with given id does not belong to the document" instead of a stale
    reference: that means the same."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def gone(_: Any) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    WebDriverWait(driver, timeout).until(gone)


def login(driver: Any, server: Server, role: str, *, timeout: float = 15) -> None:
    """Log in through the login page as the fixture's user of `role` ("analyst", "investigator",
    "auditor", "admin", or "demo": the demo's own investigator) and wait until the page has moved on."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    user = server.users[role]
    driver.get(server.url + "/login")
    form = wait_for(driver, "#login-form", timeout)
    form.find_element(By.NAME, "username").send_keys(user)
    form.find_element(By.NAME, "password").send_keys(server.passwords[user])
    form.find_element(By.CSS_SELECTOR, "[type=submit]").click()
    WebDriverWait(driver, timeout).until(lambda d: "/login" not in d.current_url.split("?")[0])


def screenshot(driver: Any, name: str) -> Path:
    """Save the current page as test-artifacts/screenshots/NAME.png (for people to look at)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "page"
    path = SCREENSHOTS / f"{safe}.png"
    assert driver.save_screenshot(str(path)), f"screenshot {path} not written"
    return path


def fresh_screenshots(run_id: str | None = None) -> None:
    """Empty the screenshots folder once per test run: the first process of run `run_id` (the
    xdist run's id, shared by its workers) to get here removes the previous run's pictures."""
    run_id = run_id or uuid.uuid4().hex
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    marker = SCREENSHOTS / ".run"
    with open(ARTIFACTS / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists() or marker.read_text() != run_id:
            for old in SCREENSHOTS.glob("*.png"):
                old.unlink()
            marker.write_text(run_id)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page (the hidden `csrf_token` input)."""
    tag = re.search(r"<input[^>]*name=[\"']?" + CSRF_FIELD + r"\b[^>]*>", html)
    value = re.search(r"value=[\"']([^\"']*)[\"']", tag.group(0)) if tag else None
    assert value, f"no {CSRF_FIELD} input in the page"
    return value.group(1)


def http_login(client: httpx.Client, user: str, password: str) -> str:
    """Log `client` in through the login form (with the form's CSRF token), as a browser does; the
    CSRF token of the page the login leads to (the session's)."""
    page = client.get("/login")
    assert page.status_code == 200, page.text[:300]
    answer = client.post("/login", data={"username": user, "password": password, CSRF_FIELD: csrf_of(page.text)})
    assert answer.status_code == 303 and SESSION_COOKIE in answer.cookies, (user, answer.status_code, answer.text[:300])
    landing = client.get(answer.headers["location"], follow_redirects=True)
    assert landing.status_code == 200, f"{user}'s first page {landing.url} answered {landing.status_code}"
    return csrf_of(landing.text)
