"""Audit completeness (every request, in order, with user/action/status) and refusal when the log
cannot be written; the local docs page (no off-host URL) and the security headers."""

from __future__ import annotations

import re
import shutil
from urllib.parse import urljoin, urlparse

from fundtrail.settings import Settings
from fundtrail.workspace import Workspace

CHAIN = "btc-regtest"


def _records(store, n: int) -> list[dict]:
    ws = Workspace.open(Settings.load(store=store))
    return [r.model_dump() for r in ws.audit_show(limit=n).records]


def test_every_request_is_audited_in_order(api) -> None:
    a = api.addresses[2]
    calls = [
        ("analyst", "GET", "/api/v1/status", {}, 200, "ok", "GET /api/v1/status", []),
        (None, "GET", "/api/v1/status", {}, 401, "unauthenticated", "GET /api/v1/status", []),
        ("auditor", "GET", f"/api/v1/{CHAIN}/addresses/{a}", {}, 403, "forbidden",
         "GET /api/v1/{chain}/addresses/{address}", [a]),
        ("analyst", "GET", f"/api/v1/{CHAIN}/addresses/{a}", {}, 200, "ok",
         "GET /api/v1/{chain}/addresses/{address}", [a]),
        ("analyst", "GET", "/api/v1/no/such/route", {}, 404, "not_found", "GET (no route)", []),
        ("analyst", "GET", f"/api/v1/{CHAIN}/addresses/{a}/txs", {"params": {"limit": "x"}}, 422, "bad_request",
         "GET /api/v1/{chain}/addresses/{address}/txs", [a]),
        ("analyst", "POST", "/api/v1/screen", {"json": {"inputs": [a, "junk"]}}, 200, "ok", "POST /api/v1/screen",
         [a, "junk"]),
        ("investigator", "POST", f"/api/v1/{CHAIN}/trace", {"json": {"seeds": [a], "hops": 1, "bogus": 1}}, 422,
         "bad_request", "POST /api/v1/{chain}/trace", [a]),
    ]
    for role, method, path, kwargs, status, *_ in calls:
        with api.client(role) as c:
            assert c.request(method, path, **kwargs).status_code == status
    got = _records(api.store, len(calls))
    assert len(got) == len(calls)
    for rec, (role, _method, _path, _kwargs, status, outcome, action, subjects) in zip(got, calls):
        assert rec["user"] == (f"{role}1" if role else "-"), rec
        assert rec["via"] == "api" and rec["action"] == action and rec["status"] == status, rec
        assert rec["outcome"] == outcome and rec["subjects"] == subjects, rec
        assert rec["result_unit"] == "bytes" and rec["result_size"] > 0
        assert "Bearer" not in str(rec) and "ft_" not in str(rec["params"])
    assert got[5]["params"]["limit"] == "x" and got[5]["params"]["chain"] == CHAIN
    assert got[-1]["params"]["hops"] == 1
    assert [r["seq"] for r in got] == list(range(got[0]["seq"], got[0]["seq"] + len(calls)))


def test_unwritable_audit_log_refuses_the_request(tight, err) -> None:
    audit_dir = tight.store / "audit"
    with tight.client("admin") as c:
        assert c.get("/api/v1/users").status_code == 200
        before = _records(tight.store, 1)[0]["seq"]
        shutil.move(audit_dir, tight.store / "audit.moved")
        audit_dir.write_text("not a directory")
        try:
            r = c.get("/api/v1/users")
            assert r.status_code == 503 and err(r)["code"] == "audit_unavailable"
            assert "analyst1" not in r.text  # the data did not leave
        finally:
            audit_dir.unlink()
            shutil.move(tight.store / "audit.moved", audit_dir)
        assert c.get("/api/v1/users").status_code == 200
    after = _records(tight.store, 2)
    assert [r["seq"] for r in after] == [before, before + 1]  # the refused request left no record
    assert Workspace.open(Settings.load(store=tight.store)).audit_verify().ok


def test_docs_page_and_assets_are_local(api) -> None:
    with api.client(None) as c:
        assert c.get("/docs").status_code == 404 and c.get("/redoc").status_code == 404
        spec = c.get("/api/openapi.json").json()
        for path in ("/api/v1/status", "/api/v1/{chain}/addresses/{address}", "/api/v1/screen", "/api/v1/audit",
                     "/api/v1/{chain}/trace", "/api/v1/{chain}/paths", "/api/v1/tags"):
            assert path in spec["paths"], path
        assert "StatusResult" in spec["components"]["schemas"]
        # the bundled Swagger UI (4.x) renders OpenAPI 3.0 documents only; a 3.1 one showed no route
        assert spec["openapi"].startswith("3.0."), spec["openapi"]
        page = c.get("/api/docs")
        assert page.status_code == 200
        html = page.text
        assert "<script>" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
        urls = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert len(urls) >= 3
        seen = set()
        for url in urls:
            full = urljoin(api.url + "/api/docs", url)
            assert urlparse(full).netloc == urlparse(api.url).netloc, url
            r = c.get(full)
            assert r.status_code == 200, url
            seen.add(url)
            if url.endswith(".css"):  # images and fonts a stylesheet pulls in are local too
                for ref in re.findall(r"url\(([^)]+)\)", r.text):
                    ref = ref.strip("'\"")
                    assert ref.startswith("data:") or not urlparse(ref).netloc, ref
        init = c.get("/api/docs/assets/docs-init.js").text
        assert "/api/openapi.json" in init and "http" not in init
        for r in (page, c.get("/api/v1/status"), c.get("/api/nowhere")):
            csp = r.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in \
                csp.split("script-src")[1].split(";")[0]
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
        assert c.get("/api/docs/assets/..%2F..%2Fapp.py").status_code == 404
