"""The navigation's badge of unacknowledged alerts, in a real Chromium on the demo's workbench.

A user of their own (so the session-wide demo store's other tests see none of it) watches a saved
trace of their case; two alerts of that item stand at the chain's tip (written with the domain's
writer, as tests/web/support_watch.py does: the real ingest path is tested in tests/watch and
test_pages_watch.py). The badge shows 2, then 1 after acknowledging one on its page, then is
gone; a role that may not read alerts (analyst) never gets one; the Chinese page names the count
in Chinese."""

from __future__ import annotations

import secrets
from types import SimpleNamespace
from typing import Any

from fundtrail.settings import Settings
from fundtrail.store import Store
from fundtrail.watch import alerts as alert_rows
from fundtrail.watch.items import load_item
from fundtrail.workspace import Actor, Workspace
from web.browser import login, screenshot, wait_for
from web.support_cases import member_case
from web.support_watch import member_watch

USER = "badge-investigator"


def _second_alert(store: Any, item_id: str) -> str:
    with Store.open(store).connect() as con:
        item = load_item(con, item_id)
        height, raw = con.execute("SELECT height, hash FROM block_index WHERE chain = ? AND height IS NOT NULL "
                                  "ORDER BY height DESC LIMIT 1", [item.chain]).fetchone()
        made = alert_rows.write(con, alert_rows.Alert(item, int(height), bytes(raw)[::-1].hex(), None,
                                                      f"second check of {item_id}", "badge-check-2"))
    assert made is not None
    return made


def _badges(driver: Any) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, "nav .alert-badge"))


def test_the_badge_counts_unacknowledged_alerts_until_acked(demo_server: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    password = f"badge-{secrets.token_urlsafe(12)}"
    setup = Workspace.open(Settings.load(store=demo_server.store), writable=True,
                           actor=Actor(user="setup", via="python"))
    setup.users_add(USER, role="investigator", password=password)
    made = member_case(demo_server.store, demo_server.ransom_address, user=USER)
    first = member_watch(demo_server.store, made["case"], made["trace"], user=USER)
    second = _second_alert(demo_server.store, first["item"])
    me = SimpleNamespace(url=demo_server.url, users={"badge": USER}, passwords={USER: password})

    login(browser, me, "badge")
    browser.get(demo_server.url + "/alerts")
    badge = wait_for(browser, "nav .alert-badge")
    assert badge.text == "2" and badge.get_attribute("title") == "2 unacknowledged alerts"
    assert badge.find_element(By.XPATH, "..").get_attribute("href").endswith("/alerts")
    screenshot(browser, "alert-badge-en")

    browser.get(f"{demo_server.url}/alerts/{first['alert']}")
    browser.find_element(By.CSS_SELECTOR, ".ack-form button[type=submit]").click()
    wait_for(browser, "#done")
    assert [b.text for b in _badges(browser)] == ["1"]

    browser.get(f"{demo_server.url}/alerts/{second}")
    browser.find_element(By.CSS_SELECTOR, ".ack-form button[type=submit]").click()
    wait_for(browser, "#done")
    assert _badges(browser) == []  # nothing left to acknowledge: no badge
    browser.get(demo_server.url + "/")
    wait_for(browser, "nav")
    assert _badges(browser) == []


def test_no_badge_for_a_role_without_alerts_and_the_count_in_chinese(demo_server: Any) -> None:
    with demo_server.client("analyst") as c:  # analysts may not read alerts
        page = c.get("/")
        assert page.status_code == 200 and "alert-badge" not in page.text
    password = f"badge-{secrets.token_urlsafe(12)}"
    user = USER + "-zh"
    setup = Workspace.open(Settings.load(store=demo_server.store), writable=True,
                           actor=Actor(user="setup", via="python"))
    setup.users_add(user, role="investigator", password=password)
    made = member_case(demo_server.store, demo_server.ransom_address, user=user)
    member_watch(demo_server.store, made["case"], made["trace"], user=user)
    demo_server.users["badge-zh"], demo_server.passwords[user] = user, password
    with demo_server.client("badge-zh", headers={"Accept-Language": "zh-CN"}) as c:
        page = c.get("/cases")
        assert page.status_code == 200
        assert 'title="1 条未确认的警报"' in page.text and 'id="alert-badge"' in page.text
        assert c.get("/alerts.json").json()["alerts"]["alerts"][0]["acked_at"] is None  # the twin: no badge field
