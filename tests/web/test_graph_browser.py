"""The graph canvas (`/graph`), in a real headless Chromium against real servers: the demo's store
and a written chain with a 2,400-output transaction and three payments between the same two
addresses (`web.graph_support`). Expected values come from the graph API over HTTP or from the
facts written down while building the chain, never from the page itself. No timing is asserted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.address import address_for_script
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.web.i18n import Formatter, zone
from web.browser import allow_console_errors, login, screenshot, wait_for
from web.graph_support import (PAYMENTS, GraphServer, call, canvas_click, canvas_server,
                               open_graph, status, visible, wait_until)

EN = Formatter("en", zone(None))


@pytest.fixture(scope="module")
def server(demo_server: Any) -> Any:
    """The demo's server."""
    return demo_server


@pytest.fixture(scope="module")
def canvas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphServer]:
    """The written chain (module doc), ingested and served."""
    with canvas_server(tmp_path_factory.mktemp("canvas")) as served:
        yield served


def graph_url(server: Any, start: str, **more: str) -> str:
    return f"{server.url}/graph?" + urlencode({"chain": "btc-regtest", "start": start, **more})


def api(server: Any, path: str, role: str = "investigator") -> dict[str, Any]:
    """A graph API document over HTTP (the tests' oracle)."""
    with _client(server, role) as c:
        answer = c.get(f"/api/v1/btc-regtest/graph/{path}")
        assert answer.status_code == 200, answer.text[:300]
        return dict(answer.json())


def _client(server: Any, role: str) -> Any:
    if hasattr(server, "client"):
        return server.client(role)
    from web.support_security import login_client
    return login_client(server.url, server.users[role], server.passwords[server.users[role]])


def edges_on_canvas(browser: Any) -> set[str]:
    return set(browser.execute_script("return Array.from(ftGraph.state.edges.keys())"))


# -- the page and its twin over HTTP --------------------------------------------------------------
def test_twin_is_the_start_nodes_first_page(server: Any) -> None:
    """`/graph.json` (and `Accept: application/json`) is `{"graph": the API's first page of start}`."""
    ransom = server.ransom_address
    first = api(server, f"addresses/{ransom}?direction=both&limit=100")
    tx = next(n for n in first["nodes"] if n["kind"] == "tx")
    cluster = first["nodes"][0]["cluster_id"]
    with server.client("analyst") as c:
        for start, path in ((f"a:{ransom}", f"addresses/{ransom}?direction=both&limit=100"),
                            (f"t:{tx['txid']}", f"txs/{tx['txid']}?direction=both&limit=100"),
                            (f"c:{cluster}", f"clusters/{cluster}?limit=100")):
            twin = c.get("/graph.json", params={"chain": server.chain, "start": start})
            assert twin.status_code == 200, twin.text[:300]
            assert twin.json() == {"graph": c.get(f"/api/v1/{server.chain}/graph/{path}").json()}
            accept = c.get("/graph", params={"chain": server.chain, "start": start},
                           headers={"accept": "application/json"})
            assert accept.json() == twin.json()
        page = c.get("/graph", params={"chain": server.chain, "start": f"a:{ransom}"})
        assert page.status_code == 200 and 'id="cy"' in page.text
        assert '<script src="/vendor/cytoscape.min.js"></script>' in page.text
        assert c.get("/graph.json").json() == {"graph": None}  # no start: an empty canvas


def test_bad_links_say_which_field(server: Any) -> None:
    """A malformed start, trace or saved id is a one-line error naming the field; nothing is drawn."""
    ransom = server.ransom_address
    unused = address_for_script(w.p2wpkh(b"\x01" * 20), REGTEST)  # a regtest address nothing paid
    with server.client("investigator") as c:
        cases = [({"start": ransom}, 422, "start"), ({"start": "x:1"}, 422, "start"),
                 ({"start": f"a:{unused}"}, 404, "address"),
                 ({"start": f"a:{ransom}", "trace": "hops=many"}, 422, "trace"),
                 ({"start": f"a:{ransom}", "chain": "no-such-chain"}, 404, "chain"),
                 ({"saved": "g-0000000000000000"}, 404, "id")]
        for params, code, field in cases:
            twin = c.get("/graph.json", params=params)
            assert twin.status_code == code and twin.json()["error"]["field"] == field, (params, twin.text[:300])
            page = c.get("/graph", params=params)
            assert page.status_code == code and 'id="cy"' not in page.text, params


def test_who_may_open_the_graph(server: Any) -> None:
    """Logged out: login page (the twin 401); the auditor may not read chains (403); the analyst gets
    the canvas without the trace overlay, the investigator with it."""
    query = {"chain": server.chain, "start": f"a:{server.ransom_address}"}
    with httpx.Client(base_url=server.url, timeout=60) as c:
        page = c.get("/graph", params=query)
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        assert c.get("/graph.json", params=query).status_code == 401
    with server.client("auditor") as c:
        assert c.get("/graph", params=query).status_code == 403
        assert c.get("/graph.json", params=query).status_code == 403
    with server.client("analyst") as c:
        page = c.get("/graph", params=query)
        assert page.status_code == 200 and 'id="g-trace"' not in page.text and '"canTrace": false' in page.text
        linked = c.get("/graph", params={**query, "trace": "policy=fifo"})
        assert "may not run traces" in linked.text and '"trace": null' in linked.text
    with server.client("investigator") as c:
        page = c.get("/graph", params={**query, "trace": "policy=fifo&hops=4"})
        assert 'id="g-trace"' in page.text and '"canTrace": true' in page.text
        assert '"policy": "fifo"' in page.text and '"hops": 4' in page.text


def test_missing_library_is_named(server: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the npm packages the page names them instead of loading a canvas that cannot work."""
    monkeypatch.setenv("FUNDTRAIL_WEB_ASSETS", str(tmp_path))
    with server.client("investigator") as c:
        page = c.get("/graph", params={"chain": server.chain, "start": f"a:{server.ransom_address}"})
    assert page.status_code == 200 and "cytoscape" in page.text and "npm ci" in page.text
    assert "/vendor/" not in page.text and 'id="cy"' not in page.text


def test_saved_canvas_of_another_user_is_not_found(server: Any) -> None:
    """A saved canvas is its owner's: another user's `?saved=` is 404, not their graph."""
    doc = {"format": "fundtrail-graph", "version": 1, "nodes": [], "edges": []}
    with server.client("investigator") as c:
        saved = c.post("/api/v1/graphs", json={"name": "mine", "chain": server.chain, "document": doc})
        assert saved.status_code == 201, saved.text[:300]
        gid = saved.json()["id"]
        mine = c.get("/graph.json", params={"saved": gid})
        assert mine.status_code == 200 and mine.json()["saved"]["document"] == doc
    with server.client("analyst") as c:
        assert c.get("/graph", params={"saved": gid}).status_code == 404
        assert c.get("/graph.json", params={"saved": gid}).json()["error"]["field"] == "id"


# -- the canvas in the browser, demo store ----------------------------------------------------------
def test_entity_view_merges_the_ransom_cluster(server: Any, browser: Any) -> None:
    """The four ransom addresses (one cluster) become one entity node whose edge into the
    consolidating transaction sums their four inputs; the address view comes back."""
    ransom = server.ransom_address
    login(browser, server, "investigator")
    open_graph(browser, graph_url(server, f"a:{ransom}"))
    first = api(server, f"addresses/{ransom}?direction=both&limit=100")
    spend = next(e["target"] for e in first["edges"] if e["kind"] == "input")
    call(browser, "ftGraph.expand(args[0], 'in')", spend)
    into = api(server, f"txs/{spend[2:]}?direction=in&limit=100")
    members = {n["id"] for n in into["nodes"] if n["kind"] == "address"}
    cluster = first["nodes"][0]["cluster_id"]
    assert len(members) == 4 and {n["cluster_id"] for n in into["nodes"] if n["kind"] == "address"} == {cluster}
    assert members <= visible(browser)
    browser.find_element(By.ID, "g-entity").click()
    wait_until(browser, "return ftGraph.state.toggles.entity")
    shown = visible(browser)
    entity = f"e:{cluster}"
    assert entity in shown and not members & shown
    data = browser.execute_script("var e = ftGraph.cy.getElementById(arguments[0]); return e.data();", entity)
    assert set(data["members"]) == members and data["cluster_size"] == 4
    flow = browser.execute_script(
        "return ftGraph.cy.edges(':visible').filter(e => e.data('source') === arguments[0] &&"
        " e.data('target') === arguments[1]).map(e => e.data())", entity, spend)
    assert len(flow) == 1
    assert flow[0]["count"] == 4 and int(flow[0]["value"]) == sum(int(e["value"]) for e in into["edges"])
    canvas_click(browser, entity)
    assert "4 of its 4 addresses on the canvas" in wait_for(browser, "#g-panel").text
    wait_for(browser, "#g-panel button.expand-members").click()  # the cluster's own node joins the entity
    wait_until(browser, "return ftGraph.state.nodes.has(arguments[0]) && !ftGraph.state.expanding(arguments[0])",
               f"c:{cluster}")
    assert entity in visible(browser) and f"c:{cluster}" not in visible(browser) and not members & visible(browser)
    screenshot(browser, "graph-entity-view")
    browser.find_element(By.ID, "g-entity").click()
    wait_until(browser, "return !ftGraph.state.toggles.entity")
    assert members <= visible(browser) and entity not in visible(browser)


def test_undo_takes_back_each_change(server: Any, browser: Any) -> None:
    """Expanding (twice), hide, note, pin, fold and a drag with the mouse are each undone, newest first."""
    ransom = server.ransom_address
    start = f"a:{ransom}"
    login(browser, server, "investigator")
    open_graph(browser, graph_url(server, start))
    before_nodes, before_edges = visible(browser), edges_on_canvas(browser)
    txs = sorted(n for n in before_nodes if n.startswith("t:"))
    call(browser, "ftGraph.expand(args[0], 'both')", txs[0])
    half = visible(browser)
    call(browser, "ftGraph.expand(args[0], 'both')", txs[1])
    expanded = visible(browser)
    assert expanded > before_nodes
    victim = sorted(expanded - before_nodes)[0]
    call(browser, "ftGraph.hide(args[0])", victim)
    call(browser, "ftGraph.annotate(args[0], 'seen in the ledger', 'blue')", start)
    call(browser, "ftGraph.pin(args[0], true)", start)
    call(browser, "ftGraph.fold(true)")
    moved = sorted(n for n in expanded - {start, victim} if n.startswith("a:"))[0]  # an address: folding keeps it
    where = browser.execute_script("return ftGraph.cy.getElementById(arguments[0]).position()", moved)
    canvas_click(browser, moved)
    canvas = browser.find_element(By.ID, "cy")
    ActionChains(browser).move_to_element(canvas).click_and_hold().move_by_offset(60, 40).release().perform()
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return ftGraph.state.undoStack.slice(-1)[0].label") == "move")
    after = browser.execute_script("return ftGraph.cy.getElementById(arguments[0]).position()", moved)
    assert after != where
    labels = browser.execute_script("return ftGraph.state.undoStack.map(u => u.label)")
    assert labels == ["expand", "expand", "hide", "note", "pin", "fold", "move"]

    def undo() -> None:
        browser.find_element(By.ID, "g-undo").click()

    undo()
    assert browser.execute_script("return ftGraph.cy.getElementById(arguments[0]).position()", moved) == where
    undo()
    assert not browser.execute_script("return ftGraph.state.toggles.fold") and not browser.find_element(
        By.ID, "g-fold").is_selected()
    undo()
    assert not browser.execute_script("return ftGraph.cy.getElementById(arguments[0]).locked()", start)
    undo()
    assert browser.execute_script("return ftGraph.state.annotations[arguments[0]] === undefined", start)
    undo()
    assert visible(browser) == expanded
    undo()
    assert visible(browser) == half
    undo()
    assert visible(browser) == before_nodes and edges_on_canvas(browser) == before_edges
    assert browser.find_element(By.ID, "g-undo").get_attribute("disabled") is not None
    assert "Undone" in status(browser)


def test_hidden_nodes_come_back(server: Any, browser: Any) -> None:
    """Hide from the panel: the node and its edges go; "Show hidden (1)" brings them back."""
    start = f"a:{server.ransom_address}"
    login(browser, server, "investigator")
    open_graph(browser, graph_url(server, start))
    nodes, edges = visible(browser), visible(browser, "edge")
    tx = sorted(n for n in nodes if n.startswith("t:"))[0]
    canvas_click(browser, tx)
    wait_for(browser, "#g-hide").click()
    assert visible(browser) == nodes - {tx} and len(visible(browser, "edge")) < len(edges)
    unhide = browser.find_element(By.ID, "g-unhide")
    assert unhide.is_enabled() and unhide.text.endswith("(1)")
    unhide.click()
    assert visible(browser) == nodes and visible(browser, "edge") == edges
    assert not browser.find_element(By.ID, "g-unhide").is_enabled()


def test_analyst_sees_no_trace_overlay(server: Any, browser: Any) -> None:
    """An analyst's canvas has no trace controls; a trace link is not run; the API refuses anyway."""
    login(browser, server, "analyst")
    open_graph(browser, graph_url(server, f"a:{server.ransom_address}", trace="policy=poison"))
    assert not browser.find_elements(By.ID, "g-trace") and not browser.find_elements(By.ID, "g-tab-trace")
    assert "may not run traces" in browser.find_element(By.ID, "g-side").text
    assert browser.execute_script("return ftGraph.state.trace") is None
    answer = browser.execute_async_script(
        "var done = arguments[0]; ftGraph.overlayTrace('haircut').then(() => done('ran'), e => done(e.message));")
    assert "may not run traces" in answer
    allow_console_errors(browser, r"/api/v1/graph/trace .*403")
    refused = browser.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "ft.api('/api/v1/graph/trace', {method: 'POST', body: {seeds: [arguments[0]]}})"
        ".then(() => done(0), e => done(e.status));", server.ransom_address)
    assert refused == 403


def test_trace_link_overlays_on_opening(server: Any, browser: Any) -> None:
    """`trace=` (the trace page's query) is run on opening, with its policy, for an investigator."""
    ransom = server.ransom_address
    login(browser, server, "investigator")
    query = urlencode([("seed", ransom), ("policy", "fifo"), ("stop_at", "exchange"), ("stops", "1")])
    open_graph(browser, graph_url(server, f"a:{ransom}", trace=query))
    assert browser.execute_script("return ftGraph.state.trace.policy") == "fifo"
    assert browser.find_element(By.ID, "g-policy").get_attribute("value") == "fifo"
    with server.client("investigator") as c:
        truth = c.post("/api/v1/graph/trace", json={"seeds": [ransom], "policy": "fifo", "stop_at": ["exchange"],
                                                    "chain": server.chain}).json()
    labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#g-services .service-label")]
    assert labels == [s["label"] for s in truth["services"]] and labels
    screenshot(browser, "graph-trace-link-fifo")


def test_account_transfers_fold_per_pair_and_asset(server: Any, browser: Any) -> None:
    """Account chains: transfers per (from, to, asset) fold into one edge with count and exact total
    (uint256 amounts added as integers); a single transfer stays as it is."""
    login(browser, server, "investigator")
    open_graph(browser, f"{server.url}/graph")
    a, b, token = "a:0x" + "11" * 20, "a:0x" + "22" * 20, "0x" + "33" * 20
    big = str(2**200 + 7)

    def node(nid: str) -> dict[str, Any]:
        return {"id": nid, "kind": "address", "chain": "eth-test", "label": nid[2:10], "address": nid[2:], "tags": []}

    def transfer(i: int, src: str, dst: str, value: str, asset: str, decimals: int) -> dict[str, Any]:
        return {"id": f"x:0x{i:064x}:0", "source": src, "target": dst, "kind": "transfer", "txid": f"0x{i:064x}",
                "value": value, "asset": asset, "symbol": "ETH" if asset == "ETH" else "TOK", "decimals": decimals,
                "time": f"2024-01-0{i}T00:00:00Z", "height": i, "count": 1, "transfer_kind": "native", "tainted": None}

    page = {"nodes": [node(a), node(b)],
            "edges": [transfer(1, a, b, big, "ETH", 18), transfer(2, a, b, "5", "ETH", 18),
                      transfer(3, a, b, "1000000", token, 6), transfer(4, b, a, "9", "ETH", 18)]}
    call(browser, "(ftGraph.state.config.family = 'account', ftGraph.state.config.chain = 'eth-test',"
                  " ftGraph.state.merge(args[0], {}), ftGraph.state.refresh(), ftGraph.fold(true))", page)
    shown = browser.execute_script("return ftGraph.cy.edges(':visible').map(e => e.data())")
    folded = [e for e in shown if e["kind"] == "folded"]
    assert len(folded) == 1 and folded[0]["count"] == 2 and folded[0]["value"] == str(2**200 + 12)
    assert folded[0]["source"] == a and folded[0]["target"] == b and folded[0]["asset"] == "ETH"
    assert {e["id"] for e in shown if e["kind"] == "transfer"} == {page["edges"][2]["id"], page["edges"][3]["id"]}
    call(browser, "ftGraph.fold(false)")
    assert visible(browser, "edge") == {e["id"] for e in page["edges"]}


# -- the written chain: paging, fold, timeline, 2,000 nodes -------------------------------------------
def test_a_wide_transaction_pages_a_hundred_at_a_time(canvas: GraphServer, browser: Any) -> None:
    """2,400 outputs arrive a hundred at a time: the panel says how many are left, and "load more"
    adds exactly the API's next page (the click returns at once; the page keeps answering)."""
    assert canvas.chain is not None
    wide = canvas.chain.wide_txid
    login(browser, canvas, "investigator")
    open_graph(browser, graph_url(canvas, f"t:{wide}"))
    first = api(canvas, f"txs/{wide}?direction=both&limit=100")
    assert edges_on_canvas(browser) == {e["id"] for e in first["edges"]} and len(first["edges"]) == 100
    left = first["total"] - 100
    more = wait_for(browser, "#g-panel button.expand-both")
    assert more.text == f"Load 100 more ({EN.int(left)} left)"
    assert f"100 of {EN.int(first['total'])} loaded" in browser.find_element(By.ID, "g-panel").text
    more.click()
    assert browser.execute_script("return 1 + 1") == 2  # the click returned; the page answers
    wait_until(browser, "return ftGraph.state.edges.size === 200")
    second = api(canvas, f"txs/{wide}?direction=both&limit=100&cursor={quote(first['next_cursor'])}")
    assert edges_on_canvas(browser) == {e["id"] for e in first["edges"] + second["edges"]}
    wait_until(browser, "return document.querySelector('#g-panel button.expand-both').textContent === arguments[0]",
               f"Load 100 more ({EN.int(left - 100)} left)")
    screenshot(browser, "graph-wide-two-pages")


def test_three_payments_fold_into_one_edge(canvas: GraphServer, browser: Any) -> None:
    """Payer -> tx -> payee three times folds into one edge (3 transactions, what the payee got);
    unfolding brings back the transactions and their edges."""
    chain = canvas.chain
    assert chain is not None
    payer, payee = f"a:{chain.payer}", f"a:{chain.payee}"
    login(browser, canvas, "investigator")
    open_graph(browser, graph_url(canvas, payer))
    for txid in chain.payment_txids:
        call(browser, "ftGraph.expand(args[0], 'out')", f"t:{txid}")
    raw_nodes, raw_edges = visible(browser), visible(browser, "edge")
    assert payee in raw_nodes
    browser.find_element(By.ID, "g-fold").click()
    wait_until(browser, "return ftGraph.state.toggles.fold")
    folded = browser.execute_script("return ftGraph.cy.edges(':visible').filter(e => e.data('kind') === 'folded')"
                                    ".map(e => e.data())")
    assert [(f["source"], f["target"], f["count"], int(f["value"])) for f in folded] == [
        (payer, payee, 3, sum(PAYMENTS))]
    assert sorted(folded[0]["txids"]) == sorted(chain.payment_txids)
    assert EN.amount(sum(PAYMENTS), 8, "BTC") in folded[0]["elabel"] and "3 tx" in folded[0]["elabel"]
    assert not {f"t:{t}" for t in chain.payment_txids} & visible(browser)
    screenshot(browser, "graph-folded")
    browser.find_element(By.ID, "g-fold").click()
    wait_until(browser, "return !ftGraph.state.toggles.fold")
    assert visible(browser) == raw_nodes and visible(browser, "edge") == raw_edges


def test_timeline_filters_edges_and_their_orphans(canvas: GraphServer, browser: Any) -> None:
    """The timeline's end moved to the first block: later edges go, with the nodes only they
    reached; "All times" brings everything back."""
    chain = canvas.chain
    assert chain is not None
    login(browser, canvas, "investigator")
    open_graph(browser, graph_url(canvas, f"a:{chain.payer}"))
    first = api(canvas, f"addresses/{chain.payer}?direction=both&limit=100")
    nodes, edges = visible(browser), visible(browser, "edge")
    earliest = min(e["time"] for e in first["edges"])
    early = {e["id"] for e in first["edges"] if e["time"] == earliest}
    end = wait_for(browser, "#g-tl-to")
    end.send_keys(Keys.HOME)
    wait_until(browser, "return ftGraph.state.timeline.to !== null")
    assert visible(browser, "edge") == early
    reached = {first["center"]} | {e["source"] for e in first["edges"] if e["id"] in early} | {
        e["target"] for e in first["edges"] if e["id"] in early}
    assert visible(browser) == reached and len(reached) < len(nodes)
    assert "narrowed" in browser.find_element(By.ID, "g-tl-label").get_attribute("class")
    browser.find_element(By.ID, "g-tl-reset").click()
    assert visible(browser) == nodes and visible(browser, "edge") == edges


def test_two_thousand_nodes_stay_usable(canvas: GraphServer, browser: Any) -> None:
    """2,400 neighbours on the canvas: fold, entity view, the timeline, a drag and a click still
    work and nothing is logged as an error."""
    assert canvas.chain is not None
    wide = f"t:{canvas.chain.wide_txid}"
    login(browser, canvas, "investigator")
    open_graph(browser, graph_url(canvas, wide))
    while browser.execute_script("var p = ftGraph.state.paging[arguments[0]].both; return !!p.cursor", wide):
        call(browser, "ftGraph.expand(args[0], 'more', 1000)", wide)
    assert len(visible(browser)) > 2_000
    for toggle in ("g-fold", "g-entity", "g-fold", "g-entity"):
        browser.find_element(By.ID, toggle).click()
    call(browser, "ftGraph.setTimeline(0, 1)")  # a window before every edge: only the start is left
    assert visible(browser) == {wide}
    call(browser, "ftGraph.setTimeline(null, null)")
    assert len(visible(browser)) > 2_000
    target = f"a:{canvas.chain.wide_addresses[0]}"
    canvas_click(browser, target)
    wait_until(browser, "return ftGraph.state.selected === arguments[0]", target)
    assert canvas.chain.wide_addresses[0] in browser.find_element(By.ID, "g-panel").text
    ActionChains(browser).move_to_element(browser.find_element(By.ID, "cy")).click_and_hold().move_by_offset(
        80, 30).release().perform()
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return ftGraph.state.undoStack.slice(-1)[0].label") == "move")
    call(browser, "(ftGraph.cy.fit(), null)")
    screenshot(browser, "graph-2400-nodes")


def test_saved_graphs_are_listed_loaded_and_overwritten(canvas: GraphServer, browser: Any) -> None:
    """Save under a name (the URL then names the saved canvas), save again under the same name
    (the same id, overwritten), pick it from the list and load it; SVG and JSON exports."""
    chain = canvas.chain
    assert chain is not None
    payer = f"a:{chain.payer}"
    login(browser, canvas, "investigator")
    open_graph(browser, graph_url(canvas, payer))
    first = call(browser, "ftGraph.save('payments').then(s => s.id)")
    assert f"saved={first}" in browser.current_url
    call(browser, "ftGraph.expand(args[0], 'out')", f"t:{chain.payment_txids[0]}")
    drawn = visible(browser)
    again = call(browser, "ftGraph.save('payments').then(s => s.id)")
    assert again == first
    other = call(browser, "ftGraph.save('other name').then(s => s.id)")
    assert other != first
    open_graph(browser, f"{canvas.url}/graph")
    options = WebDriverWait(browser, 30).until(
        lambda d: [o.get_attribute("value") for o in d.find_elements(By.CSS_SELECTOR, "#g-saved option")][1:] or None)
    assert set(options) >= {first, other}
    browser.find_element(By.CSS_SELECTOR, f"#g-saved option[value='{first}']").click()
    browser.find_element(By.ID, "g-load").click()
    wait_until(browser, "return ftGraph.state.saved && ftGraph.state.saved.id === arguments[0]", first)
    assert visible(browser) == drawn and browser.find_element(By.ID, "g-name").get_attribute("value") == "payments"
    svg = call(browser, "ftGraph.exportSVG().text()")
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in svg
    # our own exporter: one shape per drawn node (plus the background) and one path per drawn edge
    edges = len(visible(browser, "edge"))
    shapes = len(re.findall(r"<(?:ellipse|rect|polygon) ", svg)) - 1
    assert shapes == len(drawn) and svg.count("marker-end=") == edges, (shapes, len(drawn), edges)
    doc = call(browser, "ftGraph.exportJSON()")
    assert doc["format"] == "fundtrail-graph" and {n["id"] for n in doc["nodes"]} == drawn


def test_trace_overlay_is_removed_and_undone(server: Any, browser: Any) -> None:
    """Removing the overlay drops widths, marks and the list (the nodes stay); undo brings it back."""
    ransom = server.ransom_address
    login(browser, server, "investigator")
    open_graph(browser, graph_url(server, f"a:{ransom}"))
    tg = call(browser, "ftGraph.overlayTrace('poison').then(tg => ({services: tg.services.length}))")
    nodes = visible(browser)
    marks = "return ftGraph.cy.$('.ep-service, .ep-unspent, .ep-limit, .ep-other').length"
    marked = browser.execute_script(marks)
    assert marked > 0 and tg["services"] > 0
    assert "poison" in browser.find_element(By.CSS_SELECTOR, "#g-trace-result .summary").text
    browser.find_element(By.ID, "g-clear-trace").click()
    assert browser.execute_script("return ftGraph.cy.$('.tainted, .ep-service, .ep-unspent').length") == 0
    assert not browser.find_elements(By.CSS_SELECTOR, "#g-services li") and visible(browser) == nodes
    browser.find_element(By.ID, "g-undo").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#g-services > li")) == tg["services"]
    assert browser.execute_script(marks) == marked


def test_graph_catalogues_are_complete() -> None:
    """Every message of the canvas (its template and scripts) is in both catalogues with the same
    placeholders, and the Chinese texts are Chinese (tests/web/test_i18n.py checks all pages)."""
    import re

    from fundtrail.web import i18n
    from web.i18n_extract import source_ids

    ids = {msgid for msgid, files in source_ids().items() if any("graph" in f for f in files)}
    assert len(ids) > 100 and "Fold transactions" in ids and "Choose a saved graph first." in ids
    en, zh = i18n.catalogue("en"), i18n.catalogue("zh_CN")
    for msgid in sorted(ids):
        assert msgid in en and msgid in zh, msgid
        assert set(re.findall(r"\{(\w+)\}", zh[msgid])) == set(re.findall(r"\{(\w+)\}", msgid)), msgid
        assert re.search(r"[\u4e00-\u9fff]", zh[msgid]), (msgid, zh[msgid])


def test_the_trace_pages_link_draws_its_trace(server: Any, browser: Any) -> None:
    """The trace page's "show on the graph" link (`/graph?chain=&trace=`, no start) draws the trace
    from its seeds on an empty canvas, with the services to freeze."""
    seed = server.case["seed_outputs"][0]
    outpoint = f"{seed['txid']}:{seed['vout']}"
    login(browser, server, "investigator")
    query = urlencode([("seed", outpoint), ("policy", "haircut")])
    open_graph(browser, f"{server.url}/graph?" + urlencode({"chain": server.chain, "trace": query}))
    with server.client("investigator") as c:
        truth = c.post("/api/v1/graph/trace", json={"seeds": [outpoint], "policy": "haircut",
                                                    "chain": server.chain}).json()
    assert visible(browser) == {n["id"] for n in truth["nodes"]}
    labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#g-services .service-label")]
    assert labels == [s["label"] for s in truth["services"]] and labels
    assert not browser.find_element(By.ID, "g-empty").is_displayed()
    screenshot(browser, "graph-trace-page-link")


def test_an_api_error_is_shown_in_the_status_line(server: Any, browser: Any) -> None:
    """A refused call (here a trace with a bad option) shows the API's one-line message in the page."""
    login(browser, server, "investigator")
    open_graph(browser, graph_url(server, f"a:{server.ransom_address}"))
    allow_console_errors(browser, r"/api/v1/graph/trace .*422")
    answer = browser.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "ftGraph.overlayTrace('haircut', {direction: 'sideways'}).then(() => done('ran'), e => done(e.message));")
    assert answer != "ran" and "direction" in answer
    assert status(browser) == answer
    assert "error" in browser.find_element(By.ID, "g-status").get_attribute("class")
    assert browser.execute_script("return ftGraph.state.trace") is None
