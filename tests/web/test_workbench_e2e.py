"""The issue's acceptance scenario in a real headless Chromium on the demo's store: an investigator
logs in, searches the demo's ransom address, opens the graph, expands two hops, overlays a
haircut trace and finds the answer key's cash-out exchanges named as the services to freeze,
annotates a node, saves the canvas, reloads it and finds the note, exports a PNG, and switches
to Chinese. Any JavaScript error in the console fails it (the `browser` fixture); the graph's
states are written to test-artifacts/screenshots.
"""

from __future__ import annotations

import base64
import itertools
import struct
from collections import deque
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from fundtrail.web.i18n import Formatter, zone
from web.browser import login, screenshot, wait_for
from web.graph_support import call, canvas_click, status, visible, wait_graph, wait_until

NOTE = "Ransom wallet: ask the exchange <script>window.ftXss = 1</script>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def server(demo_server: Any) -> Any:
    """The demo's server."""
    return demo_server


def api_graph(server: Any, path: str) -> dict[str, Any]:
    """A graph API document, asked for over HTTP as the investigator (the test's own oracle)."""
    with server.client("investigator") as c:
        answer = c.get(f"/api/v1/{server.chain}/graph/{path}")
        assert answer.status_code == 200, answer.text[:300]
        return dict(answer.json())


def distances(nodes: set[str], edges: list[tuple[str, str]], start: str) -> dict[str, int]:
    """Hops from `start` over edges in either direction."""
    near: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        near[a].add(b)
        near[b].add(a)
    seen, todo = {start: 0}, deque([start])
    while todo:
        here = todo.popleft()
        for there in near[here] - seen.keys():
            seen[there] = seen[here] + 1
            todo.append(there)
    return seen


def panel_button(browser: Any, css: str) -> Any:
    """A button of the side panel, once it can be clicked."""
    return WebDriverWait(browser, 30).until(
        lambda d: next((b for b in d.find_elements(By.CSS_SELECTOR, css) if b.is_displayed() and b.is_enabled()), None))


def test_investigator_follows_the_ransom_to_the_exchanges(server: Any, browser: Any) -> None:
    ransom = server.ransom_address
    start = f"a:{ransom}"
    login(browser, server, "investigator")

    # search the ransom address: one hit opens its page, which links to the graph
    box = wait_for(browser, "header form.search input[name=q]")
    box.send_keys(ransom)
    box.submit()
    WebDriverWait(browser, 30).until(lambda d: f"/addresses/{ransom}" in d.current_url or "/search" in d.current_url)
    if "/search" in browser.current_url:  # the address and its tag both match: the address hit opens it
        browser.find_element(By.CSS_SELECTOR, f"main a[href='/{server.chain}/addresses/{ransom}']").click()
        WebDriverWait(browser, 30).until(lambda d: f"/addresses/{ransom}" in d.current_url)
    screenshot(browser, "graph-e2e-01-address-page")
    browser.find_element(By.CSS_SELECTOR, "a.button[href^='/graph?']").click()
    wait_graph(browser)
    assert parse_qs(urlsplit(browser.current_url).query)["start"] == [start]
    first = api_graph(server, f"addresses/{ransom}?direction=both&limit=100")
    assert visible(browser) == {n["id"] for n in first["nodes"]}
    assert ransom in browser.find_element(By.ID, "g-panel").text  # the start node is selected
    screenshot(browser, "graph-e2e-02-start")

    # hop 2: the transactions of hop 1, one through the panel's buttons, the other by double-click
    hop1 = sorted(n["id"] for n in first["nodes"] if n["kind"] == "tx")
    assert len(hop1) >= 2
    canvas_click(browser, hop1[0])
    wait_until(browser, "return ftGraph.state.selected === arguments[0]", hop1[0])
    for css in ("#g-panel button.expand-in", "#g-panel button.expand-out"):
        panel_button(browser, css).click()
        wait_until(browser, "return !ftGraph.state.expanding(arguments[0])", hop1[0])
    for tx in hop1[1:]:
        canvas_click(browser, tx, double=True)
        wait_until(browser, "return ftGraph.state.paging[arguments[0]] && ftGraph.state.paging[arguments[0]].out"
                            " && !ftGraph.state.expanding(arguments[0])", tx)
    expected_nodes = {n["id"] for n in first["nodes"]}
    expected_edges = {e["id"]: (e["source"], e["target"]) for e in first["edges"]}
    for tx in hop1:
        for way in ("in", "out"):
            page = api_graph(server, f"txs/{tx[2:]}?direction={way}&limit=100")
            expected_nodes |= {n["id"] for n in page["nodes"]}
            expected_edges |= {e["id"]: (e["source"], e["target"]) for e in page["edges"]}
    assert visible(browser) == expected_nodes
    assert visible(browser, "edge") == set(expected_edges)
    hops = distances(expected_nodes, list(expected_edges.values()), start)
    assert max(hops.values()) == 2 and len(hops) == len(expected_nodes)  # two hops, all connected
    screenshot(browser, "graph-e2e-03-two-hops")

    # a haircut trace from the ransom address: the services to freeze are the answer key's exchanges
    canvas_click(browser, start)
    wait_until(browser, "return ftGraph.state.selected === arguments[0]", start)
    browser.find_element(By.ID, "g-tab-trace").click()
    browser.find_element(By.CSS_SELECTOR, "#g-policy option[value=haircut]").click()
    browser.find_element(By.ID, "g-run-trace").click()
    services = WebDriverWait(browser, 120).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#g-services li.service") or None)
    with server.client("investigator") as c:
        traced = c.post("/api/v1/graph/trace", json={"seeds": [ransom], "policy": "haircut", "chain": server.chain})
        assert traced.status_code == 200, traced.text[:300]
        truth = traced.json()
    fmt = Formatter("en", zone(None))
    shown = [(s.find_element(By.CSS_SELECTOR, ".service-label").text, s.find_element(By.CSS_SELECTOR, ".amount").text)
             for s in services]
    assert shown == [(s["label"], fmt.amount(s["tainted"], s["decimals"], s["asset"])) for s in truth["services"]]
    labels = [label for label, _ in shown]
    for exchange in server.exchanges:  # the answer key's cash-out services, each named
        assert any(label == exchange or label.startswith(exchange + " ") for label in labels), (exchange, labels)
    marked = set(browser.execute_script("return ftGraph.cy.$('.ep-service').map(n => n.id())"))
    assert marked == {ep["node"] for ep in truth["endpoints"] if ep["reason"] == "service"}
    widths = browser.execute_script(
        "return ftGraph.cy.edges('.tainted').map(e => [Number(e.data('tainted')), e.data('w')])")
    widths.sort()
    assert widths[0][1] < widths[-1][1] and all(a[1] <= b[1] for a, b in itertools.pairwise(widths))
    assert "Trace overlaid" in status(browser)
    screenshot(browser, "graph-e2e-04-haircut-trace")

    # annotate the ransom address through the panel (the note is shown as text, never run)
    canvas_click(browser, start)
    wait_until(browser, "return ftGraph.state.selected === arguments[0]", start)
    browser.find_element(By.CSS_SELECTOR, "#g-panel details.note summary").click()
    browser.find_element(By.ID, "g-note").send_keys(NOTE)
    browser.find_element(By.CSS_SELECTOR, "#g-panel .swatch.note-red").click()
    browser.find_element(By.ID, "g-note-save").click()
    assert wait_for(browser, "#g-note-text").text == NOTE
    assert browser.execute_script("return window.ftXss === undefined")
    label = browser.execute_script("return ftGraph.cy.getElementById(arguments[0]).data('display')", start)
    assert "\n✎ Ransom wallet" in label  # the canvas shows the note's start under the label
    screenshot(browser, "graph-e2e-05-annotated")

    # save, then reload the saved canvas: the note, the trace and every node are back
    drawn = visible(browser)
    name = browser.find_element(By.ID, "g-name")
    name.send_keys("Ransomware case 1")
    browser.find_element(By.ID, "g-save").click()
    WebDriverWait(browser, 60).until(lambda d: "saved=" in d.current_url)
    saved_id = parse_qs(urlsplit(browser.current_url).query)["saved"][0]
    browser.get(f"{server.url}/graph?saved={saved_id}")
    wait_graph(browser)
    assert visible(browser) == drawn
    note = browser.execute_script("return ftGraph.state.annotations[arguments[0]]", start)
    assert note == {"note": NOTE, "colour": "red"}
    canvas_click(browser, start)
    assert wait_for(browser, "#g-note-text").text == NOTE
    assert browser.execute_script("return ftGraph.cy.getElementById(arguments[0]).hasClass('annotated')", start)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#g-services li.service")) == len(truth["services"])
    screenshot(browser, "graph-e2e-06-reloaded")

    # export PNG: a real PNG of plausible size
    data = call(browser, "ftGraph.exportPNG().then(b => new Promise(r => { var f = new FileReader();"
                         " f.onload = () => r(f.result); f.readAsDataURL(b); }))")
    png = base64.b64decode(data.split(",", 1)[1])
    assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR" and len(png) > 10_000
    width, height = struct.unpack(">II", png[16:24])
    assert width > 200 and height > 100

    # Chinese: the language switch reloads the same canvas with Chinese labels
    browser.find_element(By.CSS_SELECTOR, "form.lang button[value=zh_CN]").click()
    WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN")
    wait_graph(browser)
    assert f"saved={saved_id}" in browser.current_url
    bar = browser.find_element(By.CSS_SELECTOR, ".graph-bar").text
    for label in ("折叠交易", "实体视图", "整理布局", "撤销", "保存", "导出"):
        assert label in bar, (label, bar)
    assert "图例" in browser.find_element(By.ID, "g-legend").text
    assert browser.find_element(By.ID, "g-tab-trace").text == "追踪叠加"
    canvas_click(browser, start)
    panel = wait_for(browser, "#g-panel").text
    assert "地址" in panel and "展开输入" in panel and "打开地址页面" in panel
    screenshot(browser, "graph-e2e-07-chinese")
