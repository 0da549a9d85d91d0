"""The workbench's security, tested against a real server: who gets what from every route, CSRF,
escaping, redirects, headers, local-only assets, and sessions ending.

The role matrix reads the routes from the app itself, so a page added later is covered without a
change here: every GET page, its `.json` twin and its `Accept: application/json` twin is asked for
logged out and as every role, with path and query parameters filled from the demo's answer key.
Read-only questions go to the shared `demo_server`; tests that change the store (tags, users,
sessions, the login limiter) run on a private copy of its store (`web.support_security`).
"""

from __future__ import annotations

import html.parser
import json
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx
import pytest

from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.web import i18n
from fundtrail.web.pages import WebRoute
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.access import PERMISSIONS, ROLES, allows
from web.browser import CSRF_FIELD, SESSION_COOKIE, allow_console_errors, csrf_of, js_errors, login, wait_for
from web.support_cases import member_case
from web.support_watch import member_watch
from web.support_security import (CSRF_HEADER, cookie_attrs, Served, flat_routes, login_client, serve_copy,
                                  session_of)
from web.support_security import login as form_login

USERS = ("analyst", "investigator", "auditor", "admin")
#: Routes anyone may call: the login form, the language switch, our static files, the API's self-description.
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("POST", "/lang"),
          ("GET", "/static/{name:path}"), ("GET", "/vendor/{name}"), ("GET", "/api/openapi.json"),
          ("GET", "/api/docs"), ("GET", "/api/docs/assets/{name}")}
#: The permission of the pages whose rule is part of the design (issue 15); other pages only need
#: to follow some permission of the role table.
PINNED = {"/search": "read", "/search.json": "read", "/{chain}/addresses/{address}": "read",
          "/{chain}/txs/{txid}": "read", "/{chain}/clusters/{id}": "read", "/graph": "read", "/graph.json": "read",
          "/trace": "trace", "/trace.json": "trace", "/tags": "read", "/tags.json": "read",
          "/audit": "audit.read", "/audit.json": "audit.read", "/users": "admin", "/users.json": "admin"}
#: Where `/` sends each role (None: the home page itself).
HOME = {"analyst": None, "investigator": None, "auditor": "/audit", "admin": "/users"}
XSS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
LIVE_MARKUP = ("<script>alert(1)", "<img src=x")  # what must never come back unescaped
CURRENCY = "BTC-REGTEST"  # the demo's addresses are testnet-shaped: a tag names its currency
EVIL = ("//evil.example/", "https://evil.example", "/\\evil.example", "///evil.example", "http:evil.example")


# ----------------------------------------------------------------------------------------- set-up


def roles_with(permission: str) -> set[str]:
    return {role for role in ROLES if allows(role, permission)}


@pytest.fixture(scope="module")
def demo(demo_server: Any) -> dict[str, str]:
    """Real values for every route parameter: the demo's chain, a ransom address and the payment's
    txid, its cluster and another member, the label and a cash-out service of the answer key."""
    seed = demo_server.case["seed_outputs"][0]
    address = seed["address"]
    with login_client(demo_server.url, "investigator", demo_server.passwords["investigator"]) as c:
        summary = c.get(f"/api/v1/{demo_server.chain}/addresses/{address}").json()
        members = c.get(f"/api/v1/{demo_server.chain}/clusters/{summary['cluster_id']}/members").json()
    others = [m["address"] for m in members["members"] if m["address"] != address]
    label = next(t["label"] for t in summary["tags"] if t["category"] == "ransomware")
    case = member_case(demo_server.store, address)  # a case the investigator owns, with a saved trace
    return {**case, **member_watch(demo_server.store, case["case"], case["trace"]),  # an item and its alert
            "chain": demo_server.chain, "address": address, "txid": seed["txid"], "cluster": str(summary["cluster_id"]),
            "member": others[0], "label": label, "exchange": demo_server.exchanges[0]}


@pytest.fixture(scope="module")
def own(demo_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A private workbench on a copy of the demo's store (same users and passwords), for the tests
    that change tags, users and sessions."""
    with serve_copy(demo_server.store, tmp_path_factory.mktemp("security") / "store") as served:
        yield served


def path_values(demo: dict[str, str]) -> dict[str, str]:
    user = demo.get("user", "analyst")
    return {"chain": demo["chain"], "address": demo["address"], "txid": demo["txid"], "id": demo["cluster"],
            "cluster": demo["cluster"], "name": user, "user": user, "graph_id": "1",
            "case": demo.get("case", "x"), "trace": demo.get("trace", "x"), "item": demo.get("item", "x"),
            "alert": demo.get("alert", "x")}


def query_values(demo: dict[str, str]) -> dict[str, str]:
    """Optional query parameters worth setting (they make pages show more data); required ones are
    filled from these too, or with a placeholder."""
    return {"q": demo["label"], "chain": demo["chain"], "start": f"a:{demo['address']}", "a": demo["address"],
            "b": demo["member"], "seed": demo["address"]}


def url_of(route: Any, demo: dict[str, str]) -> str:
    """The route's path with its parameters filled (unknown ones with a placeholder), plus its query."""
    values = path_values(demo)
    path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: quote(values.get(m.group(1), "x"), safe=""), route.path)
    wanted = query_values(demo)
    names = [p.alias for p in route.dependant.query_params]
    query = {n: wanted.get(n, "1" if "int" in str(p.field_info.annotation) else "x")
             for n, p in zip(names, route.dependant.query_params, strict=True)
             if p.field_info.is_required() or (n in wanted and (n not in {"a", "b"} or {"a", "b"} <= set(names)))}
    if "q" in query and {"actor", "address"} & set(names):
        query = {k: v for k, v in query.items() if k not in {"actor", "address"}}
    return path + ("?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items()) if query else "")


def page_routes(app: Any) -> list[Any]:
    """The GET page routes that need a login (every WebRoute but the public ones)."""
    return [r for r in flat_routes(app.routes)
            if isinstance(r, WebRoute) and "GET" in r.methods and ("GET", r.path) not in PUBLIC]


def twin_variants(route: Any, url: str) -> list[tuple[str, str, dict[str, str]]]:
    """(kind, url, headers) of a page: the page, `Accept: application/json`, and the `.json` suffix
    on the last path segment when that segment is a parameter."""
    variants = [("page", url, {}), ("accept", url, {"accept": "application/json"})]
    if route.path.endswith(".json"):
        variants = [("twin", url, {})]
    elif re.search(r"\{\w+\}$", route.path):
        path, sep, query = url.partition("?")
        variants.append(("suffix", path + ".json" + sep + query, {}))
    return variants


def strings_in(doc: Any) -> Iterator[str]:
    """Every string in a JSON document."""
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for value in doc.values():
            yield from strings_in(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from strings_in(value)


@pytest.fixture(scope="module")
def chrome_text() -> str:
    """Text every page may show whatever its data: the message catalogues (the page embeds its own)."""
    return json.dumps([i18n.catalogue(lang) for lang in i18n.LANGUAGES], ensure_ascii=False)


def data_strings(docs: list[Any], url: str, chrome_text: str, demo: dict[str, str],
                 demo_server: Any) -> set[str]:
    """What a refused answer must not contain: the store's data the allowed roles got for `url`
    (strings of 12+ characters), and the demo's ransom addresses, payments, label and services;
    minus what the URL itself carries and the catalogue texts every page has."""
    found = {s for doc in docs for s in strings_in(doc) if len(s) >= 12}
    found |= set(demo_server.ransom_addresses) | {o["txid"] for o in demo_server.case["seed_outputs"]}
    found |= {demo["label"], demo["member"], *demo_server.exchanges}
    asked = unquote(url)
    return {s for s in found if s not in asked and s not in chrome_text}


# ----------------------------------------------------------------------------------- role matrix

def test_every_page_refuses_the_logged_out_and_the_wrong_role(demo_server: Any, own: Served, demo: dict[str, str],
                                                              chrome_text: str) -> None:
    """Every GET page of the app (read from its routes), as a page and as both kinds of twin:
    logged out -> the login page (303) or 401 JSON; a role without the page's permission -> 403 with
    none of the page's data; the roles that may -> an answer. The roles let in are exactly those of
    one permission of the role table (the pinned pages: that permission)."""
    routes = page_routes(own.app)
    paths = {r.path for r in routes}
    assert {"/", "/search", "/search.json", "/{chain}/addresses/{address}"} <= paths, paths
    clients = {role: login_client(demo_server.url, role, demo_server.passwords[role]) for role in USERS}
    with httpx.Client(base_url=demo_server.url, timeout=60) as anonymous, \
            clients["analyst"] as analyst, clients["investigator"] as investigator, \
            clients["auditor"] as auditor, clients["admin"] as admin:
        sessions = {"analyst": analyst, "investigator": investigator, "auditor": auditor, "admin": admin}
        refused = 0
        for route in routes:
            url = url_of(route, demo)
            for kind, target, headers in twin_variants(route, url):
                twin = kind != "page"
                out = anonymous.get(target, headers=headers)
                if twin:
                    assert out.status_code == 401, (target, kind, out.status_code)
                    assert out.json()["error"]["code"] == "unauthenticated", target
                else:
                    assert out.status_code == 303 and out.headers["location"].startswith("/login?next="), \
                        (target, out.status_code)
                answers = {role: c.get(target, headers=headers) for role, c in sessions.items()}
                if route.path == "/":  # the start page sends the roles that may not read to their own
                    for role, goes in HOME.items():
                        got = answers[role]
                        assert (got.status_code, got.headers.get("location")) == ((200, None) if goes is None
                                                                                 else (303, goes)), (role, got)
                        assert goes is None or not got.content, (role, got.text[:200])
                    continue
                allowed = {role for role, got in answers.items() if got.status_code != 403}
                for role in allowed:
                    assert answers[role].status_code in (200, 303), (target, kind, role, answers[role].status_code,
                                                                     answers[role].text[:300])
                permission = PINNED.get(route.path, PINNED.get(route.path.removesuffix(".json")))
                if permission is not None:
                    assert allowed == roles_with(permission), (target, kind, sorted(allowed), permission)
                else:
                    assert any(allowed == roles_with(p) for p in PERMISSIONS), (target, kind, sorted(allowed))
                docs = [got.json() for role, got in answers.items()
                        if role in allowed and got.status_code == 200 and "json" in got.headers["content-type"]]
                secret = data_strings(docs, target, chrome_text, demo, demo_server)
                for role in set(USERS) - allowed:
                    got = answers[role]
                    if twin:
                        assert got.json()["error"]["code"] == "forbidden", (target, role)
                    else:
                        assert "text/html" in got.headers["content-type"], (target, role)
                    leaked = sorted(s for s in secret if s in got.text)
                    assert not leaked, f"{role} was refused {target} ({kind}) but the answer holds {leaked[:5]}"
                    refused += 1
        assert refused >= 3 * len(routes), refused  # auditor and admin at least, on every variant


def test_every_route_needs_a_login(demo_server: Any, own: Served, demo: dict[str, str]) -> None:
    """Every route of the app but the public ones (login, language, static files, the API's own
    description) answers a logged-out client with a login redirect or 401, whatever the method."""
    seen = 0
    with httpx.Client(base_url=demo_server.url, timeout=60) as anonymous:
        for route in flat_routes(own.app.routes):
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                if (method, route.path) in PUBLIC or method == "HEAD":
                    continue
                target = url_of(route, demo) if hasattr(route, "dependant") else route.path
                got = anonymous.request(method, target, json={} if method not in {"GET", "DELETE"} else None)
                seen += 1
                if got.status_code == 303:
                    assert got.headers["location"].startswith("/login"), (method, target)
                else:
                    assert got.status_code in (401, 403), (method, target, got.status_code, got.text[:200])
    assert seen > 20


# ------------------------------------------------------------------------------------------ CSRF

def test_a_forged_login_is_refused(demo_server: Any) -> None:
    """The login form without its CSRF token, with a wrong one, or with another browser's, is
    refused (403, the form again) even with the right password, and sets no session."""
    user, password = "analyst", demo_server.passwords["analyst"]
    with httpx.Client(base_url=demo_server.url, timeout=60) as other:
        foreign = csrf_of(other.get("/login").text)
    with httpx.Client(base_url=demo_server.url, timeout=60) as c:
        own_token = csrf_of(c.get("/login").text)
        assert own_token != foreign
        for token in (None, "0" * 64, foreign, own_token[:-1]):
            form = {"username": user, "password": password} | ({CSRF_FIELD: token} if token is not None else {})
            got = c.post("/login", data=form)
            assert got.status_code == 403 and 'id="login-form"' in got.text, (token, got.status_code)
            assert SESSION_COOKIE not in got.cookies and SESSION_COOKIE not in c.cookies
        assert c.get("/").status_code == 303  # still logged out
        good = c.post("/login", data={"username": user, "password": password, CSRF_FIELD: own_token})
        assert good.status_code == 303 and SESSION_COOKIE in good.cookies


def test_a_forged_logout_leaves_the_session_and_a_real_one_ends_it(own: Served, demo_server: Any) -> None:
    """A logout post without the session's CSRF token is refused (403) and the session still works;
    the real logout revokes it on the server: the old cookie, replayed, gets the login page, its
    twins and the API get 401."""
    with login_client(own.url, "analyst", demo_server.passwords["analyst"]) as c:
        cookie = session_of(c)
        real = c.headers[CSRF_HEADER]
        altered = real[:-1] + ("1" if real.endswith("0") else "0")  # one character off (never the real one)
        for token in (None, "", "0" * 64, altered):
            got = c.post("/logout", data={} if token is None else {CSRF_FIELD: token})
            assert got.status_code == 403, (token, got.status_code)
            assert c.get("/").status_code == 200, "a forged logout ended the session"
        out = c.post("/logout", data={CSRF_FIELD: c.headers[CSRF_HEADER]})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert c.get("/").status_code == 303
    with httpx.Client(base_url=own.url, timeout=60, cookies={SESSION_COOKIE: cookie}) as replay:
        page = replay.get("/")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert replay.get("/search.json?q=x").status_code == 401
        assert replay.get("/api/v1/status").status_code == 401


def test_a_forged_language_switch_is_refused(demo_server: Any) -> None:
    """`/lang` needs the session's CSRF token (or, logged out, the login form's): without it or
    with a wrong one, 403 and no language cookie; with it, the cookie is set."""
    with login_client(demo_server.url, "analyst", demo_server.passwords["analyst"]) as c:
        for token in (None, "0" * 64):
            got = c.post("/lang", data={"lang": "zh_CN", "next": "/"} | ({CSRF_FIELD: token} if token else {}))
            assert got.status_code == 403 and i18n.LANG_COOKIE not in got.cookies, token
        assert '<html lang="en">' in c.get("/").text
        good = c.post("/lang", data={"lang": "zh_CN", "next": "/", CSRF_FIELD: c.headers[CSRF_HEADER]})
        assert good.status_code == 303 and good.cookies.get(i18n.LANG_COOKIE) == "zh_CN"
    with httpx.Client(base_url=demo_server.url, timeout=60) as c:
        token = csrf_of(c.get("/login").text)
        assert c.post("/lang", data={"lang": "zh_CN", "next": "/login"}).status_code == 403
        assert c.post("/lang", data={"lang": "zh_CN", "next": "/login", CSRF_FIELD: token}).status_code == 303


def form_values(route: Any, probe: str, demo: dict[str, str]) -> dict[str, str]:
    """A plausible form for a POST page (its declared fields): real values where the name says what
    it is, `probe` as any free text (so a stored trace of it can be looked for)."""
    known = {"address": demo["member"], "chain": demo["chain"], "category": "scam", "currency": CURRENCY,
             "confidence": "forensic", "visibility": "shared", "case": "", "lang": "en", "next": "/",
             "name": "csrf-victim", "user": "csrf-victim", "username": "csrf-victim", "role": "analyst"}
    out = {}
    for param in route.dependant.body_params:
        if param.alias == CSRF_FIELD:
            continue
        out[param.alias] = known.get(param.alias, probe)
    return out


def state_of(own: Served, demo_server: Any, probe: str) -> Any:
    """What a forged post could have changed: users, tag counts, and anything holding `probe`."""
    with login_client(own.url, "admin", demo_server.passwords["admin"]) as admin, \
            login_client(own.url, "investigator", demo_server.passwords["investigator"]) as inv:
        users = admin.get("/api/v1/users").json()
        status = inv.get("/api/v1/status").json()
        found = inv.get("/api/v1/search", params={"q": probe})
        assert found.status_code == 200, found.text
        hits = found.json()["hits"]
    return users, status.get("tags"), hits


def test_every_post_page_refuses_a_forged_form(own: Served, demo_server: Any, demo: dict[str, str]) -> None:
    """Every POST page route but login/logout/lang (tested above), discovered from the app: as every
    role, the form without a CSRF token or with a wrong one is refused with 403 and changes nothing;
    with the session's token some role gets through (so the 403 was the token, not the form)."""
    routes = [r for r in flat_routes(own.app.routes) if isinstance(r, WebRoute) and "POST" in r.methods
              and ("POST", r.path) not in PUBLIC]
    assert "/tags" in {r.path for r in routes}  # the tag form, at least
    ws = Workspace.open(Settings.load(store=own.store), writable=True, actor=Actor(user="setup", via="python"))
    ws.users_add("csrf-victim", role="analyst", password=secrets.token_urlsafe(16))
    for route in routes:
        probe = f"csrf-probe-{secrets.token_hex(6)}"
        url, form = url_of(route, demo | {"user": "csrf-victim"}), form_values(route, probe, demo)
        before = state_of(own, demo_server, probe)
        passed = []
        for role in USERS:
            with login_client(own.url, role, demo_server.passwords[role]) as c:
                for token in (None, "0" * 64):
                    got = c.post(url, data=form | ({CSRF_FIELD: token} if token else {}))
                    assert got.status_code == 403, (route.path, role, token, got.status_code, got.text[:300])
                assert state_of(own, demo_server, probe) == before, f"a forged post to {route.path} changed the store"
                real = c.post(url, data=form | {CSRF_FIELD: c.headers[CSRF_HEADER]})
                if real.status_code != 403:
                    passed.append(role)
                    before = state_of(own, demo_server, probe)
        assert passed, f"no role got through {route.path} even with the CSRF token: is the test's form wrong?"


def test_the_api_needs_the_csrf_header_with_a_session(own: Served, demo_server: Any, demo: dict[str, str]) -> None:
    """With the session cookie, `POST /api/v1/tags` needs `X-CSRF-Token`: without it or with a
    wrong one 403 (field csrf_token) and no tag; with it the investigator's tag is stored, while
    the analyst's role is still refused. Every state-changing API route refuses a cookie without
    the header."""
    label = f"csrf-api-{secrets.token_hex(6)}"
    body = {"address": demo["member"], "label": label, "category": "scam", "currency": CURRENCY}
    with login_client(own.url, "investigator", demo_server.passwords["investigator"]) as c:
        token = c.headers.pop(CSRF_HEADER)
        for header in ({}, {CSRF_HEADER: "0" * 64}, {CSRF_HEADER: token[:-1] + "x"}):
            got = c.post("/api/v1/tags", json=body, headers=header)
            assert got.status_code == 403 and got.json()["error"]["field"] == "csrf_token", (header, got.text)
        assert c.get("/api/v1/tags", params={"q": label}).json()["tags"] == []
        made = c.post("/api/v1/tags", json=body, headers={CSRF_HEADER: token})
        assert made.status_code == 201 and made.json()["label"] == label
        assert len(c.get("/api/v1/tags", params={"q": label}).json()["tags"]) == 1
    with login_client(own.url, "analyst", demo_server.passwords["analyst"]) as c:
        got = c.post("/api/v1/tags", json=body | {"label": label + "-b"})
        assert got.status_code == 403 and got.json()["error"]["code"] == "forbidden"
    unsafe = [(m, r) for r in flat_routes(own.app.routes) if r.path.startswith("/api/")
              for m in sorted(getattr(r, "methods", None) or ()) if m in {"POST", "PUT", "PATCH", "DELETE"}]
    assert len(unsafe) >= 4
    for role in ("investigator", "admin"):
        with login_client(own.url, role, demo_server.passwords[role]) as c:
            del c.headers[CSRF_HEADER]
            for method, route in unsafe:
                got = c.request(method, url_of(route, demo), json={} if method != "DELETE" else None)
                assert got.status_code == 403, (role, method, route.path, got.status_code, got.text[:200])


# ----------------------------------------------------------------------------------------- XSS

@pytest.fixture(scope="module")
def hostile(own: Served, demo_server: Any, demo: dict[str, str]) -> dict[str, str]:
    """Two tags on the ransom address of the private store whose label, actor and source are markup,
    added through the API as the investigator (a label an analyst typed, or an imported list)."""
    with login_client(own.url, "investigator", demo_server.passwords["investigator"]) as c:
        for label, actor in (XSS, XSS[::-1]):
            got = c.post("/api/v1/tags", json={"address": demo["address"], "label": label, "actor": actor,
                                               "source": actor, "category": "scam", "currency": CURRENCY})
            assert got.status_code == 201, got.text
    return {"address": demo["address"]}


def escaped_everywhere(response: httpx.Response, where: str) -> None:
    """No live markup in an HTML answer; a JSON answer (a twin) holds data as it is, but is served as
    JSON, which a browser told `nosniff` never renders as a page."""
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        assert response.headers.get("x-content-type-options") == "nosniff", where
        return
    assert kind.startswith("text/html") or not response.content, (where, kind)
    assert not any(m in response.text for m in LIVE_MARKUP), f"live markup in {where}"


def test_markup_in_tags_search_and_next_is_shown_as_text(own: Served, demo_server: Any, demo: dict[str, str],
                                                         hostile: dict[str, str]) -> None:
    """A tag label, an actor name, a search string and a `next` parameter holding markup come back
    escaped on every page (each GET page of the app, the search and tag pages asked for the
    markup, the login page with it in `next`); the address page shows the label as text."""
    with login_client(own.url, "investigator", demo_server.passwords["investigator"]) as c:
        page = c.get(f"/{demo['chain']}/addresses/{demo['address']}")
        assert page.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # shown, as text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
        escaped_everywhere(page, "the address page")
        for route in page_routes(own.app):
            got = c.get(url_of(route, demo))
            escaped_everywhere(got, route.path)
        for payload in XSS:
            for target in ("/search", "/tags", "/graph", f"/{demo['chain']}/addresses/{quote(payload, safe='')}"):
                got = c.get(target, params={"q": payload, "actor": payload, "start": payload})
                assert got.status_code < 500, (target, got.status_code)
                escaped_everywhere(got, f"{target} with {payload}")
            for kind in ("search", "tags"):
                shown = c.get(f"/{kind}", params={"q": payload}).text
                assert "alert(1)" in shown, f"the {kind} page does not show what was searched"
    with httpx.Client(base_url=own.url, timeout=60) as anonymous:
        for payload in XSS:
            for nxt in (payload, "/" + payload, "/search?q=" + payload):
                got = anonymous.get("/login", params={"next": nxt})
                escaped_everywhere(got, f"the login page with next={nxt}")
            redirect = anonymous.get("/search", params={"q": payload})
            assert redirect.status_code == 303
            escaped_everywhere(anonymous.get(redirect.headers["location"]), "the login page after a redirect")


def test_markup_stays_text_in_the_browser(own: Served, demo_server: Any, demo: dict[str, str],
                                          hostile: dict[str, str], browser: Any) -> None:
    """In Chromium, the pages showing the hostile tags (address, search, tags, graph) run no script
    of it and build no element of it: the text is there, no <img src=x>, no alert, no CSP report."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    login(browser, SimpleNamespace(url=own.url, users=demo_server.users, passwords=demo_server.passwords),
          "investigator")
    pages = [f"/{demo['chain']}/addresses/{demo['address']}", "/search?q=" + quote(XSS[0]),
             "/tags?q=" + quote("alert(1)"), f"/graph?chain={demo['chain']}&start=a:{demo['address']}"]
    for target in pages:
        browser.get(own.url + target)
        wait_for(browser, "main")
        assert browser.find_elements(By.CSS_SELECTOR, "img[src='x'], script:not([src]):not([type])") == [], target
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018
        if not target.startswith("/graph"):
            assert "alert(1)" in browser.find_element(By.TAG_NAME, "main").text, target
    assert not [e for e in js_errors(browser) if "Content Security Policy" in str(e.get("message"))]


def test_a_note_with_markup_stays_text_on_the_canvas(own: Served, demo_server: Any, demo: dict[str, str],
                                                    browser: Any) -> None:
    """A saved canvas whose note on the ransom address is markup (saved through the API, as the canvas
    saves): loaded in Chromium and the node selected, the note is in the side panel as text, and no
    element, alert or CSP report comes of it."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    node = f"a:{demo['address']}"
    with login_client(own.url, "investigator", demo_server.passwords["investigator"]) as c:
        page = c.get(f"/api/v1/{demo['chain']}/graph/addresses/{demo['address']}", params={"limit": 5}).json()
        document = {"format": "fundtrail-graph", "version": 1, "chain": demo["chain"], "family": "utxo", "start": node,
                    "nodes": page["nodes"], "edges": page["edges"], "positions": {}, "hidden": [], "pinned": [],
                    "annotations": {node: {"note": XSS[1] + XSS[0], "colour": "red"}},
                    "toggles": {"fold": False, "entity": False}, "timeline": {"from": None, "to": None},
                    "paging": {}, "placed": {}, "trace": None}
        saved = c.post("/api/v1/graphs", json={"name": XSS[0], "chain": demo["chain"], "document": document})
        assert saved.status_code == 201, saved.text
        html_page = c.get("/graph", params={"saved": saved.json()["id"]})
        assert html_page.status_code == 200
        escaped_everywhere(html_page, "the graph page of a saved canvas")
    login(browser, SimpleNamespace(url=own.url, users=demo_server.users, passwords=demo_server.passwords),
          "investigator")
    browser.get(f"{own.url}/graph?saved={saved.json()['id']}")
    wait_for(browser, "main")
    browser.execute_script("window.ft.graph.select(arguments[0]);", node)
    values = browser.execute_script("return Array.from(document.querySelectorAll('textarea, input'))"
                                    ".map(e => e.value).concat([document.body.innerText]);")
    assert any("onerror=alert(1)" in v for v in values), "the note is not shown"
    assert browser.find_elements(By.CSS_SELECTOR, "img[src='x'], script:not([src]):not([type])") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    assert not [e for e in js_errors(browser) if "Content Security Policy" in str(e.get("message"))]


def test_next_never_leaves_the_site(demo_server: Any) -> None:
    """`next` naming another site (`//host`, a scheme, a backslash) sends the user to `/` after a
    login, from the login page of a logged-in user, and after a language switch; a line break
    cannot add a header."""
    with httpx.Client(base_url=demo_server.url, timeout=60) as c:
        for evil in EVIL:
            page = c.get("/login", params={"next": evil})
            assert f'value="{evil}"' not in page.text, evil
            got = c.post("/login", data={"username": "analyst", "password": demo_server.passwords["analyst"],
                                         CSRF_FIELD: csrf_of(page.text), "next": evil})
            assert got.status_code == 303 and got.headers["location"] == "/", (evil, got.headers.get("location"))
            assert c.get("/login", params={"next": evil}).headers["location"] == "/", evil
            token = csrf_of(c.get("/").text)
            switched = c.post("/lang", data={"lang": "en", "next": evil, CSRF_FIELD: token})
            assert switched.headers["location"] == "/", evil
            assert c.post("/logout", data={CSRF_FIELD: token}).status_code == 303
        page = c.get("/login")
        crlf = c.post("/login", data={"username": "analyst", "password": demo_server.passwords["analyst"],
                                      CSRF_FIELD: csrf_of(page.text), "next": "/x\r\nSet-Cookie: evil=1"})
        assert "evil" not in crlf.cookies and "\n" not in crlf.headers["location"]
        assert urlsplit(urljoin(demo_server.url, crlf.headers["location"])).netloc == urlsplit(demo_server.url).netloc


# ------------------------------------------------------------------------- headers, local assets

def csp_of(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers.get("content-security-policy", "")
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


def test_security_headers_on_pages_files_and_errors(demo_server: Any, demo: dict[str, str]) -> None:
    """Pages, twins, our static files, the npm libraries, redirects and error answers all carry a
    CSP whose scripts come only from this origin (no 'unsafe-inline', no eval) and that forbids
    framing, and `nosniff`."""
    with httpx.Client(base_url=demo_server.url, timeout=60) as anonymous:
        answers = [anonymous.get("/login"), anonymous.get("/"), anonymous.get("/search.json?q=x"),
                   anonymous.get("/static/app.css"), anonymous.get("/static/app.js"),
                   anonymous.get("/static/no-such-file.js"), anonymous.get("/vendor/cytoscape.min.js"),
                   anonymous.get("/vendor/not-a-library.js")]
    with login_client(demo_server.url, "analyst", demo_server.passwords["analyst"]) as c:
        answers += [c.get(f"/{demo['chain']}/addresses/{demo['address']}"),
                    c.get(f"/{demo['chain']}/addresses/{demo['address']}.json"),
                    c.get(f"/{demo['chain']}/addresses/bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"),
                    c.get(f"/{demo['chain']}/addresses/not-an-address"), c.get("/trace"), c.get("/no/such/page/x")]
    statuses = sorted({a.status_code for a in answers})
    assert {200, 303, 401, 403, 404, 422} <= set(statuses), statuses
    assert answers[6].status_code == 200 and b"cytoscape" in answers[6].content[:2000].lower()
    for answer in answers:
        where = f"{answer.request.url.path} ({answer.status_code})"
        csp = csp_of(answer)
        scripts = csp.get("script-src", csp.get("default-src"))
        assert scripts == ["'self'"], (where, scripts)
        assert csp.get("default-src") == ["'self'"] and csp.get("object-src") == ["'none'"], where
        assert csp.get("frame-ancestors") == ["'none'"], where
        assert all("http" not in v and v != "*" for values in csp.values() for v in values), (where, csp)
        assert answer.headers.get("x-content-type-options") == "nosniff", where


class UrlCollector(html.parser.HTMLParser):
    """Every URL an HTML page makes the browser load or go to (attributes and inline CSS)."""

    ATTRS: ClassVar[set[str]] = {"src", "href", "action", "formaction", "srcset", "poster", "data", "xlink:href",
                                 "background", "manifest", "ping", "cite", "longdesc"}

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            if name in self.ATTRS:
                self.urls += [v.strip().split(" ")[0] for v in value.split(",")] if name == "srcset" else [value]
            elif name == "style":
                self.styles.append(value)
            elif name == "content" and "url=" in value.lower():  # <meta http-equiv=refresh>
                self.urls.append(value.lower().split("url=", 1)[1])

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


REMOTE = re.compile(r"""(?:https?:)?//[A-Za-z0-9.\-\[\]:]+""")
NAMESPACES = ("http://www.w3.org",)  # XML namespaces (svg, xlink): names, never loaded


def remote_in_text(text: str, origin: str) -> list[str]:
    """Absolute or protocol-relative URLs in CSS or script text that are not of `origin`."""
    found = []
    for match in REMOTE.finditer(text):
        url = match.group(0)
        before = text[max(0, match.start() - 1):match.start()]
        if url.startswith("//") and before not in ("'", '"', "(", "="):  # a // comment, not a URL
            continue
        if not url.startswith(origin) and not url.startswith(NAMESPACES):
            found.append(url)
    return found


def test_the_checkers_find_what_they_look_for() -> None:
    """The page scanners of this module catch what they are for (so a pass means something)."""
    collector = UrlCollector()
    collector.feed('<link href="/static/a.css"><script src="https://cdn.example/x.js"></script>'
                   '<img srcset="/a.png 1x, //evil.example/b.png 2x"><div style="background:url(//e.example/i)">'
                   '<meta http-equiv="refresh" content="0; url=http://e.example/">'
                   '<style>@import "//f.example/s";</style>')
    assert collector.urls == ["/static/a.css", "https://cdn.example/x.js", "/a.png", "//evil.example/b.png",
                              "http://e.example/"]
    assert [remote_in_text(s, "http://127.0.0.1:1") for s in collector.styles] == [["//e.example"], ["//f.example"]]
    js = 'var ns = "http://www.w3.org/2000/svg"; // see http://docs.example\nfetch("https://api.example/x")'
    assert remote_in_text(js, "http://127.0.0.1:1") == ["http://docs.example", "https://api.example"]
    assert remote_in_text("a = b; // a comment", "http://x") == []
    page = httpx.Response(200, headers={"content-type": "text/html"}, text="<p>&lt;script&gt;</p><img src=x>")
    with pytest.raises(AssertionError, match="live markup"):
        escaped_everywhere(page, "probe")
    made = httpx.Response(303, headers=[("set-cookie", "a=1; HttpOnly; Path=/; SameSite=Strict; Secure")])
    assert cookie_attrs(made, "a") == {"value": "1", "httponly": "", "path": "/", "samesite": "Strict", "secure": ""}


def test_no_page_or_file_refers_outside(demo_server: Any, demo: dict[str, str], own: Served) -> None:
    """Every page of every role, the login and error pages, and the scripts and styles they load from
    us: no URL outside this origin (no CDN, no font or script from outside)."""
    origin = demo_server.url
    pages: dict[str, str] = {}
    with httpx.Client(base_url=origin, timeout=60) as anonymous:
        pages["/login"] = anonymous.get("/login").text
    for role in USERS:
        with login_client(origin, role, demo_server.passwords[role]) as c:
            for route in page_routes(own.app):
                got = c.get(url_of(route, demo))
                if "text/html" in got.headers.get("content-type", ""):
                    pages[f"{role} {route.path}"] = got.text
            pages[f"{role} 404"] = c.get("/no/such/page/x").text
    files: set[str] = set()
    for where, text in pages.items():
        collector = UrlCollector()
        collector.feed(text)
        for url in collector.urls:
            absolute = urljoin(origin + "/", url)
            assert urlsplit(absolute).scheme in {"http", "https"} or url.startswith("#"), (where, url)
            assert absolute.startswith(origin + "/"), f"{where} refers to {url}"
            if urlsplit(absolute).path.endswith((".js", ".css")):
                files.add(urlsplit(absolute).path)
        for style in collector.styles:
            assert not remote_in_text(style, origin), (where, style)
    assert {"/static/app.css", "/static/app.js"} <= files
    with httpx.Client(base_url=origin, timeout=60) as anonymous:
        for path in sorted(f for f in files if f.startswith("/static/")):
            text = anonymous.get(path).text
            assert not remote_in_text(text, origin), (path, remote_in_text(text, origin))
            assert "@import" not in text or not re.search(r"@import\s+(url\()?['\"]?(https?:)?//", text), path


def test_the_browser_loads_only_local_files_on_every_page(demo_server: Any, demo: dict[str, str], own: Served,
                                                          browser: Any) -> None:
    """Chromium (every other host unreachable) opens every GET page as the investigator: everything
    each page loaded came from the server, and no console error (a blocked load, a CSP refusal)."""
    login(browser, demo_server, "investigator")
    for route in page_routes(own.app):
        if route.path.endswith(".json"):
            continue
        target = demo_server.url + url_of(route, demo)
        browser.get(target)
        wait_for(browser, "body")
        loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        outside = [u for u in loaded if not u.startswith(demo_server.url + "/")]
        assert not outside, (route.path, outside)
        errors = [e for e in js_errors(browser) if "Content Security Policy" in str(e.get("message"))
                  or "ERR_PROXY" in str(e.get("message")) or "ERR_NAME" in str(e.get("message"))]
        assert not errors, (route.path, errors)
    allow_console_errors(browser, r"the server responded with a status of 40[34]")


# ----------------------------------------------------------------------------- sessions ending

def cli(*args: str, stdin: str | None = None, store: Path) -> int:
    """`fundtrail --store STORE ARGS...` in process (standard input `stdin` when given)."""
    import io

    saved = sys.stdin
    try:
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        return main(["-q", "--store", str(store), *args])
    finally:
        sys.stdin = saved


def test_disabling_a_user_ends_their_session_at_once(own: Served, demo: dict[str, str]) -> None:
    """`fundtrail users disable NAME` while the server runs: the user's next request, page, twin or
    API call, finds no session."""
    password = secrets.token_urlsafe(16)
    assert cli("users", "add", "soon-gone", "--role", "analyst", "--password-stdin", stdin=password + "\n",
               store=own.store) == 0
    with login_client(own.url, "soon-gone", password) as c:
        assert c.get("/").status_code == 200
        assert c.get("/search.json", params={"q": demo["address"]}).status_code == 200
        assert cli("users", "disable", "soon-gone", store=own.store) == 0
        page = c.get("/")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert c.get("/search.json", params={"q": demo["address"]}).status_code == 401
        assert c.get(f"/api/v1/{demo['chain']}/addresses/{demo['address']}").status_code == 401
    with httpx.Client(base_url=own.url, timeout=60) as c:
        assert form_login(c, "soon-gone", password).status_code == 401


def test_a_new_password_ends_the_users_sessions(own: Served) -> None:
    """`fundtrail users passwd NAME --password-stdin`: every open session of the user ends; the old
    password no longer logs in, the new one does."""
    old, new = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    assert cli("users", "add", "rotates", "--role", "investigator", "--password-stdin", stdin=old + "\n",
               store=own.store) == 0
    with login_client(own.url, "rotates", old) as one, login_client(own.url, "rotates", old) as two:
        assert one.get("/").status_code == 200 and two.get("/").status_code == 200
        assert cli("users", "passwd", "rotates", "--password-stdin", stdin=new + "\n", store=own.store) == 0
        for c in (one, two):
            got = c.get("/")
            assert got.status_code == 303 and got.headers["location"].startswith("/login")
    with httpx.Client(base_url=own.url, timeout=60) as c:
        assert form_login(c, "rotates", old).status_code == 401
    with login_client(own.url, "rotates", new) as c:
        assert c.get("/").status_code == 200

