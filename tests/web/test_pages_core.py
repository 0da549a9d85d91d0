"""The workbench's own pages through a real server on the demo's store: log in, the home page, search,
the address page and its twin, languages (the switch and the browser's Accept-Language), time
zones, error pages, and where each role starts. Rendered with FUNDTRAIL_I18N_STRICT=1 (a message
missing from a catalogue fails the page); a Chinese and an English screenshot of the address page
go to test-artifacts/screenshots.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from web.browser import CSRF_FIELD, SESSION_COOKIE, csrf_of, login, screenshot, wait_for
from web.support_security import CSRF_HEADER, login_client

UNKNOWN = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"  # a valid regtest address (BIP 173) the demo never used



@pytest.fixture
def analyst(demo_server: Any) -> Iterator[httpx.Client]:
    with login_client(demo_server.url, "analyst", demo_server.passwords["analyst"]) as c:
        yield c


def text_of(page: str) -> str:
    """The visible text of a page's <main>, tags dropped and entities decoded, spaces collapsed."""
    main = page[page.find("<main"):page.find("</main>")]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main))).strip()


def btc(sat: int) -> str:
    """Satoshi in BTC as the pages show it: grouped, at least two decimals, no trailing zeros beyond."""
    whole, frac = divmod(sat, 10**8)
    digits = f"{frac:08d}".rstrip("0")
    return f"{whole:,}.{digits:0<2}"


def test_log_in_and_the_home_page_lists_the_demo_chain(demo_server: Any) -> None:
    """Logged out, `/` goes to the login page; the demo's user logs in with the password the demo
    printed and lands on the home page, which lists the demo's chain with the store's counts."""
    with httpx.Client(base_url=demo_server.url, timeout=60) as c:
        first = c.get("/")
        assert first.status_code == 303 and first.headers["location"] == "/login?next=%2F"
        page = c.get(first.headers["location"])
        assert page.status_code == 200 and 'id="login-form"' in page.text and 'name="next" value="/"' in page.text
        wrong = c.post("/login", data={"username": "demo", "password": "not-it", CSRF_FIELD: csrf_of(page.text),
                                       "next": "/"})
        assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
        assert 'value="demo"' in wrong.text  # the name is kept, the password is not
        done = c.post("/login", data={"username": "demo", "password": demo_server.passwords["demo"],
                                      CSRF_FIELD: csrf_of(wrong.text), "next": "/"})
        assert done.status_code == 303 and done.headers["location"] == "/" and SESSION_COOKIE in done.cookies
        home = c.get("/")
        assert home.status_code == 200
        status = c.get("/api/v1/status", headers={CSRF_HEADER: csrf_of(home.text)}).json()
        chain = next(ch for ch in status["chains"] if ch["chain"] == demo_server.chain)
        shown = text_of(home.text)
        assert demo_server.chain in shown
        assert f"{chain['transactions']:,}" in shown and f"{chain['addresses']:,}" in shown
        assert "demo" in home.text and 'action="/search"' in home.text
        assert c.get("/", headers={"accept": "application/json"}).json()["status"]["chains"] == status["chains"]


def test_search_with_one_hit_opens_its_page(analyst: httpx.Client, demo_server: Any) -> None:
    """A txid, a cluster id: one hit each, so the search goes straight to its page. A tagged address
    is an address and its tag: the address has the page, so the search opens it too; a label
    found on several things lists them."""
    txid = demo_server.case["seed_outputs"][0]["txid"]
    got = analyst.get("/search", params={"q": txid})
    assert got.status_code == 303 and got.headers["location"] == f"/{demo_server.chain}/txs/{txid}"
    summary = analyst.get(f"/api/v1/{demo_server.chain}/addresses/{demo_server.ransom_address}").json()
    cluster = analyst.get("/search", params={"q": str(summary["cluster_id"])})
    assert cluster.status_code == 303
    assert cluster.headers["location"] == f"/{demo_server.chain}/clusters/{summary['cluster_id']}"
    tagged = analyst.get("/search", params={"q": demo_server.ransom_address})
    assert {h["kind"] for h in analyst.get("/search.json", params={"q": demo_server.ransom_address})
            .json()["search"]["hits"]} == {"address", "tag"}
    assert tagged.status_code == 303
    assert tagged.headers["location"] == f"/{demo_server.chain}/addresses/{demo_server.ransom_address}"
    listed = analyst.get("/search", params={"q": "ransomware-group-1"})
    assert listed.status_code == 200 and "ransomware-group-1" in listed.text
    nothing = analyst.get("/search", params={"q": "no-such-label-anywhere"})
    assert nothing.status_code == 200 and "Nothing in this store matches this text." in nothing.text


def test_the_search_twin_is_the_apis_answer(analyst: httpx.Client, demo_server: Any) -> None:
    """`/search.json?q=` (and `Accept: application/json`) is `{"search": GET /api/v1/search}`; the
    twin never redirects, even for one hit."""
    txid = demo_server.case["seed_outputs"][0]["txid"]
    for q in (demo_server.exchanges[0], demo_server.ransom_address, txid):
        api = analyst.get("/api/v1/search", params={"q": q, "limit": 50}).json()
        twin = analyst.get("/search.json", params={"q": q})
        assert twin.status_code == 200 and twin.json() == {"search": api}, q
        accept = analyst.get("/search", params={"q": q}, headers={"accept": "application/json"})
        assert accept.status_code == 200 and accept.json() == {"search": api}, q
    assert len(analyst.get("/search.json", params={"q": demo_server.exchanges[0]}).json()["search"]["hits"]) > 1


def test_the_address_page_and_its_twin(analyst: httpx.Client, demo_server: Any) -> None:
    """The ransom address: its twin is the API's summary and first page of transactions; the page
    shows the same facts (exact amounts, the ransomware label, the cluster, the risk score and its
    reason, each transaction)."""
    chain, address = demo_server.chain, demo_server.ransom_address
    api = {"address": analyst.get(f"/api/v1/{chain}/addresses/{address}").json(),
           "txs": analyst.get(f"/api/v1/{chain}/addresses/{address}/txs", params={"limit": 25}).json()}
    assert analyst.get(f"/{chain}/addresses/{address}.json").json() == api
    assert analyst.get(f"/{chain}/addresses/{address}", headers={"accept": "application/json"}).json() == api
    page = analyst.get(f"/{chain}/addresses/{address}")
    assert page.status_code == 200
    shown = text_of(page.text)
    s = api["address"]
    assert f"{btc(s['received'])} BTC" in shown and f"{btc(s['sent'])} BTC" in shown
    assert next(t["label"] for t in s["tags"]) in shown and f"#{s['cluster_id']}" in shown
    assert f"{s['risk']['score']:.0f}" in shown and s["risk"]["reasons"][0]["rule"] in shown
    for tx in api["txs"]["txs"]:
        assert f'href="/{chain}/txs/{tx["txid"]}"' in page.text
    assert "2023-" in shown and "UTC" in shown  # times carry their zone


def test_times_follow_the_chosen_zone(demo_server: Any) -> None:
    """With the time zone cookie at Asia/Shanghai, the address page shows its first-seen time eight
    hours after UTC and names the zone (and the footer says which zone times are in)."""
    with login_client(demo_server.url, "analyst", demo_server.passwords["analyst"]) as c:
        s = c.get(f"/api/v1/{demo_server.chain}/addresses/{demo_server.ransom_address}").json()
        c.cookies.set("ft_tz", "Asia/Shanghai")
        page = c.get(f"/{demo_server.chain}/addresses/{demo_server.ransom_address}").text
    utc = s["first_seen"]["time"]  # e.g. 2023-11-15T01:33:20Z
    local = dt.datetime.fromisoformat(utc.replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Shanghai"))
    assert local.utcoffset() == dt.timedelta(hours=8)
    assert local.strftime("%Y-%m-%d %H:%M:%S Asia/Shanghai") in page, utc
    assert f"{utc[11:19]} UTC" not in page and "Asia/Shanghai" in page[page.find("<footer"):]


def switch(client: httpx.Client, lang: str, back_to: str) -> httpx.Response:
    """Press the language button of the page `back_to` (the form in its header)."""
    page = client.get(back_to)
    form = re.search(r'<form class="lang"[^>]*>(.*?)</form>', page.text, re.S)
    assert form, "no language form on the page"
    here = re.search(r'name="next" value="([^"]*)"', form.group(1))
    assert here and html.unescape(here.group(1)) == back_to
    return client.post("/lang", data={"lang": lang, "next": html.unescape(here.group(1)),
                                      CSRF_FIELD: csrf_of(form.group(0))})


def test_switching_language_with_the_form(analyst: httpx.Client, demo_server: Any) -> None:
    """The header's language form: Chinese on the same page (`<html lang="zh-CN">`, 地址, the nav in
    Chinese), kept on the next page, and back to English."""
    target = f"/{demo_server.chain}/addresses/{demo_server.ransom_address}"
    moved = switch(analyst, "zh_CN", target)
    assert moved.status_code == 303 and moved.headers["location"] == target
    page = analyst.get(target)
    assert '<html lang="zh-CN">' in page.text and "地址" in page.text and "交易" in page.text
    assert "Balance" not in text_of(page.text)
    home = analyst.get("/")
    assert '<html lang="zh-CN">' in home.text and "搜索" in home.text
    assert switch(analyst, "en", target).status_code == 303
    assert '<html lang="en">' in analyst.get(target).text
    bad = analyst.post("/lang", data={"lang": "fr", "next": "/", CSRF_FIELD: analyst.headers[CSRF_HEADER]})
    assert bad.status_code == 422 and "lang" in bad.text


def test_the_browsers_language_picks_chinese(demo_server: Any) -> None:
    """`Accept-Language: zh-CN` without the switch's cookie: the login page and the pages are Chinese."""
    zh = {"accept-language": "zh-CN,zh;q=0.9,en;q=0.5"}
    with httpx.Client(base_url=demo_server.url, timeout=60, headers=zh) as c:
        page = c.get("/login")
        assert '<html lang="zh-CN">' in page.text and "登录" in page.text
    with login_client(demo_server.url, "analyst", demo_server.passwords["analyst"], headers=zh) as c:
        assert "ft_lang" not in c.cookies
        page = c.get(f"/{demo_server.chain}/addresses/{demo_server.ransom_address}")
        assert '<html lang="zh-CN">' in page.text and "地址" in page.text
        assert '<html lang="en">' in c.get("/", headers={"accept-language": "en-US"}).text


@pytest.mark.parametrize(("lang", "title"), [("en-US", "Not found"), ("zh-CN", "未找到")])
def test_an_unknown_address_is_a_404_page(demo_server: Any, lang: str, title: str) -> None:
    """A valid address the store never saw: a 404 page in the page's language naming the field, a
    twin with the API's error document; a malformed one is a 422 on the same field."""
    with login_client(demo_server.url, "analyst", demo_server.passwords["analyst"],
                      headers={"accept-language": lang}) as c:
        page = c.get(f"/{demo_server.chain}/addresses/{UNKNOWN}")
        assert page.status_code == 404 and title in page.text and UNKNOWN in page.text
        assert "<code>address</code>" in page.text and 'href="/"' in page.text
        twin = c.get(f"/{demo_server.chain}/addresses/{UNKNOWN}.json")
        assert twin.status_code == 404 and twin.json()["error"]["field"] == "address"
        assert twin.json() == c.get(f"/api/v1/{demo_server.chain}/addresses/{UNKNOWN}").json()
        bad = c.get(f"/{demo_server.chain}/addresses/not-an-address")
        assert bad.status_code == 422 and "<code>address</code>" in bad.text
        chain = c.get(f"/no-such-chain/addresses/{UNKNOWN}")
        assert chain.status_code == 404 and "<code>chain</code>" in chain.text


@pytest.mark.parametrize(("role", "start"), [("auditor", "/audit"), ("admin", "/users"), ("analyst", None)])
def test_each_role_starts_on_its_own_page(demo_server: Any, role: str, start: str | None) -> None:
    """After logging in, the auditor's `/` is the audit log and the admin's the users page (they may
    not read chain data); the analyst's is the home page."""
    with login_client(demo_server.url, role, demo_server.passwords[role]) as c:
        got = c.get("/")
        if start is None:
            assert got.status_code == 200 and "search" in got.text
        else:
            assert got.status_code == 303 and got.headers["location"] == start
            landed = c.get(start)
            assert landed.status_code == 200, (start, landed.status_code)
            assert f'href="{start}" class="active"' in landed.text, f"the navigation bar has no link to {start}"


def test_the_pages_in_the_browser_in_both_languages(demo_server: Any, browser: Any) -> None:
    """Chromium: log in, search the ransom address, open it; switch to Chinese with the header's
    button: the same page in Chinese. Screenshots of both."""
    from selenium.webdriver.common.by import By

    login(browser, demo_server, "demo")
    box = wait_for(browser, "form.search input[name=q]")
    box.send_keys(demo_server.ransom_address)
    box.submit()
    wait_for(browser, "dl.facts")  # the address and its tag: the search opens the address page
    assert browser.current_url.endswith(f"/{demo_server.chain}/addresses/{demo_server.ransom_address}")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    screenshot(browser, "core-address-en")
    browser.find_element(By.CSS_SELECTOR, "form.lang button[value=zh_CN]").click()
    wait_for(browser, "html[lang='zh-CN'] dl.facts")
    shown = browser.find_element(By.TAG_NAME, "main").text
    assert "余额" in shown and "地址" in shown and "Balance" not in shown
    assert demo_server.ransom_address in browser.current_url
    screenshot(browser, "core-address-zh")
    browser.get(demo_server.url + "/")
    wait_for(browser, "main")
    screenshot(browser, "core-home-zh")
