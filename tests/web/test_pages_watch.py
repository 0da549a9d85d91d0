"""The monitoring pages (`/alerts`, `/alerts/{alert}`, `/watch`, the case page's Monitoring section;
issue 17) through a real server, with alerts raised by a real ingest.

The store: a simulated ransomware case (`simulate(seed=3, txs=500)`) with all but its last 10
blocks ingested by the CLI and the answer key's cash-out points tagged as exchanges. The
investigator opens a case and saves an exact-haircut trace of the ransom payments; on the case
page they press "Watch this saved trace's unspent funds" (a real POST); then the tail blocks are
ingested one raw file at a time while the server runs, and a heavier fork drops the last alert
block (its alerts are retracted). Oracles: the simulator's answer key (`arrived_outputs` per
policy: which outputs taint reaches and the exact amounts) and the fork's height.

- Who sees what: logged out -> the login page (twins 401); analysts, auditors and admins -> 403;
  the owner -> everything; a case member -> the case's item and alerts but not the owner's own
  item; another investigator -> no alerts, and an alert's page is the 404 of an unknown id.
- CSRF on every POST (acknowledge, add, remove, watch a saved trace): without or with a wrong
  token 403, nothing changes.
- Markup typed into a form is shown as text; both languages render under strict catalogues.
- One Chromium run: log in, open /alerts, acknowledge one, see it acknowledged; screenshots in
  both languages.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import Iterator
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from markupsafe import escape

from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.sim.scenario import simulate
from fundtrail.web import routes_watch
from fundtrail.workspace import Actor, TraceRequest, Workspace
from support import reliability as rs
from support.blkfiles import blk_records
from tests.watch.support_watch import split_blocks, write_labels
from web.browser import CSRF_FIELD, login, screenshot, wait_for, wait_replaced
from web.support_security import CSRF_HEADER, login_client, serve_store

TAIL = 10
USERS = {"analyst": "analyst", "investigator": "investigator", "auditor": "auditor", "admin": "admin",
         "outsider": "investigator", "member": "investigator"}
XSS = '<script>alert(1)</script>"onmouseover=alert(1) x="'
ALERT_ID = re.compile(r"AL-[0-9a-f]{12}")


def text_of(page: str) -> str:
    """The visible text of an HTML page (tags dropped, entities decoded, spaces collapsed)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def post(c: httpx.Client, url: str, data: dict[str, str] | None = None, token: str | None = "session",
         **kw: Any) -> httpx.Response:
    """A form post as the browser sends it (the session's CSRF token unless told otherwise)."""
    form = dict(data or {})
    if token == "session":
        form[CSRF_FIELD] = c.headers[CSRF_HEADER]
    elif token is not None:
        form[CSRF_FIELD] = token
    return c.post(url, data=form, **kw)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The store (module doc), a server on it, and logged-in clients of every kind of user."""
    base = tmp_path_factory.mktemp("watch-web")
    simulate(base / "sim", seed=3, txs=500)
    blk = base / "sim/blocks/blk00000.dat"
    head, tail = split_blocks(blk, base, TAIL)
    store = base / "store"
    truth = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(head)]) == 0
    assert main(["-q", "--store", str(store), "tags", "import", str(write_labels(truth, base / "labels.csv")),
                 "--format", "csv"]) == 0
    setup = Workspace.open(Settings.load(store=store), writable=True, actor=Actor(user="setup", via="python"))
    passwords = {}
    for name, role in USERS.items():
        passwords[name] = f"{name}-{secrets.token_urlsafe(12)}"
        setup.users_add(name, role=role, password=passwords[name])
    inv = Workspace.open(Settings.load(store=store), writable=True,
                         actor=Actor(user="investigator", role="investigator", via="python"))
    case = inv.case_new("Ransom wave", agency="Cyber unit").id
    inv.case_set_member(case, "member", role="member")
    seeds = [f"{s['txid']}:{s['vout']}" for s in truth["seed_outputs"]]
    trace = inv.case_trace(case, TraceRequest(seeds=seeds, policy="haircut", exact=True)).id
    blocks = [rec[8:] for rec in blk_records(blk)]
    tail_txs = {tx.txid[::-1].hex(): h for h, raw in enumerate(blocks) if h >= len(blocks) - TAIL
                for tx in rs.parse_block(raw)}
    spent = next(f"{p[0][::-1].hex()}:{p[1]}" for raw in blocks[-TAIL:] for tx in rs.parse_block(raw)[1:]
                 for p in tx.inputs if p[0][::-1].hex() not in tail_txs)
    own_item = inv.watch_add([spent], name="my own output").items[0].id  # the investigator's, no case
    served = serve_store(store)
    clients = {name: login_client(served.url, name, passwords[name]) for name in USERS}
    opened = {name: ctx.__enter__() for name, ctx in clients.items()}
    try:
        pressed = post(opened["investigator"], f"/cases/{case}/traces/{trace}/watch")
        assert pressed.status_code == 303 and pressed.headers["location"].startswith(f"/cases/{case}?watched=W-"), \
            (pressed.status_code, pressed.text[:500])
        item = pressed.headers["location"].split("watched=")[1].split("#")[0]
        for f in tail:  # the blocks arrive while the server runs
            assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(f)]) == 0
        before_fork = inv.alerts_list(item=item, limit=1000).alerts
        top = max(a.height for a in before_fork if a.height is not None)
        fork = rs.build_fork(blocks, top, len(blocks) - top + 1)
        assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw",
                     str(rs.blk_stream(base / "fork.dat", fork))]) == 0
        yield SimpleNamespace(url=served.url, store=store, served=served, truth=truth, case=case, trace=trace,
                              item=item, own_item=own_item, tail_txs=tail_txs, top=top, c=opened,
                              passwords=passwords, users={k: k for k in USERS})
    finally:
        for ctx in clients.values():
            ctx.__exit__(None, None, None)
        served._uv.should_exit = True
        served._thread.join(timeout=30)


def alerts_of(c: httpx.Client, unacked: bool = False) -> list[dict[str, Any]]:
    got = c.get("/alerts.json" + ("?unacked=1" if unacked else ""))
    assert got.status_code == 200, got.text[:300]
    doc = got.json()["alerts"]
    assert doc["page"]["next_cursor"] is None
    return list(doc["alerts"])


# ------------------------------------------------------------------------------ the answer key

def test_the_button_watches_the_trace_and_alerts_match_the_answer_key(world: SimpleNamespace) -> None:
    """The item the case page's button made follows the saved trace's frontier under its policy;
    its live alerts are exactly the answer key's arrivals in the tail below the dropped block, with
    their exact amounts; the dropped block's alerts are retracted, each by one retraction."""
    c = world.c["investigator"]
    items = {i["id"]: i for i in c.get("/watch.json").json()["watch"]["items"]}
    made = items[world.item]
    assert (made["kind"], made["target"], made["rule"], made["policy"], made["case_id"]) == (
        "frontier", world.trace, "reaches-service", "haircut", world.case)
    key = {o: Fraction(a) for o, a in world.truth["answers"]["haircut"]["arrived_outputs"].items()
           if o.split(":")[0] in world.tail_txs}
    mine = [a for a in alerts_of(c) if a["item_id"] == world.item]
    live = {a["document"]["facts"]["outputs"][0]: a for a in mine if a["kind"] == "alert" and not a["retracted_by"]
            and a["height"] < world.top}
    assert set(live) == {o for o in key if world.tail_txs[o.split(":")[0]] < world.top} and len(live) >= 3
    for output, a in live.items():
        assert Fraction(a["document"]["facts"]["amount_exact"]) == key[output]
        assert a["height"] == world.tail_txs[output.split(":")[0]] and a["severity"] == "critical"
    dropped = {a["id"] for a in mine if a["height"] == world.top and a["retracted_by"]}
    assert {a["document"]["facts"]["outputs"][0] for a in mine if a["id"] in dropped} == {
        o for o in key if world.tail_txs[o.split(":")[0]] == world.top}
    retractions = [a for a in mine if a["kind"] == "retraction"]
    assert sorted(r["retracts"] for r in retractions) == sorted(dropped) and dropped
    assert [a["created_at"] for a in mine] == sorted((a["created_at"] for a in mine), reverse=True)


def test_the_alerts_page_shows_every_alert(world: SimpleNamespace) -> None:
    """Each row: time, chain, height, rule, the title, the item; severity badges; a retraction
    links to what it withdraws, a retracted alert says so; acknowledge buttons carry the token."""
    c = world.c["investigator"]
    listed = alerts_of(c)
    page = c.get("/alerts")
    assert page.status_code == 200 and 'href="/alerts"' in page.text  # in the navigation bar too
    rows = re.findall(r'<tr id="alert-(AL-[0-9a-f]{12})" class="([^"]*)">(.*?)</tr>', page.text, re.S)
    assert [r[0] for r in rows] == [a["id"] for a in listed]
    by_id = {a["id"]: a for a in listed}
    for alert_id, classes, row in rows:
        a = by_id[alert_id]
        shown = text_of(row)
        assert a["title"] in shown and a["chain"] in shown and f"{a['height']:,}" in shown
        assert f'sev-badge sev-{a["severity"]}' in row and a["kind"] in classes.split()
        if a["retracts"]:
            assert f'href="/alerts/{a["retracts"]}"' in row and "withdraws" in shown
        if a["retracted_by"]:
            assert "retracted" in classes.split() and f'href="/alerts/{a["retracted_by"]}"' in row
        assert (f'action="/alerts/{alert_id}/ack"' in row) == (a["acked_at"] is None)
    assert 'sev-badge sev-critical' in page.text and 'sev-badge sev-warning' in page.text
    assert "Reaches a service" in page.text and "Funds moved" in page.text


def test_cursor_paging_covers_every_alert_once(world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_watch, "PAGE", 3)
    c = world.c["investigator"]
    seen: list[str] = []
    url = "/alerts.json"
    while True:
        doc = c.get(url).json()["alerts"]
        assert len(doc["alerts"]) <= 3
        seen += [a["id"] for a in doc["alerts"]]
        if not doc["page"]["next_cursor"]:
            break
        html_page = c.get(url.replace(".json", ""))
        assert "cursor=" in html_page.text  # the page links to the next one
        url = f"/alerts.json?cursor={doc['page']['next_cursor']}"
    monkeypatch.undo()
    assert seen == [a["id"] for a in alerts_of(c)] and len(seen) > 6


def test_one_alert_whole(world: SimpleNamespace) -> None:
    """The alert page: amount exact with its unit, the service and how it was attributed with the
    tag's source, links to the transaction, the deposit address and the case."""
    c = world.c["investigator"]
    a = next(a for a in alerts_of(c) if a["item_id"] == world.item and a["kind"] == "alert" and not a["retracted_by"])
    doc = a["document"]
    page = c.get(f"/alerts/{a['id']}")
    assert page.status_code == 200
    shown = text_of(page.text)
    sat = int(doc["facts"]["amount"])
    assert f"{sat // 10**8}.{sat % 10**8:08d}".rstrip("0") in shown and "BTC" in shown
    assert doc["facts"]["amount_exact"] in shown
    svc = doc["service"]
    cashout = {p["address"]: p["actor"] for p in world.truth["cashout_points"]}
    assert svc["label"] == cashout[svc["address"]] and svc["label"] in shown
    assert "the address is tagged itself" in shown and "test label provider" in shown
    assert f'href="/btc-regtest/txs/{a["txid"]}"' in page.text
    assert f'href="/btc-regtest/addresses/{svc["address"]}"' in page.text
    assert f'href="/cases/{world.case}"' in page.text
    twin = c.get(f"/alerts/{a['id']}.json").json()["alert"]
    assert twin == a
    retraction = next(x for x in alerts_of(c) if x["kind"] == "retraction")
    withdrawn = c.get(f"/alerts/{retraction['retracts']}")
    assert "This alert was retracted" in text_of(withdrawn.text) and retraction["id"] in withdrawn.text
    assert "This retraction withdraws the alert" in text_of(c.get(f"/alerts/{retraction['id']}").text)


# ------------------------------------------------------------------------------ who sees what

def test_who_sees_the_monitoring_pages(world: SimpleNamespace) -> None:
    c = world.c
    alerts = alerts_of(c["investigator"])
    case_alert = next(a for a in alerts if a["item_id"] == world.item)
    own_alert = next(a for a in alerts if a["item_id"] == world.own_item)
    pages = ["/alerts", f"/alerts/{case_alert['id']}", "/watch"]
    twins = ["/alerts.json", f"/alerts/{case_alert['id']}.json", "/watch.json"]
    with httpx.Client(base_url=world.url, timeout=60) as anonymous:
        for path in pages:
            got = anonymous.get(path)
            assert got.status_code == 303 and got.headers["location"].startswith("/login?next="), path
        for path in twins:
            assert anonymous.get(path).status_code == 401, path
        got = anonymous.post(f"/alerts/{case_alert['id']}/ack")
        assert got.status_code == 303 and got.headers["location"].startswith("/login"), got.status_code
    for role in ("analyst", "auditor", "admin"):
        for path in pages + twins:
            got = c[role].get(path)
            assert got.status_code == 403, (role, path, got.status_code)
            assert case_alert["title"] not in got.text and world.item not in got.text
        assert 'href="/alerts"' not in c[role].get("/cases").text
    for path in pages + twins:
        assert c["investigator"].get(path).status_code == 200, path
    # a member of the case: its item and alerts, not the owner's own item
    member = alerts_of(c["member"])
    assert {a["item_id"] for a in member} == {world.item}
    assert c["member"].get(f"/alerts/{case_alert['id']}").status_code == 200
    assert [i["id"] for i in c["member"].get("/watch.json").json()["watch"]["items"]] == [world.item]
    # an outsider: nothing, and an alert is the very 404 of an id no alert has
    assert alerts_of(c["outsider"]) == [] and c["outsider"].get("/watch.json").json()["watch"]["items"] == []
    unknown = "AL-" + "0" * 12
    for other in (c["outsider"], c["member"]):
        alert = case_alert if other is c["outsider"] else own_alert
        got, none = other.get(f"/alerts/{alert['id']}"), other.get(f"/alerts/{unknown}")
        assert got.status_code == none.status_code == 404
        assert got.text.replace(alert["id"], unknown) == none.text
        assert alert["title"] not in got.text
        twin = other.get(f"/alerts/{alert['id']}.json")
        assert twin.status_code == 404 and twin.json()["error"]["field"] == "alert"
        assert post(other, f"/alerts/{alert['id']}/ack").status_code == 404
    assert post(c["outsider"], f"/watch/{world.item}/remove").status_code == 404
    case_page = c["outsider"].get(f"/cases/{world.case}")
    assert case_page.status_code == 404 and world.item not in case_page.text
    assert not any(a["acked_at"] for a in alerts_of(c["investigator"]) if a["id"] in (case_alert["id"],
                                                                                        own_alert["id"]))


def test_the_case_page_has_a_monitoring_section(world: SimpleNamespace) -> None:
    """The case's items with their newest alerts, and the button per saved trace (writers)."""
    for who in ("investigator", "member"):
        page = world.c[who].get(f"/cases/{world.case}")
        assert page.status_code == 200
        section = page.text.split('id="monitoring"')[1].split("</section>")[0]
        assert f'id="watch-{world.item}"' in section and world.own_item not in section
        newest = [a for a in alerts_of(world.c["investigator"]) if a["item_id"] == world.item][:3]
        assert re.findall(r'href="/alerts/(AL-[0-9a-f]{12})"', section) == [a["id"] for a in newest]
        assert f'action="/cases/{world.case}/traces/{world.trace}/watch"' in section
    notice = world.c["investigator"].get(f"/cases/{world.case}?watched={world.item}")
    assert "Watching the saved trace: item " + world.item in text_of(notice.text)


# ------------------------------------------------------------------------------------- forms

def test_every_post_refuses_a_forged_form(world: SimpleNamespace) -> None:
    c = world.c["investigator"]
    alert = next(a for a in alerts_of(c) if a["acked_at"] is None)
    before = (alerts_of(c), c.get("/watch.json").json())
    posts = [(f"/alerts/{alert['id']}/ack", {}), ("/watch", {"targets": "category:exchange", "rule": "deposit"}),
             (f"/watch/{world.own_item}/remove", {}), (f"/cases/{world.case}/traces/{world.trace}/watch", {})]
    for url, data in posts:
        for token in (None, "0" * 64, world.c["member"].headers[CSRF_HEADER]):
            got = post(c, url, data, token=token)
            assert got.status_code == 403, (url, token, got.status_code)
            assert "CSRF" in got.text
    assert (alerts_of(c), c.get("/watch.json").json()) == before


def test_acknowledge_from_the_list_and_the_filter(world: SimpleNamespace) -> None:
    c = world.c["member"]
    target = alerts_of(c, unacked=True)[-1]
    got = post(c, f"/alerts/{target['id']}/ack", {"next": "/alerts?unacked=1"})
    assert got.status_code == 303 and got.headers["location"] == "/alerts?unacked=1&done=ack"
    assert target["id"] not in {a["id"] for a in alerts_of(c, unacked=True)}
    shown = c.get(f"/alerts/{target['id']}.json").json()["alert"]
    assert shown["acked_by"] == "member" and shown["acked_at"]
    assert "acknowledged by member" in text_of(world.c["investigator"].get("/alerts").text)
    evil = post(c, f"/alerts/{target['id']}/ack", {"next": "//evil.example/"})
    assert evil.headers["location"].startswith("/?done=ack")  # never another site


def test_add_and_remove_items_with_errors_beside_their_fields(world: SimpleNamespace) -> None:
    c = world.c["investigator"]
    before = {i["id"] for i in c.get("/watch.json").json()["watch"]["items"]}
    bad_target = post(c, "/watch", {"targets": "1NotAnAddressAtAll", "rule": "moved", "name": XSS})
    assert bad_target.status_code == 404
    err = re.search(r'<span class="field-error" role="alert" id="err-targets">([^<]*)</span>', bad_target.text)
    assert err and "1NotAnAddressAtAll" in html.unescape(err.group(1))
    assert "<script>alert(1)" not in bad_target.text and str(escape(XSS)) in bad_target.text
    bad_min = post(c, "/watch", {"targets": "category:exchange", "rule": "moved", "min_value": "lots"})
    assert bad_min.status_code == 422 and 'id="err-min_value"' in bad_min.text
    assert before == {i["id"] for i in c.get("/watch.json").json()["watch"]["items"]}  # nothing stored
    made = post(c, "/watch", {"targets": "category:exchange", "rule": "deposit", "name": XSS, "severity": "info"})
    assert made.status_code == 303 and made.headers["location"] == "/watch?done=add"
    items = {i["id"]: i for i in c.get("/watch.json").json()["watch"]["items"]}
    (new,) = set(items) - before
    assert (items[new]["kind"], items[new]["target"], items[new]["name"]) == ("category", "exchange", XSS)
    page = c.get("/watch?done=add")
    assert "<script>alert(1)" not in page.text and '"onmouseover=alert(1)' not in page.text
    assert XSS in text_of(page.text) and "Watching." in text_of(page.text)
    removed = post(c, f"/watch/{new}/remove")
    assert removed.status_code == 303 and new not in {i["id"] for i in c.get("/watch.json").json()["watch"]["items"]}
    counts = re.search(rf'<tr id="item-{world.item}">(.*?)</tr>', c.get("/watch").text, re.S)
    n = sum(1 for a in alerts_of(c) if a["item_id"] == world.item)
    assert counts and f">{n}</a>" in counts.group(1)


def test_a_refused_trace_watch_is_shown_on_the_case_page(world: SimpleNamespace) -> None:
    """A backward trace has no frontier: the case page comes back with the reason (422)."""
    inv = Workspace.open(Settings.load(store=world.store), writable=True,
                         actor=Actor(user="investigator", role="investigator", via="python"))
    back = inv.case_trace(world.case, TraceRequest(seeds=[world.truth["cashout_points"][0]["address"]],
                                                   direction="backward", hops=2)).id
    got = post(world.c["investigator"], f"/cases/{world.case}/traces/{back}/watch")
    assert got.status_code == 422 and "not a forward taint trace" in text_of(got.text)
    assert 'id="watch-error"' in got.text


def test_both_languages_render(world: SimpleNamespace) -> None:
    """Every monitoring page in zh_CN and en under strict catalogues (a missing message fails)."""
    c = world.c["investigator"]
    alert = alerts_of(c)[0]
    for lang, word in (("zh_CN", "警报"), ("en", "Alerts")):
        c.cookies.set("ft_lang", lang)
        for path in ("/alerts", f"/alerts/{alert['id']}", "/watch", f"/cases/{world.case}"):
            got = c.get(path)
            assert got.status_code == 200, (lang, path, got.text[:300])
            assert word in got.text


# ------------------------------------------------------------------------------------ browser

def test_in_chromium_an_investigator_acknowledges_an_alert(browser: Any, world: SimpleNamespace) -> None:
    """Log in, open the unacknowledged alerts, acknowledge the newest: the filtered list drops it and
    its page names who acknowledged it, in English and in Chinese. Screenshots for a person."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    login(browser, world, "investigator")
    browser.get(world.url + "/alerts?unacked=1")
    row = wait_for(browser, "table.alerts tbody tr.unacked")
    alert_id = row.get_attribute("id").removeprefix("alert-")
    screenshot(browser, "watch-01-alerts-en")
    page = browser.find_element(By.TAG_NAME, "html")
    row.find_element(By.CSS_SELECTOR, "form.ack-form button").click()
    wait_replaced(browser, page, 30)
    assert wait_for(browser, "#done").text == "Alert acknowledged."
    assert not browser.find_elements(By.ID, f"alert-{alert_id}")  # the filter hides it now
    browser.get(world.url + f"/alerts/{alert_id}")
    assert wait_for(browser, "#acked").text.endswith("investigator")
    screenshot(browser, "watch-02-alert-en")
    browser.find_element(By.CSS_SELECTOR, "form.lang button[value=zh_CN]").click()
    settled = WebDriverWait(browser, 15, ignored_exceptions=(StaleElementReferenceException,))
    settled.until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN")
    settled.until(lambda d: "由 investigator 确认" in d.find_element(By.CSS_SELECTOR, ".acked").text)
    screenshot(browser, "watch-03-alert-zh")
    browser.get(world.url + "/alerts")
    wait_for(browser, "table.alerts")
    screenshot(browser, "watch-04-alerts-zh")
    browser.get(world.url + "/watch")
    wait_for(browser, "table.watch-items")
    screenshot(browser, "watch-05-items-zh")
    browser.get(world.url + f"/cases/{world.case}#monitoring")
    assert world.item in wait_for(browser, "#monitoring table.watch-items").text
    screenshot(browser, "watch-06-case-zh")
