"""The transaction and cluster pages (issue 15) through a real server and a real browser.

- The demo's ransom payment and an exchange cluster of the demo's answer key: the JSON twin equals the
  API's documents, the page shows what they say (amounts exact, tags, where each output went, the
  why-explanation), and its links lead to the pages they name.
- A wide transaction (5,003 outputs, and one spending 300 of them; `tests/api/graph_support.wide_store`,
  written with the block writer and ingested by the CLI) is paged 200 rows at a time, each row's value
  equal to what the block writer put there.
- An Ethereum transaction of ethereum-etl's real recording (mainnet blocks 1,755,634-5), checked
  against ethereum-etl's expected token transfers.
- Bad input: an unknown txid is a 404 page, a bad cluster id a 422 page, a mistake in the why form
  an error beside the form (the rest of the page kept); twins answer with the API's error document.
- Headless Chromium shows both pages in English and Chinese without a console error (screenshots
  in test-artifacts/screenshots).

Pages are rendered with FUNDTRAIL_I18N_STRICT=1: a message missing from a catalogue fails the page.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn

from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.web.app import create_app
from fundtrail.workspace import Actor, Workspace
from tests.api.graph_support import Wide, wide_store
from web.browser import CSRF_HEADER, http_login, login, screenshot, wait_for

CHAIN = "btc-regtest"
ETH_TX = "0x2e3dcd051a91d3a694f6b8de2ac4b5fe7acdba55f58bcf8471ff00d4a430074d"
RECORDING = "test_stream/blocks_1755634_1755635"
FIGURE_SPACE = "\u2007"



# -- helpers -------------------------------------------------------------------------------------

def btc(sat: int) -> str:
    """Satoshi as the pages show them, computed here independently: grouped, at least 2 decimals."""
    whole, frac = f"{Decimal(sat).scaleb(-8):,.8f}".split(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac} BTC"


def row(page: str, row_id: str) -> str:
    """The HTML of the table row `<tr id="row_id">` (AssertionError when the page lacks it)."""
    found = re.search(rf'<tr id="{re.escape(row_id)}"[^>]*>(.*?)</tr>', page, re.S)
    assert found, f"no row {row_id} in the page"
    return found.group(1)


def row_ids(page: str, prefix: str) -> list[int]:
    """The numbers of the rows `<tr id="prefix-N">`, in page order."""
    return [int(n) for n in re.findall(rf'<tr id="{prefix}-(\d+)"', page)]


def text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped, entities decoded, spaces collapsed."""
    visible = re.sub(r"<script\b.*?</script>", " ", fragment, flags=re.S)  # not the message catalogue
    plain = html.unescape(re.sub(r"<[^>]+>", " ", visible)).replace(FIGURE_SPACE, "")
    return " ".join(plain.split())


def hrefs(fragment: str) -> list[str]:
    """The link targets of an HTML fragment (entities decoded)."""
    return [html.unescape(h) for h in re.findall(r'href="([^"]*)"', fragment)]


def error_doc(response: httpx.Response) -> dict[str, Any]:
    """The API's one error shape, from a twin's failed answer."""
    assert response.headers["content-type"].startswith("application/json"), response.text[:300]
    doc = response.json()
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message", "field"}, doc
    return dict(doc["error"])


# -- a second server: the wide chain and a real Ethereum recording in one store --------------------

@dataclass
class Extra:
    """The server of the wide chain and the Ethereum recording, and the facts to check against."""

    url: str
    wide: Wide
    token_transfers: list[dict[str, Any]]  # ethereum-etl's expected token transfers of the recording
    users: dict[str, str]
    passwords: dict[str, str]

    @contextlib.contextmanager
    def client(self, role: str = "investigator") -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.url, timeout=60) as c:
            user = self.users[role]
            c.headers[CSRF_HEADER] = http_login(c, user, self.passwords[user])
            yield c


@pytest.fixture(scope="module")
def extra(tmp_path_factory: pytest.TempPathFactory, etl_fixtures: Path) -> Iterator[Extra]:
    base = tmp_path_factory.mktemp("wide")
    store, wide = wide_store(base)
    recording = base / "recording"
    shutil.copytree(etl_fixtures / RECORDING, recording)
    assert main(["-q", "--store", str(store), "ingest", "ethereum", "--replay", str(recording), "--chain", "eth"]) == 0
    users = {"investigator": "ines", "analyst": "anton"}
    passwords = {name: secrets.token_urlsafe(12) for name in users.values()}
    ws = Workspace.open(Settings.load(store=store), writable=True, actor=Actor(user="setup", via="python"))
    for role, name in users.items():
        ws.users_add(name, role=role, password=passwords[name])
    app = create_app(Settings.load(store=store, api_refresh_seconds=0))
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False))
    thread = threading.Thread(target=uv.run, daemon=True, name="wide-server")
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = uv.servers[0].sockets[0].getsockname()[1]
    transfers = [json.loads(line) for line in (recording / "expected_token_transfers.json").read_text().splitlines()
                 if line.strip()]
    yield Extra(f"http://127.0.0.1:{port}", wide, transfers, users, passwords)
    uv.should_exit = True
    thread.join(timeout=30)


# -- the transaction page ----------------------------------------------------------------------------

def test_ransom_payment_page_equals_the_api(demo_server: Any) -> None:
    """The demo's first ransom payment: the twin is the API's document; the paid output shows its
    address, tag, exact amount, the spending transaction (whose page links back) and the trace and
    graph entries; an analyst sees no trace button."""
    seed = demo_server.case["seed_outputs"][0]
    txid, vout = seed["txid"], seed["vout"]
    with demo_server.client("investigator") as c:
        api = c.get(f"/api/v1/{CHAIN}/txs/{txid}")
        assert api.status_code == 200
        doc = api.json()
        assert c.get(f"/{CHAIN}/txs/{txid}.json").json() == {"tx": doc}
        assert c.get(f"/{CHAIN}/txs/{txid}", headers={"accept": "application/json"}).json() == {"tx": doc}
        page = c.get(f"/{CHAIN}/txs/{txid}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        out = row(page.text, f"out-{vout}")
        assert seed["address"] in text(out) and btc(seed["value"]) in text(out)
        assert "ransomware-group-1" in text(out) and "Ransomware" in text(out)  # the victims' report tag
        assert f"/{CHAIN}/addresses/{seed['address']}" in hrefs(out)
        assert f"/trace?chain={CHAIN}&seed={quote(f'{txid}:{vout}', safe='')}" in hrefs(out)
        assert f"/graph?chain={CHAIN}&start={quote('t:' + txid, safe='')}" in hrefs(page.text)
        # every output row: value and where it went, as the API's document says
        assert row_ids(page.text, "out") == [o["n"] for o in doc["outputs"]]
        for o in doc["outputs"]:
            cells = row(page.text, f"out-{o['n']}")
            assert btc(o["value"]) in text(cells)
            if o["spent_by"]:
                assert f"/{CHAIN}/txs/{o['spent_by']['txid']}#in-{o['spent_by']['input']}" in hrefs(cells)
            else:
                assert "unspent" in text(cells)
        for i in doc["inputs"]:
            prev, n = i["prevout"].split(":")
            assert f"/{CHAIN}/txs/{prev}#out-{n}" in hrefs(row(page.text, f"in-{i['n']}"))
        assert btc(doc["fee"]) in text(page.text) and btc(doc["input_value"]) in text(page.text)
        # where it went: the spender's page names this output as the one its input spends
        spender = doc["outputs"][vout]["spent_by"]
        assert spender is not None
        onward = c.get(f"/{CHAIN}/txs/{spender['txid']}")
        back = row(onward.text, f"in-{spender['input']}")
        assert f"/{CHAIN}/txs/{txid}#out-{vout}" in hrefs(back) and seed["address"] in text(back)
    with demo_server.client("analyst") as c:
        page = c.get(f"/{CHAIN}/txs/{txid}")
        assert page.status_code == 200 and "/trace?" not in page.text
        assert "ransomware-group-1" in page.text


def test_wide_transaction_is_paged(extra: Extra) -> None:
    """5,003 outputs: 200 rows a page, values as written into the block, the last page holding the
    rest; outputs spent by the gathering transaction link to its input's page and row, and the
    gathering transaction's inputs (paged too) link back."""
    wide, gather = extra.wide.wide_txid, extra.wide.gather_txid
    outputs = extra.wide.outputs
    with extra.client() as c:
        doc = c.get(f"/api/v1/{CHAIN}/txs/{wide}").json()
        assert len(doc["outputs"]) == len(outputs) == 5_003
        twin = c.get(f"/{CHAIN}/txs/{wide}.json")
        assert twin.json() == {"tx": doc}
        first = c.get(f"/{CHAIN}/txs/{wide}")
        assert first.status_code == 200
        assert row_ids(first.text, "out") == list(range(200))
        assert "200 of 5,003 shown" in text(first.text)
        assert len(first.content) < len(twin.content) / 2  # the page does not carry every output
        assert f"/{CHAIN}/txs/{wide}?out_page=26#outputs" in hrefs(first.text)  # the pager's last page
        seventh = c.get(f"/{CHAIN}/txs/{wide}", params={"out_page": 7})
        assert row_ids(seventh.text, "out") == list(range(1200, 1400))
        assert "unspendable (data)" in text(row(seventh.text, "out-1234"))  # the OP_RETURN output
        last = c.get(f"/{CHAIN}/txs/{wide}", params={"out_page": 26})
        assert row_ids(last.text, "out") == [5000, 5001, 5002] and "3 of 5,003 shown" in text(last.text)
        for page in (first, seventh, last):
            for n in row_ids(page.text, "out"):
                assert btc(outputs[n][1]) in text(row(page.text, f"out-{n}")), n
        spent = {o["n"]: o["spent_by"] for o in doc["outputs"] if o["spent_by"]}
        assert len(spent) == len(extra.wide.gathered) == 300
        for n in (0, 199):
            by = spent[n]
            page_param = "" if by["input"] < 200 else "?in_page=2"
            assert f"/{CHAIN}/txs/{gather}{page_param}#in-{by['input']}" in hrefs(row(first.text, f"out-{n}"))
        # the gathering transaction: 300 inputs, the second page holds 100, each linking back
        second = c.get(f"/{CHAIN}/txs/{gather}", params={"in_page": 2})
        assert row_ids(second.text, "in") == list(range(200, 300)) and "100 of 300 shown" in text(second.text)
        for k in range(200, 300):
            cells = row(second.text, f"in-{k}")
            assert btc(extra.wide.gathered[k][1]) in text(cells)
            n = next(n for n, by in spent.items() if by["input"] == k)
            page_param = "" if n < 200 else f"?out_page={n // 200 + 1}"
            assert f"/{CHAIN}/txs/{wide}{page_param}#out-{n}" in hrefs(cells)


@pytest.mark.parametrize(("query", "field"), [({"out_page": 27}, "out_page"), ({"out_page": 0}, "out_page"),
                                              ({"in_page": 2}, "in_page"), ({"in_page": "x"}, "in_page")])
def test_bad_page_numbers_are_named(extra: Extra, query: dict[str, Any], field: str) -> None:
    """A page past the end or not a page number: 422 naming the parameter, page and twin alike."""
    wide = extra.wide.wide_txid
    with extra.client() as c:
        page = c.get(f"/{CHAIN}/txs/{wide}", params=query)
        assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
        assert f"<code>{field}</code>" in page.text
        twin = c.get(f"/{CHAIN}/txs/{wide}.json", params=query)
        assert twin.status_code == 422 and error_doc(twin)["field"] == field


def test_account_transaction_page(extra: Extra) -> None:
    """A real mainnet token transfer (ethereum-etl's recording): the twin is the API's document; the
    page shows the token transfer as ethereum-etl expects it and the fee exactly in ETH."""
    expected = [t for t in extra.token_transfers if t["transaction_hash"] == ETH_TX]
    assert len(expected) == 1
    token = expected[0]
    with extra.client("analyst") as c:
        doc = c.get(f"/api/v1/eth/txs/{ETH_TX}").json()
        assert c.get(f"/eth/txs/{ETH_TX}.json").json() == {"tx": doc}
        page = c.get(f"/eth/txs/{ETH_TX}")
        assert page.status_code == 200
        body = text(page.text)
        assert "ERC-20 token" in body and f"{token['value']:,} base units" in body  # the token declares no decimals
        links = {h.lower() for h in hrefs(page.text)}
        assert f"/eth/addresses/{token['from_address']}" in links and f"/eth/addresses/{token['to_address']}" in links
        assert f"/eth/addresses/{token['token_address']}" in links
        fee = Decimal(doc["fee"]).scaleb(-18)
        assert f"{fee.normalize():f} ETH" in body and "Gas used" in body and f"{doc['gas_used']:,}" in body
        assert "transaction fee" in body and "/trace?" not in page.text


def test_unknown_and_malformed_txids(demo_server: Any) -> None:
    """An unknown txid is a 404 page, a malformed one 422, an unknown chain 404: each naming the
    field; their twins answer with the API's error document."""
    cases = [(CHAIN, "0" * 64, 404, "txid"), (CHAIN, "zz", 422, "txid"), (CHAIN, "0x" + "1" * 64, 422, "txid"),
             ("no-such-chain", "0" * 64, 404, "chain")]
    with demo_server.client("analyst") as c:
        for chain, txid, status, field in cases:
            page = c.get(f"/{chain}/txs/{txid}")
            assert page.status_code == status and page.headers["content-type"].startswith("text/html"), txid
            assert f"<code>{field}</code>" in page.text
            twin = c.get(f"/{chain}/txs/{txid}.json")
            assert twin.status_code == status and error_doc(twin)["field"] == field
            api = c.get(f"/api/v1/{chain}/txs/{txid}")
            assert api.status_code == status and error_doc(api)["code"] == error_doc(twin)["code"]


# -- the cluster page ----------------------------------------------------------------------------------

def exchange_cluster(c: httpx.Client, demo_server: Any) -> dict[str, Any]:
    """The API's document of the cluster of the demo's first cash-out deposit (an exchange's)."""
    point = demo_server.case["cashout_points"][0]
    doc = c.get(f"/api/v1/{CHAIN}/clusters/{point['address']}").json()
    assert point["category"] == "exchange" and any(
        t["category"] == "exchange" and t["label"] == point["actor"] for t in doc["tags"]), doc["tags"]
    assert doc["members"] > 10
    return dict(doc)


def test_exchange_cluster_page_equals_the_api(demo_server: Any) -> None:
    """The exchange's cluster: the twin is the API's three documents; the page shows size, run,
    tag with provenance, and every member of the page linked; members page by cursor."""
    with demo_server.client("analyst") as c:
        cl = exchange_cluster(c, demo_server)
        cid = cl["cluster_id"]
        by_id = c.get(f"/api/v1/{CHAIN}/clusters/{cid}").json()
        members = c.get(f"/api/v1/{CHAIN}/clusters/{cid}/members").json()
        twin = c.get(f"/{CHAIN}/clusters/{cid}.json")
        assert twin.json() == {"cluster": by_id, "members": members, "why": None}
        page = c.get(f"/{CHAIN}/clusters/{cid}")
        assert page.status_code == 200
        body = text(page.text)
        assert f"Cluster #{cid}" in body and f"{by_id['members']} addresses" in body
        assert f"#{by_id['run_id']}" in body and "labels.csv" in body  # the run, the tag's source file
        assert f"/graph?chain={CHAIN}&start={quote(f'c:{cid}', safe='')}" in hrefs(page.text)
        links = hrefs(page.text)
        assert all(f"/{CHAIN}/addresses/{m['address']}" in links for m in members["members"])
        label = by_id["tags"][0]["label"]
        assert label in body and "Exchange (centralised, CEX)" in body
        # opened by a member address: the same cluster, that address named
        by_member = c.get(f"/{CHAIN}/clusters/{cl['address']}.json").json()
        assert by_member["cluster"] == cl and by_member["members"] == members
        # ten members a page: the pager's cursor leads to the API's second page
        small = c.get(f"/{CHAIN}/clusters/{cid}", params={"limit": 10})
        nxt = [h for h in hrefs(small.text) if "cursor=" in h]
        assert len(nxt) == 1 and "limit=10" in nxt[0]
        second = c.get(nxt[0], headers={"accept": "application/json"}).json()
        cursor = c.get(f"/api/v1/{CHAIN}/clusters/{cid}/members", params={"limit": 10}).json()["next_cursor"]
        assert second["members"] == c.get(f"/api/v1/{CHAIN}/clusters/{cid}/members",
                                          params={"limit": 10, "cursor": cursor}).json()


def test_why_two_members_are_one_cluster(demo_server: Any) -> None:
    """The why form: two members of the exchange's cluster are linked step by step (each step's
    transaction linked); a member and a ransom address are not, each shown in its own cluster."""
    with demo_server.client("investigator") as c:
        cl = exchange_cluster(c, demo_server)
        cid = cl["cluster_id"]
        page = c.get(f"/api/v1/{CHAIN}/clusters/{cid}/members").json()["members"]
        a, b = page[1]["address"], page[-1]["address"]
        why = c.get(f"/api/v1/{CHAIN}/clusters/why", params={"a": a, "b": b}).json()
        assert why["linked"] and why["steps"]
        twin = c.get(f"/{CHAIN}/clusters/{cid}.json", params={"a": a, "b": b}).json()
        assert twin["why"] == why
        shown = c.get(f"/{CHAIN}/clusters/{cid}", params={"a": a, "b": b})
        assert shown.status_code == 200
        body = text(shown.text)
        assert f"Linked: {len(why['steps'])} step(s) of evidence join them in cluster #{cid}." in body
        links = hrefs(shown.text)
        for step in why["steps"]:
            assert f"/{CHAIN}/txs/{step['txid']}" in links
            assert f"/{CHAIN}/addresses/{step['from']}" in links and f"/{CHAIN}/addresses/{step['to']}" in links
        # a member's "why with A?" button asks exactly that
        assert f"/{CHAIN}/clusters/{cid}?a={a}&b={page[2]['address']}#why" in links
        ransom = demo_server.ransom_address
        apart = c.get(f"/{CHAIN}/clusters/{cid}", params={"a": a, "b": ransom})
        api = c.get(f"/api/v1/{CHAIN}/clusters/why", params={"a": a, "b": ransom}).json()
        assert not api["linked"] and "Not linked" in text(apart.text)
        assert f"/{CHAIN}/clusters/{api['to_cluster']}" in hrefs(apart.text)


def test_bad_cluster_references(demo_server: Any) -> None:
    """A cluster id that is neither a number nor an address: 422 naming `id`; an unknown cluster
    404; twins answer with the API's error document and code."""
    with demo_server.client("analyst") as c:
        for ref, status in (("not-a-cluster", 422), ("99999999999", 404)):
            page = c.get(f"/{CHAIN}/clusters/{ref}")
            assert page.status_code == status and page.headers["content-type"].startswith("text/html"), ref
            assert "<code>id</code>" in page.text
            twin = c.get(f"/{CHAIN}/clusters/{ref}.json")
            api = c.get(f"/api/v1/{CHAIN}/clusters/{ref}")
            assert twin.status_code == api.status_code == status
            assert error_doc(twin)["field"] == error_doc(api)["field"] == "id"
        bad_limit = c.get(f"/{CHAIN}/clusters/96", params={"limit": 0})
        assert bad_limit.status_code == 422 and "<code>limit</code>" in bad_limit.text


def test_why_form_mistakes_keep_the_page(demo_server: Any) -> None:
    """A mistake in the why form (not an address, a missing one) is shown beside the form, escaped,
    naming the field, with the cluster still on the page; the twin answers with the error document."""
    script = "<script>alert(1)</script>"
    with demo_server.client("analyst") as c:
        cl = exchange_cluster(c, demo_server)
        cid = cl["cluster_id"]
        page = c.get(f"/{CHAIN}/clusters/{cid}", params={"a": script, "b": cl["address"]})
        assert page.status_code == 422
        assert script not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert 'class="error why-error"' in page.text and "<code>a</code>" in page.text
        assert f"/{CHAIN}/addresses/{cl['address']}" in hrefs(page.text)  # the members are still listed
        twin = c.get(f"/{CHAIN}/clusters/{cid}.json", params={"a": script, "b": cl["address"]})
        assert twin.status_code == 422 and error_doc(twin)["field"] == "a"
        half = c.get(f"/{CHAIN}/clusters/{cid}", params={"a": cl["address"]})
        assert half.status_code == 422 and "<code>b</code>" in half.text and f"Cluster #{cid}" in text(half.text)


def test_pages_need_a_reading_role(demo_server: Any) -> None:
    """Logged out: the pages redirect to the login form and the twins answer 401; the auditor (who
    may read only the audit log) gets 403 and no data."""
    txid = demo_server.case["seed_outputs"][0]["txid"]
    paths = [f"/{CHAIN}/txs/{txid}", f"/{CHAIN}/clusters/96"]
    with httpx.Client(base_url=demo_server.url, timeout=60) as c:
        for path in paths:
            page = c.get(path)
            assert page.status_code == 303 and page.headers["location"] == f"/login?next={quote(path, safe='')}"
            twin = c.get(path + ".json")
            assert twin.status_code == 401 and error_doc(twin)["code"] == "unauthenticated"
    with demo_server.client("auditor") as c:
        for path in paths:
            page = c.get(path)
            assert page.status_code == 403 and "Not allowed" in text(page.text)
            assert 'id="out-' not in page.text and "ransomware-group-1" not in page.text
            assert 'id="members"' not in page.text
            twin = c.get(path + ".json")
            assert twin.status_code == 403 and set(twin.json()) == {"error"}


# -- in the browser ------------------------------------------------------------------------------------

def switch_language(driver: Any, code: str) -> None:
    """Press the language switch's button for `code` and wait for the page to come back."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.CSS_SELECTOR, f'form.lang button[value="{code}"]').click()
    lang = "zh-CN" if code == "zh_CN" else "en"
    # read by script: an element found while the page is being replaced goes stale between find and read
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.documentElement.lang") == lang)


def test_pages_in_chromium(demo_server: Any, browser: Any) -> None:
    """The demo's investigator opens the ransom payment, follows the paid output to the transaction
    that spent it, and opens the exchange's cluster with a why answer, in English and in Chinese;
    no console error (the fixture checks), screenshots for people to look at."""
    from selenium.webdriver.common.by import By

    seed = demo_server.case["seed_outputs"][0]
    point = demo_server.case["cashout_points"][0]
    login(browser, demo_server, "demo")
    browser.get(f"{demo_server.url}/{CHAIN}/txs/{seed['txid']}")
    paid = wait_for(browser, f"#out-{seed['vout']}")
    assert seed["address"] in paid.text and "ransomware-group-1" in paid.text
    screenshot(browser, "tx-ransom-payment-en")
    paid.find_element(By.CSS_SELECTOR, "a[href*='#in-']").click()
    target = browser.execute_script("return location.hash")
    assert target.startswith("#in-")
    row_el = wait_for(browser, target)
    assert seed["txid"][:12] in row_el.text and seed["address"] in row_el.text
    browser.get(f"{demo_server.url}/{CHAIN}/clusters/{point['address']}")
    members = browser.find_elements(By.CSS_SELECTOR, "#members tbody tr")
    assert len(members) > 10
    why = browser.find_elements(By.CSS_SELECTOR, "#members a.button")[1]
    why.click()
    assert wait_for(browser, ".answer.linked").text.startswith("Linked:")
    screenshot(browser, "cluster-exchange-why-en")
    switch_language(browser, "zh_CN")
    assert "关联" in wait_for(browser, ".answer").text
    assert browser.find_element(By.CSS_SELECTOR, "#members h2").text.startswith("成员地址")
    screenshot(browser, "cluster-exchange-why-zh_CN")
    browser.get(f"{demo_server.url}/{CHAIN}/txs/{seed['txid']}")
    heads = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#outputs th")]
    assert "资金去向" in heads and "金额" in heads
    assert "未花费" in browser.page_source or "已花费于" in browser.page_source
    screenshot(browser, "tx-ransom-payment-zh_CN")
