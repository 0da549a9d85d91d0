"""The case pages (`/cases`, `/cases/{case}`, issue 16) through a real server on a private copy of
the demo's store, with httpx.

- Who sees what: logged out -> the login page (twins 401); analysts, auditors and admins -> 403;
  the investigator who opened the case -> the page; another investigator who is no member -> the
  404 page, the very page of an id no case has; a viewer member -> the page without any form, and
  their posts refused (403) with nothing stored.
- Every form of the page refuses a post without the session's CSRF token, or with a wrong one
  (403), and changes nothing.
- The case flow through the forms: seeds (linked to their pages), notes, findings marked FACT or
  INFERENCE (事实 / 推断) with their basis, confidence and source, a saved trace with the store state
  it ran on (tip height and hash as the status API gives them), opened on the trace page and rerun;
  refused values come back beside their field with the API's status; closing the case ends the
  forms and refuses additions.
- Markup typed into a title, a note or a finding is shown as text; both languages render with
  strict catalogues.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import secrets
import zipfile
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from fundtrail.settings import Settings
from fundtrail.web import i18n
from fundtrail.workspace import Actor, Workspace
from web.browser import CSRF_FIELD, login, screenshot, wait_for, wait_replaced
from web.support_security import CSRF_HEADER, Served, audit_records, login_client, serve_copy

XSS = ('<script>alert(1)</script>', '"onmouseover=alert(1) x="')
LIVE = ("<script>alert(1)", '"onmouseover=alert(1)')
VIEWER = "case-viewer"
FORM_POSTS = ("seeds", "notes", "findings", "traces", "attachments", "close", "bundles")


@pytest.fixture(scope="module")
def own(demo_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A private workbench on a copy of the demo's store, with one more investigator (a viewer)."""
    with serve_copy(demo_server.store, tmp_path_factory.mktemp("cases-web") / "store") as served:
        ws = Workspace.open(Settings.load(store=served.store), writable=True, actor=Actor(user="setup", via="python"))
        demo_server.passwords[VIEWER] = f"viewer-{secrets.token_urlsafe(12)}"
        ws.users_add(VIEWER, role="investigator", password=demo_server.passwords[VIEWER])
        yield served


@pytest.fixture(scope="module")
def clients(own: Served, demo_server: Any) -> Iterator[dict[str, httpx.Client]]:
    """Logged-in clients: every role, `demo` (an investigator outside the case) and the viewer."""
    users = {"analyst": "analyst", "investigator": "investigator", "auditor": "auditor", "admin": "admin",
             "outsider": "demo", "viewer": VIEWER}
    opened = {key: login_client(own.url, user, demo_server.passwords[user]) for key, user in users.items()}
    made = {key: ctx.__enter__() for key, ctx in opened.items()}
    yield made
    for ctx in opened.values():
        ctx.__exit__(None, None, None)


def post(c: httpx.Client, url: str, data: dict[str, str], token: str | None = "session", **kw: Any) -> httpx.Response:
    """A form post as the browser sends it (the session's CSRF token unless told otherwise)."""
    form = dict(data)
    if token == "session":
        form[CSRF_FIELD] = c.headers[CSRF_HEADER]
    elif token is not None:
        form[CSRF_FIELD] = token
    return c.post(url, data=form, **kw)


def detail(c: httpx.Client, case: str) -> dict[str, Any]:
    got = c.get(f"/cases/{case}.json")
    assert got.status_code == 200, got.text[:300]
    return dict(got.json()["case"])


@pytest.fixture(scope="module")
def case(clients: dict[str, httpx.Client], own: Served) -> str:
    """A case the investigator opened through the form, with the viewer added as a viewer."""
    c = clients["investigator"]
    got = post(c, "/cases", {"title": "Ransomware wave " + XSS[0], "agency": "Cyber unit", "number": "2026-0042"})
    assert got.status_code == 303, got.text[:500]
    case_id = got.headers["location"].split("/cases/")[1].split("?")[0]
    assert re.fullmatch(r"C-[0-9a-f]{8}", case_id)
    ws = Workspace.open(Settings.load(store=own.store), writable=True,
                        actor=Actor(user="investigator", role="investigator", via="python"))
    ws.case_set_member(case_id, VIEWER, role="viewer")
    return case_id


def text_of(page: str) -> str:
    """The visible text of an HTML page (tags dropped, entities decoded, spaces collapsed)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def case_forms(page: str) -> list[str]:
    """The actions of the forms on a page that post to a case (not the header's language and logout)."""
    return re.findall(r'<form[^>]*action="(/cases[^"]*)"[^>]*method="post"', page)


def findings_of(page: str) -> list[tuple[str, str]]:
    """(mark, text) of each finding on a case page, in order."""
    found = []
    for block in re.findall(r'<article class="finding[^"]*".*?</article>', page, re.S):
        mark = re.search(r'<span class="mark [a-z]+"[^>]*>([^<]*)</span>', block)
        text = re.search(r'<p class="text">([^<]*)</p>', block)
        assert mark and text, block[:300]
        found.append((mark.group(1), html.unescape(text.group(1))))
    return found


# ----------------------------------------------------------------------------- who sees what

def test_who_sees_the_case_pages(own: Served, clients: dict[str, httpx.Client], case: str) -> None:
    with httpx.Client(base_url=own.url, timeout=60) as anonymous:
        for path in ("/cases", f"/cases/{case}"):
            got = anonymous.get(path)
            assert got.status_code == 303 and got.headers["location"].startswith("/login?next="), path
        for path in ("/cases.json", f"/cases/{case}.json"):
            assert anonymous.get(path).status_code == 401
    for role in ("analyst", "auditor", "admin"):
        for path in ("/cases", f"/cases/{case}", "/cases.json", f"/cases/{case}.json"):
            got = clients[role].get(path)
            assert got.status_code == 403, (role, path, got.status_code)
            assert "Ransomware wave" not in got.text and "Cyber unit" not in got.text
    mine = clients["investigator"].get("/cases")
    assert mine.status_code == 200 and f'href="/cases/{case}"' in mine.text and "Cyber unit" in mine.text
    assert 'href="/cases"' in mine.text  # the navigation bar has the page
    assert 'href="/cases"' not in clients["analyst"].get("/").text
    page = clients["investigator"].get(f"/cases/{case}")
    assert page.status_code == 200 and "2026-0042" in page.text
    assert set(case_forms(page.text)) >= {f"/cases/{case}/{p}" for p in ("seeds", "notes", "findings", "traces",
                                                                          "close")}


def test_a_non_member_gets_the_page_of_no_case(clients: dict[str, httpx.Client], case: str) -> None:
    """The outsider's answer for the real case is the answer for an id no case has, byte for byte
    once the id is blanked; their list does not name it; their posts are 404 too, nothing stored."""
    outsider, unknown = clients["outsider"], "C-00000000"
    real, none = outsider.get(f"/cases/{case}"), outsider.get(f"/cases/{unknown}")
    assert real.status_code == none.status_code == 404
    assert real.text.replace(case, "ID") == none.text.replace(unknown, "ID")
    twin = outsider.get(f"/cases/{case}.json")
    assert twin.status_code == 404 and twin.json()["error"]["field"] == "case"
    assert twin.text.replace(case, "ID") == outsider.get(f"/cases/{unknown}.json").text.replace(unknown, "ID")
    listed = [c["id"] for c in outsider.get("/cases.json").json()["cases"]["cases"]]  # `demo`'s own demo case
    assert case not in outsider.get("/cases").text and case not in listed
    got = post(outsider, f"/cases/{case}/notes", {"text": "outsider was here"})
    assert got.status_code == 404
    assert not any("outsider" in n["text"] for n in detail(clients["investigator"], case)["notes"])


def test_a_viewer_reads_without_forms_and_cannot_write(clients: dict[str, httpx.Client], case: str) -> None:
    viewer = clients["viewer"]
    page = viewer.get(f"/cases/{case}")
    assert page.status_code == 200 and "Cyber unit" in page.text
    assert case_forms(page.text) == [], case_forms(page.text)
    assert "You are a viewer of this case" in text_of(page.text)
    before = detail(clients["investigator"], case)
    for path, form in (("notes", {"text": "viewer note"}), ("findings", {"kind": "fact", "text": "x", "basis": "y"}),
                       ("close", {"confirm": "1"})):
        got = post(viewer, f"/cases/{case}/{path}", form)
        assert got.status_code == 403, (path, got.status_code)
    assert detail(clients["investigator"], case) == before


# ----------------------------------------------------------------------------------------- CSRF

def test_every_case_form_needs_the_csrf_token(clients: dict[str, httpx.Client], case: str) -> None:
    c = clients["investigator"]
    before = detail(c, case)
    lists = c.get("/cases.json").json()
    forms = {"/cases": {"title": "forged"}, **{f"/cases/{case}/{p}": {"text": "forged", "seed": "forged",
                                                                      "kind": "fact", "basis": "forged"}
                                               for p in FORM_POSTS}}
    for url, form in forms.items():
        for token in (None, "0" * 64, c.headers[CSRF_HEADER][:-1]):
            got = post(c, url, form, token=token)
            assert got.status_code == 403, (url, token, got.status_code)
    assert detail(c, case) == before and c.get("/cases.json").json() == lists


# ------------------------------------------------------------------------------------ the flow

def test_seeds_notes_findings_and_their_errors(clients: dict[str, httpx.Client], case: str,
                                               demo_server: Any) -> None:
    c = clients["investigator"]
    seed = demo_server.case["seed_outputs"][0]
    outpoint = f"{seed['txid']}:{seed['vout']}"
    got = post(c, f"/cases/{case}/seeds", {"seed": outpoint, "note": "victim 1 paid the ransom"})
    assert got.status_code == 303 and got.headers["location"].endswith("?done=seed#seeds")
    missing = post(c, f"/cases/{case}/seeds", {"seed": "f" * 64, "note": "kept as typed"})
    assert missing.status_code == 404 and 'id="err-seed"' in missing.text and "kept as typed" in missing.text
    assert post(c, f"/cases/{case}/notes", {"text": "Called the exchange.\nNo answer yet."}).status_code == 303
    fact = {"kind": "fact", "text": "The ransom left in one transaction", "basis": f"tx {seed['txid']}",
            "refs": f"tx:{seed['txid']}"}
    assert post(c, f"/cases/{case}/findings", fact).status_code == 303
    guess = {"kind": "inference", "text": "The cash-out wallet is one operator's", "basis": "common-input ownership",
             "source": "clustering run 1"}
    refused = post(c, f"/cases/{case}/findings", guess)  # an inference needs its confidence
    assert refused.status_code == 422 and 'id="err-confidence"' in refused.text
    assert "common-input ownership" in refused.text  # what was typed comes back
    bad = post(c, f"/cases/{case}/findings", guess | {"confidence": "1.5"})
    assert bad.status_code == 422 and 'id="err-confidence"' in bad.text
    assert post(c, f"/cases/{case}/findings", guess | {"confidence": "0.8"}).status_code == 303

    doc = detail(c, case)
    assert doc == c.get(f"/api/v1/cases/{case}").json()  # the twin is the API's document
    assert [s["text"] for s in doc["seeds"]] == [outpoint]
    assert [(f["kind"], f["confidence"]) for f in doc["findings"]] == [("fact", None), ("inference", 0.8)]
    page = c.get(f"/cases/{case}").text
    assert f'href="/{demo_server.chain}/txs/{seed["txid"]}"' in page  # the seed and the ref link to the tx
    marks = findings_of(page)
    assert marks[0] == ("FACT", "The ransom left in one transaction") and marks[1][0] == "INFERENCE", marks
    shown = text_of(page)
    assert "80 %" in shown and "clustering run 1" in shown and "common-input ownership" in shown
    assert "Called the exchange.\nNo answer yet." in html.unescape(page)  # line breaks kept
    c.cookies.set(i18n.LANG_COOKIE, "zh_CN")
    try:
        zh = c.get(f"/cases/{case}")
    finally:
        c.cookies.delete(i18n.LANG_COOKIE)
    assert zh.status_code == 200 and '<html lang="zh-CN">' in zh.text
    assert [m for m, _ in findings_of(zh.text)] == ["事实", "推断"]


def test_a_saved_trace_keeps_its_state_and_opens_and_reruns(clients: dict[str, httpx.Client], case: str,
                                                            demo_server: Any) -> None:
    c = clients["investigator"]
    seed = demo_server.case["seed_outputs"][0]
    outpoint = f"{seed['txid']}:{seed['vout']}"
    got = post(c, f"/cases/{case}/traces", {"seed": outpoint, "policy": "fifo", "direction": "forward"})
    assert got.status_code == 303, got.text[:500]
    bad = post(c, f"/cases/{case}/traces", {"seed": outpoint, "policy": "fifo", "hops": "many"})
    assert bad.status_code == 422 and 'id="err-hops"' in bad.text
    saved = detail(c, case)["traces"][-1]
    status = c.get("/api/v1/status").json()
    tip = next(ch for ch in status["chains"] if ch["chain"] == demo_server.chain)["max_height"]
    assert saved["policy"] == "fifo" and saved["state"]["tip_height"] == tip
    page = text_of(c.get(f"/cases/{case}").text)
    assert saved["id"] in page and f"{tip:,}" in page and saved["state"]["tip_hash"][:16] in page
    opened = c.get(f"/cases/{case}/traces/{saved['id']}/open")
    assert opened.status_code == 303 and opened.headers["location"].startswith("/trace?")
    query = dict(parse_qsl(urlsplit(opened.headers["location"]).query))
    assert query["seed"] == outpoint and query["policy"] == "fifo" and query["chain"] == demo_server.chain
    rerun = c.get(f"/cases/{case}/traces/{saved['id']}/rerun")
    assert rerun.status_code == 200 and "Nothing changed" in text_of(rerun.text)
    twin = c.get(f"/cases/{case}/traces/{saved['id']}/rerun", headers={"accept": "application/json"}).json()
    assert twin["rerun"]["changed"] is False and twin["rerun"]["trace_id"] == saved["id"]
    other = c.get(f"/cases/{case}/traces/T-00000000/open")
    assert other.status_code == 404


def test_markup_is_shown_as_text(clients: dict[str, httpx.Client], case: str) -> None:
    c = clients["investigator"]
    for text in XSS:
        assert post(c, f"/cases/{case}/notes", {"text": text}).status_code == 303
        assert post(c, f"/cases/{case}/findings", {"kind": "fact", "text": text, "basis": text}).status_code == 303
    refused = post(c, "/cases", {"title": "", "agency": XSS[1], "number": XSS[0]})
    assert refused.status_code == 422
    for page in (c.get(f"/cases/{case}").text, c.get("/cases").text, refused.text):
        assert not any(live in page for live in LIVE), "live markup"
    page = c.get(f"/cases/{case}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&#34;onmouseover=alert(1) x=&#34;" in page


def test_attachments(clients: dict[str, httpx.Client], case: str, own: Served) -> None:
    ws = Workspace.open(Settings.load(store=own.store))
    if not hasattr(ws, "case_attach"):
        pytest.skip("Workspace.case_attach is not built yet")
    c = clients["investigator"]
    body = b"victim statement\n" + secrets.token_bytes(64)
    got = c.post(f"/cases/{case}/attachments", data={CSRF_FIELD: c.headers[CSRF_HEADER], "note": "signed"},
                 files={"file": ("statement.bin", body, "application/octet-stream")})
    assert got.status_code == 303, got.text[:500]
    assert hashlib.sha256(body).hexdigest() in c.get(f"/cases/{case}").text
    empty = c.post(f"/cases/{case}/attachments", data={CSRF_FIELD: c.headers[CSRF_HEADER]},
                   files={"file": ("", b"", "application/octet-stream")})
    assert empty.status_code == 422 and 'id="err-file"' in empty.text


def test_a_bundle_made_on_the_page_downloads_with_its_hash(clients: dict[str, httpx.Client], case: str,
                                                           own: Served) -> None:
    """The bundle button makes a bundle of the case; the page lists it with a download link (the
    API's route, through the session cookie) whose file has the listed hash (the SHA-256 of its
    SHA256SUMS, docs/bundle.md); the report and export links of the page answer too."""
    ws = Workspace.open(Settings.load(store=own.store))
    if not hasattr(ws, "case_bundle"):
        pytest.skip("Workspace.case_bundle is not built yet")
    c = clients["investigator"]
    got = post(c, f"/cases/{case}/bundles", {})
    assert got.status_code == 303, text_of(got.text)[-600:]
    made = detail(c, case)["bundles"]
    assert len(made) == 1
    digest = made[0]["bundle_hash"]
    page = c.get(f"/cases/{case}").text
    link = f"/api/v1/cases/{case}/bundles/{digest}"
    assert f'href="{link}"' in page
    body = c.get(link)
    assert body.status_code == 200
    with zipfile.ZipFile(io.BytesIO(body.content)) as zf:
        assert hashlib.sha256(zf.read("SHA256SUMS")).hexdigest() == digest
    for href in re.findall(r'href="(/api/v1/cases/[^"]+/(?:export|report)\?[^"]+)"', page):
        answer = c.get(html.unescape(href))
        assert answer.status_code == 200, (href, answer.status_code, answer.text[:300])
        assert answer.content or "format=ftm" in href, href  # a case without a wallet has no FtM entity


def test_the_audit_log_names_the_case_but_not_what_was_written(clients: dict[str, httpx.Client], case: str,
                                                                own: Served) -> None:
    """Each case page and form is an audit record naming the case (via web); the text of a note
    or a finding never reaches the log."""
    c = clients["investigator"]
    secret = f"informant-{secrets.token_hex(6)}"
    assert post(c, f"/cases/{case}/notes", {"text": f"met {secret}"}).status_code == 303
    assert post(c, f"/cases/{case}/findings", {"kind": "fact", "text": secret, "basis": secret}).status_code == 303
    assert c.get(f"/cases/{case}").status_code == 200
    records = audit_records(own.store)
    assert not any(secret in json.dumps(r) for r in records)
    mine = [r for r in records if r.get("via") == "web" and r.get("user") == "investigator"
            and r.get("action", "").split(" ")[-1].startswith("/cases/{case}")]
    actions = {r["action"] for r in mine if case in json.dumps(r)}
    assert {"GET /cases/{case}", "POST /cases/{case}/notes", "POST /cases/{case}/findings"} <= actions, actions


# ------------------------------------------------------------------------------------- browser

def whole_page(browser: Any, name: str) -> None:
    """A screenshot of the whole page (the window made as tall as the page, then set back)."""
    width, height = browser.get_window_size()["width"], browser.get_window_size()["height"]
    tall = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(int(tall) + 120, 6000))
    browser.execute_script("window.scrollTo(0, 0)")
    try:
        screenshot(browser, name)
    finally:
        browser.set_window_size(width, height)

def test_in_chromium_an_investigator_opens_a_case_and_records_findings(browser: Any, own: Served,
                                                                       demo_server: Any) -> None:
    """Log in, open a case through the form, add a seed, a note, a fact and an inference, save a
    trace; all shown (markup as text), then in Chinese. Screenshots for a person to look at."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    server = SimpleNamespace(url=own.url, users=demo_server.users, passwords=demo_server.passwords)
    login(browser, server, "investigator")
    browser.get(own.url + "/cases")
    form = wait_for(browser, "#new-case-form")
    form.find_element(By.NAME, "title").send_keys("Ransomware wave <b>May</b>")
    form.find_element(By.NAME, "agency").send_keys("Municipal PSB cyber unit")
    form.find_element(By.NAME, "number").send_keys("2026-0117")
    form.find_element(By.CSS_SELECTOR, "[type=submit]").click()
    WebDriverWait(browser, 15).until(lambda d: re.search(r"/cases/C-[0-9a-f]{8}", d.current_url))
    assert wait_for(browser, ".case-head h1").text.startswith("Ransomware wave <b>May</b>")

    def submit(form_id: str, fields: dict[str, str], opener: str | None = None) -> None:
        if opener:
            browser.find_element(By.CSS_SELECTOR, opener).click()
        form = wait_for(browser, f"#{form_id}")
        for name, value in fields.items():
            if name == "kind":
                form.find_element(By.CSS_SELECTOR, f"[name=kind][value={value}]").click()
                continue
            field = form.find_element(By.NAME, name)
            if field.tag_name == "select":
                Select(field).select_by_value(value)
            else:
                field.clear()
                field.send_keys(value)
        page = browser.find_element(By.TAG_NAME, "html")
        form.find_element(By.CSS_SELECTOR, "[type=submit]").click()
        wait_replaced(browser, page, 60)  # the answer is a new page
        wait_for(browser, "#done")
        assert "done=" in browser.current_url, browser.find_element(By.TAG_NAME, "main").text[:500]

    seed = demo_server.case["seed_outputs"][0]
    outpoint = f"{seed['txid']}:{seed['vout']}"
    submit("seed-form", {"seed": outpoint, "note": "Victim 1 reports paying the ransom."}, "#seeds summary")
    submit("note-form", {"text": "Asked the exchange to preserve the account records."})
    submit("finding-form", {"kind": "fact", "text": "The ransom was paid to the group's address.",
                            "basis": f"transaction {seed['txid']}", "refs": f"tx:{seed['txid']}"}, "#findings summary")
    submit("finding-form", {"kind": "inference", "text": "The cash-out wallet belongs to one operator.",
                            "basis": "common-input ownership", "confidence": "0.7", "source": "clustering"},
           "#findings summary")
    submit("trace-form", {"policy": "haircut"}, "#traces summary")
    marks = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article.finding .mark")]
    texts = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article.finding > p.text")]
    assert marks == ["FACT", "INFERENCE"] and texts[0] == "The ransom was paid to the group's address.", marks
    assert "Asked the exchange" in browser.find_element(By.CSS_SELECTOR, "#notes").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.traces tbody tr")) == 1
    whole_page(browser, "cases-01-case-en")
    browser.find_element(By.CSS_SELECTOR, "form.lang button[value=zh_CN]").click()
    settled = WebDriverWait(browser, 15, ignored_exceptions=(StaleElementReferenceException,))
    settled.until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN")
    settled.until(lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, "article.finding .mark")]
                  == ["事实", "推断"])
    whole_page(browser, "cases-02-case-zh")
    browser.get(own.url + "/cases")
    wait_for(browser, "table.cases")
    whole_page(browser, "cases-03-list-zh")


def test_closing_ends_the_forms(clients: dict[str, httpx.Client], case: str) -> None:
    """Only the owner closes; the closed case shows no form and refuses a note (422)."""
    c = clients["investigator"]
    assert post(clients["viewer"], f"/cases/{case}/close", {"confirm": "1"}).status_code == 403
    unticked = post(c, f"/cases/{case}/close", {})
    assert unticked.status_code == 422 and "Tick the box" in unticked.text and detail(c, case)["status"] == "open"
    assert post(c, f"/cases/{case}/close", {"confirm": "1"}).status_code == 303
    page = c.get(f"/cases/{case}")
    assert "closed" in text_of(page.text) and not any(a.endswith(("/notes", "/seeds", "/findings", "/traces"))
                                                      for a in case_forms(page.text))
    got = post(c, f"/cases/{case}/notes", {"text": "too late"})
    assert got.status_code == 422 and f"case {case} is closed" in text_of(got.text)
    assert not any(n["text"] == "too late" for n in detail(c, case)["notes"])
