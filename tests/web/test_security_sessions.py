"""The workbench's session cookies and its failed-login limit, against a real server: the cookie
flags over http and over TLS, and failed logins limited per user name and per client address,
audited without a password (the rest of the workbench's security: test_security.py)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx

from fundtrail.settings import Settings
from fundtrail.web import i18n
from web.browser import CSRF_FIELD, SESSION_COOKIE, csrf_of
from web.support_security import audit_records, cookie_attrs, self_signed, serve_copy
from web.support_security import login as form_login


# --------------------------------------------------------------------------------------- cookies

def check_flags(attrs: dict[str, str], secure: bool) -> None:
    assert "httponly" in attrs and attrs["samesite"].lower() == "strict" and attrs["path"] == "/", attrs
    assert ("secure" in attrs) == secure, attrs


def cookies_of_a_login(url: str, demo_server: Any, **kwargs: Any) -> list[dict[str, str]]:
    """The attributes of the login nonce, session and language cookies a browser gets."""
    with httpx.Client(base_url=url, timeout=60, **kwargs) as c:
        page = c.get("/login")
        nonce = cookie_attrs(page, "ft_login")
        done = c.post("/login", data={"username": "analyst", "password": demo_server.passwords["analyst"],
                                      CSRF_FIELD: csrf_of(page.text)})
        assert done.status_code == 303
        session = cookie_attrs(done, SESSION_COOKIE)
        assert int(session["max-age"]) == Settings.load().web_session_hours * 3600
        token = csrf_of(c.get("/").text)
        lang = cookie_attrs(c.post("/lang", data={"lang": "en", "next": "/", CSRF_FIELD: token}), i18n.LANG_COOKIE)
        return [nonce, session, lang]


def test_cookies_are_httponly_strict_and_not_secure_over_http(demo_server: Any) -> None:
    """Over http: `HttpOnly; SameSite=Strict; Path=/` on every cookie, no `Secure` (it would be lost)."""
    for attrs in cookies_of_a_login(demo_server.url, demo_server):
        check_flags(attrs, secure=False)


def test_cookies_are_secure_over_https(demo_server: Any, tmp_path: Path) -> None:
    """Served over TLS (`fundtrail serve --tls-cert --tls-key`), the same cookies carry `Secure`."""
    tls = self_signed(tmp_path)
    with serve_copy(demo_server.store, tmp_path / "store", tls=tls) as served:
        assert served.url.startswith("https://")
        for attrs in cookies_of_a_login(served.url, demo_server, verify=False):
            check_flags(attrs, secure=True)


# ------------------------------------------------------------------------------ login rate limit

def test_failed_logins_are_limited_per_name_and_address_and_audited(demo_server: Any, tmp_path: Path) -> None:
    """With `web_login_per_minute` 3: three wrong passwords for a name, then even the right one is
    429, from another address too (per name); another name from the same address is 429 (per
    address; a forged X-Forwarded-For does not help), while another name from another address logs
    in. The audit log names the user tried in each failed login and holds no password, cookie or
    CSRF token."""
    wrong = [f"wrong-guess-{i}-{secrets.token_hex(4)}" for i in range(3)]
    right = demo_server.passwords["investigator"]

    def client(ip: str) -> httpx.Client:
        return httpx.Client(base_url=served.url, timeout=60, transport=httpx.HTTPTransport(local_address=ip))

    with serve_copy(demo_server.store, tmp_path / "store", web_login_per_minute=3) as served:
        before = len(audit_records(served.store))
        with client("127.0.0.2") as a, client("127.0.0.3") as b, client("127.0.0.4") as d:
            for guess in wrong:
                assert form_login(a, "investigator", guess).status_code == 401
            locked = form_login(a, "investigator", right)
            assert locked.status_code == 429 and SESSION_COOKIE not in locked.cookies
            assert "Too many failed logins" in locked.text
            assert form_login(b, "investigator", right).status_code == 429  # the name, from anywhere
            assert form_login(a, "analyst", demo_server.passwords["analyst"]).status_code == 429  # the address
            spoofed = form_login(a, "analyst", demo_server.passwords["analyst"], **{"x-forwarded-for": "10.9.9.9"})
            assert spoofed.status_code == 429
            fine = form_login(d, "analyst", demo_server.passwords["analyst"])
            assert fine.status_code == 303
            cookie = fine.cookies[SESSION_COOKIE]
            token = csrf_of(d.get("/").text)
            assert d.post("/lang", data={"lang": "en", "next": "/", CSRF_FIELD: token}).status_code == 303
        records = [r for r in audit_records(served.store)[before:] if r["action"] == "POST /login"]
        tried = [(r["params"].get("username"), r["status"]) for r in records]
        assert tried == [("investigator", 401)] * 3 + [("investigator", 429)] * 2 + [("analyst", 429)] * 2 \
            + [("analyst", 303)], tried
        log = (served.store / "audit" / "audit.log").read_text(encoding="utf-8")
        for secret in [*wrong, right, demo_server.passwords["analyst"], cookie, cookie.split("_", 2)[2], token]:
            assert secret not in log, "a password, session cookie or CSRF token is in the audit log"
