"""The trace, tags-and-actors, audit-log and users pages (issue 15) through a real server.

- Trace: the demo's four ransom payments traced on the page name every cash-out service of the
  simulator's answer key in the freeze list, with the amounts of `POST /api/v1/{chain}/trace`
  (the twin is that document); compare mode runs poison, haircut and FIFO; a bad option shows the
  form again with the error beside its field (the twin: the API's error document naming it).
- Tags: the demo's `ransomware-group-1` with its provenance (source, file:line), as the API finds
  it; an analyst's tag added through the form (CSRF) shows up with its creator; a label written as
  markup is shown as text on the tags page and the address page, in Chromium too; a conflict and an
  actor's addresses are listed.
- Audit: the lookups one user just made are on the auditor's page (and its twin), newest first, with
  the log's verification; filters and pages; a bad filter is an error beside its field.
- Users: the admin adds a user with a password through the form, the user logs in, the admin
  disables them and their session ends; the password never reaches the page or the audit log.
- Forms without the session's CSRF token are refused (403) and change nothing.

Read-only questions go to the shared `demo_server`; tests that add tags or users run on a private
copy of its store. Pages are rendered with FUNDTRAIL_I18N_STRICT=1 (a message missing from a
catalogue fails the page); screenshots of each page in both languages go to test-artifacts.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import pytest

from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.web import i18n
from fundtrail.web.routes_tags import CATEGORIES, CONFIDENCES
from fundtrail.web.trace_form import SERVICE_CATEGORIES
from fundtrail.web.trace_view import reason_texts
from fundtrail.workspace import Actor, Workspace
from web.browser import CSRF_FIELD, login, screenshot, wait_for
from web.support_security import CSRF_HEADER, Served, audit_records, login_client, serve_copy, serve_store

CURRENCY = "BTC-REGTEST"  # the demo's testnet-shaped addresses: a tag names its currency
FIGURE_SPACE = "\u2007"



@pytest.fixture(scope="module")
def own(demo_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A private workbench on a copy of the demo's store (same users and passwords)."""
    with serve_copy(demo_server.store, tmp_path_factory.mktemp("pages-h3") / "store") as served:
        yield served


def client(server: Any, demo_server: Any, role: str) -> Any:
    """A client of `server` (the demo's or a private copy) logged in as `role` through the form."""
    user = demo_server.users[role]
    return login_client(server.url, user, demo_server.passwords[user])


# -- helpers -------------------------------------------------------------------------------------

def btc(sat: int) -> str:
    """Satoshi as the pages show them, computed here: grouped, at least 2 decimals, no float."""
    whole, frac = f"{Decimal(sat).scaleb(-8):,.8f}".split(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')} BTC"


def section(page: str, section_id: str) -> str:
    """The HTML of `<section ... id="section_id">` up to its end."""
    found = re.search(rf'<section[^>]*id="{re.escape(section_id)}"[^>]*>(.*?)</section>', page, re.S)
    assert found, f"no section {section_id} in the page"
    return found.group(1)


def text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped, entities decoded, spaces collapsed."""
    visible = re.sub(r"<script\b.*?</script>", " ", fragment, flags=re.S)
    plain = html.unescape(re.sub(r"<[^>]+>", " ", visible)).replace(FIGURE_SPACE, "")
    return " ".join(plain.split())


def rows(fragment: str) -> list[str]:
    """The body rows of the tables in a fragment, as text."""
    return [text(r) for r in re.findall(r"<tr\b[^>]*>(.*?)</tr>", fragment, re.S) if "<th" not in r]


def field_error(page: str, field: str) -> str:
    """The error shown beside the form field `field`, which is marked invalid (AssertionError when
    there is none)."""
    found = re.search(rf'<span class="field-error" role="alert" id="err-{re.escape(field)}">(.*?)</span>', page, re.S)
    assert found, f"no error beside field {field}"
    assert re.search(rf'name="{re.escape(field)}"[^>]*aria-invalid="true"', page), f"{field} not marked invalid"
    return html.unescape(found.group(1))


def error_doc(response: httpx.Response) -> dict[str, Any]:
    """The API's one error shape, from a twin's failed answer."""
    assert response.headers["content-type"].startswith("application/json"), response.text[:300]
    doc = response.json()
    assert set(doc) == {"error"}, doc
    return dict(doc["error"])


def trace_query(demo_server: Any, **more: str) -> str:
    pairs = [("chain", demo_server.chain)] + [("seed", a) for a in demo_server.ransom_addresses]
    return urlencode(pairs + list(more.items()))


def without_timing(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "elapsed_ms"}


def csrf_post(c: httpx.Client, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
    """A form post with the session's CSRF token, as the page's form sends it."""
    return c.post(path, data=data | {CSRF_FIELD: c.headers[CSRF_HEADER]}, **kwargs)


def untagged_address(c: httpx.Client, demo_server: Any, skip: int = 0) -> str:
    """An address of the demo's chain with activity and no tag (a trace endpoint still unspent)."""
    doc = c.get("/trace.json", params={"chain": demo_server.chain, "seed": demo_server.ransom_address}).json()
    found = [e["address"] for e in doc["trace"]["endpoints"] if e["reason"] == "unspent" and not e["tags"]]
    return found[skip]


# -- unit: the form's choices are the taxonomy's ------------------------------------------------

def test_form_choices_and_reasons_match_the_domain() -> None:
    """The trace form's stop categories are the taxonomy's single-operator services, the tag form's
    categories and confidences the taxonomy's (the web may not import it), and both catalogues
    name every reason a trace can stop for."""
    from fundtrail.tags.taxonomy import CATEGORIES as TAXONOMY
    from fundtrail.tags.taxonomy import CONFIDENCE
    from fundtrail.trace.account_engine import REASONS as ACCOUNT_REASONS
    from fundtrail.trace.engine import REASONS

    assert set(SERVICE_CATEGORIES) == {c for c, cat in TAXONOMY.items() if cat.service}
    assert list(CATEGORIES) == list(TAXONOMY)
    assert set(CONFIDENCES) == set(CONFIDENCE) - {"override"}  # override: cluster tags, not an analyst's claim
    named = reason_texts(lambda msgid: msgid)
    assert set(named) == set(REASONS) | set(ACCOUNT_REASONS)
    for lang in i18n.LANGUAGES:
        texts = reason_texts(lambda msgid, lang=lang: i18n.translate(lang, msgid))
        assert all(name and about for name, about in texts.values()), lang


# -- trace ---------------------------------------------------------------------------------------

def test_trace_page_names_the_demos_exchanges(demo_server: Any) -> None:
    """The four ransom payments traced forward (haircut): the freeze list names every cash-out
    service of the answer key, with the amounts of the API's trace of the same seeds; the twin is
    that trace; the endpoints are grouped by reason with the API's totals; the graph link carries
    the trace."""
    query = trace_query(demo_server, policy="haircut")
    with client(demo_server, demo_server, "investigator") as c:
        page = c.get("/trace?" + query)
        twin = c.get("/trace.json?" + query)
        api = c.post(f"/api/v1/{demo_server.chain}/trace", json={"seeds": demo_server.ransom_addresses,
                                                                 "policy": "haircut"})
    assert page.status_code == 200 and twin.status_code == 200 and api.status_code == 200, api.text[:300]
    doc = api.json()
    assert set(twin.json()) == {"trace"} and without_timing(twin.json()["trace"]) == without_timing(doc)
    services = [e for e in doc["entities"] if "service" in e["reasons"]]
    freeze = rows(section(page.text, "freeze"))
    assert len(freeze) == len(services) >= len(demo_server.exchanges)
    for exchange in demo_server.exchanges:  # every cash-out service of the answer key, named
        assert any(exchange in r for r in freeze), (exchange, freeze)
    for shown, entity in zip(freeze, services, strict=True):  # the API's amounts, largest first
        assert btc(entity["amount_sat"]) in shown and entity["tags"][0]["label"] in shown, (shown, entity)
    endpoints = section(page.text, "endpoints")
    for reason, total in doc["summary"]["by_reason_sat"].items():
        heading = re.search(rf'<div class="reason-group reason-{reason}">\s*<h3>(.*?)</h3>', endpoints, re.S)
        assert heading, reason
        count = sum(1 for e in doc["endpoints"] if e["reason"] == reason)
        assert btc(total) in text(heading.group(1)) and f"{count} endpoints" in text(heading.group(1))
    summary = text(section(page.text, "summary"))
    assert btc(doc["summary"]["seed_value_sat"]) in summary and btc(doc["summary"]["fees_sat"]) in summary
    graph = next(html.unescape(h) for h in re.findall(r'href="([^"]*)"', section(page.text, "summary"))
                 if h.startswith("/graph?"))
    params = dict(parse_qsl(urlsplit(graph).query))
    carried = parse_qsl(params["trace"])
    assert params["chain"] == demo_server.chain and ("policy", "haircut") in carried
    assert [v for k, v in carried if k == "seed"] == demo_server.ransom_addresses
    with client(demo_server, demo_server, "investigator") as c:
        canvas = c.get(graph)  # the graph page takes the link (and would name a bad field of it)
    assert canvas.status_code == 200 and demo_server.ransom_addresses[-1] in canvas.text


def test_compare_mode_puts_three_policies_side_by_side(demo_server: Any) -> None:
    """`compare=1`: the twin holds a poison, a haircut and a FIFO trace of the same seeds, each equal
    to the API's; the page's table has a column per policy with each service's amount."""
    query = trace_query(demo_server, compare="1")
    with client(demo_server, demo_server, "investigator") as c:
        page = c.get("/trace?" + query)
        twin = c.get("/trace.json?" + query).json()
        api = {p: c.post(f"/api/v1/{demo_server.chain}/trace",
                         json={"seeds": demo_server.ransom_addresses, "policy": p}).json()
               for p in ("poison", "haircut", "fifo")}
    assert page.status_code == 200
    assert set(twin) == {"traces"} and set(twin["traces"]) == {"poison", "haircut", "fifo"}
    for policy, doc in twin["traces"].items():
        assert doc["policy"] == policy and without_timing(doc) == without_timing(api[policy])
    table = section(page.text, "compare")
    head = re.search(r"<thead>(.*?)</thead>", table, re.S)
    assert head and text(head.group(1)).split()[-3:] == ["Poison", "Haircut", "FIFO"]
    body = rows(table)
    for policy_index, policy in enumerate(("poison", "haircut", "fifo")):
        for entity in (e for e in api[policy]["entities"] if "service" in e["reasons"]):
            label = entity["tags"][0]["label"]
            row = next(r for r in body if label in r and (f"#{entity['cluster']}" in r))
            amounts = re.findall(r"([\d,]+\.\d+ BTC|—)", row)
            assert amounts[policy_index] == btc(entity["amount_sat"]), (policy, row)
    for exchange in demo_server.exchanges:
        assert any(exchange in r for r in body), exchange


def test_trace_form_errors_stand_beside_their_fields(demo_server: Any) -> None:
    """A bad option shows the form again with what was typed and the error beside its field (422;
    an unknown seed 404); the twin answers the API's error document naming the field."""
    seed = demo_server.ransom_address
    bad = {"hops": ("abc", 422), "min_value": ("lots", 422), "since": ("yesterday", 422),
           "max_seconds": ("soon", 422), "policy": ("fair", 422), "stop_at": ("not-a-category", 422)}
    with client(demo_server, demo_server, "investigator") as c:
        for field, (value, status) in bad.items():
            params = {"chain": demo_server.chain, "seed": seed, field: value, "stops": "1"}
            page = c.get("/trace", params=params)
            assert page.status_code == status, (field, page.status_code)
            shown = field_error(page.text, field)
            assert field in shown or value in shown, (field, shown)
            assert 'id="freeze"' not in page.text  # no result, the form again
            assert html.escape(value) in page.text and seed in page.text  # what was typed is kept
            doc = error_doc(c.get("/trace.json", params=params))
            assert doc["field"] == field and doc["code"] == "bad_request", doc
        for seeds, status in (("not-an-address", 422), ("mfWxJ45yp2SFn7UciZyNpvDKrzbhyfKrY8", 404)):
            page = c.get("/trace", params={"chain": demo_server.chain, "seed": seeds})
            assert page.status_code == status and seeds in field_error(page.text, "seed")
            assert error_doc(c.get("/trace.json", params={"seed": seeds}))["field"] == "seeds"
        empty = c.get("/trace", params={"chain": demo_server.chain, "seed": "", "stops": "1"})
        assert empty.status_code == 422 and field_error(empty.text, "seed")
        blank = c.get("/trace", params={"chain": demo_server.chain, "seed": seed})  # prefilled link
        assert blank.status_code == 200 and 'id="freeze"' in blank.text
        form = c.get("/trace", params={"chain": demo_server.chain})
        assert form.status_code == 200 and 'id="trace-form"' in form.text and 'id="freeze"' not in form.text
        assert c.get("/trace.json").json() == {"trace": None}


def test_trace_truncation_is_shown(demo_server: Any) -> None:
    """A trace cut short by its transaction budget says so above its result, with the reason."""
    with client(demo_server, demo_server, "investigator") as c:
        page = c.get("/trace", params={"chain": demo_server.chain, "seed": demo_server.ransom_address,
                                       "max_txs": "3"})
        doc = c.get("/trace.json", params={"chain": demo_server.chain, "seed": demo_server.ransom_address,
                                           "max_txs": "3"}).json()["trace"]
    assert page.status_code == 200 and doc["truncated"] is True
    warning = re.search(r'<p class="warn truncated">(.*?)</p>', page.text, re.S)
    assert warning and doc["truncation"] in text(warning.group(1))
    assert 'class="reason-group reason-truncated"' in page.text


def test_only_investigators_trace(demo_server: Any) -> None:
    """The analyst may not trace (403, page and twin, no data); logged out: the login page."""
    with client(demo_server, demo_server, "analyst") as c:
        page = c.get("/trace?" + trace_query(demo_server))
        twin = c.get("/trace.json?" + trace_query(demo_server))
    assert page.status_code == 403 and twin.status_code == 403 and error_doc(twin)["code"] == "forbidden"
    assert not any(x in page.text for x in demo_server.exchanges)
    with httpx.Client(base_url=demo_server.url, timeout=60) as anonymous:
        out = anonymous.get("/trace?" + trace_query(demo_server))
        assert out.status_code == 303 and out.headers["location"].startswith("/login?next=")


ETH_TX = "0x2e3dcd051a91d3a694f6b8de2ac4b5fe7acdba55f58bcf8471ff00d4a430074d"
RECORDING = "test_stream/blocks_1755634_1755635"


@pytest.fixture(scope="module")
def eth(tmp_path_factory: pytest.TempPathFactory, etl_fixtures: Path) -> Iterator[tuple[Served, str]]:
    """A workbench on a store of ethereum-etl's real recording (mainnet blocks 1,755,634-5, one
    ERC-20 transfer of a token whose decimals the store does not know), ingested by the CLI."""
    base = tmp_path_factory.mktemp("eth-trace")
    shutil.copytree(etl_fixtures / RECORDING, base / "recording")
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "ethereum", "--replay", str(base / "recording"),
                 "--chain", "eth"]) == 0
    password = secrets.token_urlsafe(12)
    ws = Workspace.open(Settings.load(store=store), writable=True, actor=Actor(user="setup", via="python"))
    ws.users_add("ines", role="investigator", password=password)
    served = serve_store(store)
    try:
        yield served, password
    finally:
        served._uv.should_exit = True
        served._thread.join(timeout=30)


def test_account_chain_trace_page(eth: tuple[Served, str], etl_fixtures: Path) -> None:
    """An Ethereum trace from the recorded token transfer: the twin is the API's trace, the page
    shows the traced asset (its decimals unknown: base units, exactly), the endpoint where the
    tokens sit unspent, and compare mode runs the three policies."""
    served, password = eth
    expected = json.loads((etl_fixtures / RECORDING / "expected_token_transfers.json").read_text().splitlines()[0])
    with login_client(served.url, "ines", password) as c:
        page = c.get("/trace", params={"seed": ETH_TX})
        twin = c.get("/trace.json", params={"seed": ETH_TX}).json()
        api = c.post("/api/v1/eth/trace", json={"seeds": [ETH_TX]}).json()
        compare = c.get("/trace.json", params={"seed": ETH_TX, "compare": "1"}).json()
        compared = c.get("/trace", params={"seed": ETH_TX, "compare": "1"})
    assert page.status_code == 200 and without_timing(twin["trace"]) == without_timing(api)
    value = f"{expected['value']:,}"
    summary = text(section(page.text, "summary"))
    assert expected["token_address"] in summary.lower() and value in summary
    unspent = re.search(r'<div class="reason-group reason-unspent">(.*?)</table>', page.text, re.S)
    assert unspent, "no unspent endpoints"
    shown = text(unspent.group(1))
    assert expected["to_address"] in shown.lower() and value in shown and "base units of" in shown
    assert set(compare["traces"]) == {"poison", "haircut", "fifo"} and compared.status_code == 200


# -- tags ----------------------------------------------------------------------------------------

def test_tags_page_finds_the_ransomware_group_with_provenance(demo_server: Any) -> None:
    """`ransomware-group-1`: the demo's four ransom addresses, each with its source and label file
    line, as the API's search finds them; the twin is the API's document."""
    label = "ransomware-group-1"
    with client(demo_server, demo_server, "analyst") as c:
        page = c.get("/tags", params={"q": label})
        twin = c.get("/tags.json", params={"q": label}).json()
        api = c.get("/api/v1/tags", params={"q": label, "limit": "200"}).json()
        one = c.get("/tags", params={"address": demo_server.ransom_address})
    assert page.status_code == 200 and twin["tags"] == api
    found = rows(section(page.text, "results"))
    assert len(found) == len(api["tags"]) == len(demo_server.ransom_addresses)
    for tag in api["tags"]:
        row = next(r for r in found if tag["address"] in r)
        src = tag["sources"][0]
        assert label in row and src["source"] in row, row
        assert f"{Path(src['origin']).name}:{src['line']}" in row, row
    assert set(demo_server.ransom_addresses) == {t["address"] for t in api["tags"]}
    assert one.status_code == 200 and label in text(section(one.text, "address-tags"))


def test_an_analysts_tag_through_the_form(own: Served, demo_server: Any) -> None:
    """An investigator's tag added with the form is stored with them as creator (the tag page lists
    it with its provenance); a form without the CSRF token is refused (403) and stores nothing; a bad
    category is an error beside its field, the form kept; the analyst may not add tags."""
    label = f"shop-{secrets.token_hex(4)}"
    with client(own, demo_server, "investigator") as c:
        address = untagged_address(c, demo_server)
        form = {"address": address, "label": label, "category": "shop", "currency": CURRENCY,
                "confidence": "forensic", "source": "seized ledger", "visibility": "shared"}
        forged = c.post("/tags", data=form)
        assert forged.status_code == 403 and c.get("/api/v1/tags", params={"q": label}).json()["tags"] == []
        wrong = c.post("/tags", data=form | {CSRF_FIELD: "0" * 64})
        assert wrong.status_code == 403
        bad = csrf_post(c, "/tags", form | {"category": "flea-market"})
        assert bad.status_code == 422 and "flea-market" in field_error(bad.text, "category")
        assert f'value="{label}"' in bad.text  # the form is shown again as typed
        added = csrf_post(c, "/tags", form)
        assert added.status_code == 303 and added.headers["location"].startswith("/tags?address=")
        shown = c.get(added.headers["location"])
        assert "Tag stored" in shown.text
        row = next(r for r in rows(section(shown.text, "address-tags")) if label in r)
        assert "seized ledger" in row and "investigator" in row  # provenance: the creator is the user
    with client(own, demo_server, "analyst") as c:
        assert csrf_post(c, "/tags", form | {"label": label + "-x"}).status_code == 403
        assert 'id="tag-form"' not in c.get("/tags").text
        assert [t["label"] for t in c.get("/api/v1/tags", params={"q": label}).json()["tags"]] == [label]
    records = [r for r in audit_records(own.store) if r["action"] == "POST /tags" and r["status"] == 303]
    assert records and address in records[-1]["subjects"] and records[-1]["params"]["label"] == label


def test_conflicts_and_actors_are_listed(own: Served, demo_server: Any) -> None:
    """Two different shops claimed for one address: a conflict on the tags page and on the
    address's tags; an actor named by a tag lists the address on the actor view."""
    actor = f"acme-{secrets.token_hex(3)}"
    with client(own, demo_server, "investigator") as c:
        address = untagged_address(c, demo_server, skip=1)
        for label in ("corner-shop", "other-shop"):
            got = csrf_post(c, "/tags", {"address": address, "label": label, "category": "shop", "currency": CURRENCY,
                                         "actor": actor if label == "corner-shop" else ""})
            assert got.status_code == 303, got.text[:300]
        landing = c.get("/tags")
        conflicts = rows(section(landing.text, "conflicts"))
        assert any(address in r and "corner-shop" in r and "other-shop" in r for r in conflicts), conflicts
        assert address in {c_["address"] for c_ in c.get("/tags.json").json()["conflicts"]["conflicts"]}
        one = c.get("/tags", params={"address": address})
        assert "Conflict" in text(section(one.text, "address-tags"))
        view = c.get("/tags", params={"actor": actor})
        assert view.status_code == 200 and address in view.text and "corner-shop" in view.text
        twin = c.get("/tags.json", params={"actor": actor}).json()
        assert twin["actor"] is None and [t["address"] for t in twin["tags"]["tags"]] == [address]


def test_markup_in_a_label_is_text_in_the_browser(own: Served, demo_server: Any, browser: Any) -> None:
    """A label `<script>alert(1)</script>` typed into the tag form in Chromium is stored and shown
    as text on the tags page and the address page: no script of it runs, no element of it exists."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    label = "<script>alert(1)</script>"
    with client(own, demo_server, "investigator") as c:
        address = untagged_address(c, demo_server, skip=2)
    server = type("S", (), {"url": own.url, "users": demo_server.users, "passwords": demo_server.passwords})()
    login(browser, server, "investigator")
    browser.get(own.url + "/tags")
    form = wait_for(browser, "#tag-form")
    form.find_element(By.NAME, "address").send_keys(address)
    form.find_element(By.NAME, "label").send_keys(label)
    Select(form.find_element(By.NAME, "category")).select_by_value("scam")
    form.find_element(By.NAME, "currency").send_keys(CURRENCY)
    form.find_element(By.CSS_SELECTOR, "[type=submit]").click()
    wait_for(browser, "#address-tags")
    for target in (f"/tags?q={quote('alert(1)')}", f"/{demo_server.chain}/addresses/{address}"):
        browser.get(own.url + target)
        wait_for(browser, "main")
        assert label in browser.find_element(By.TAG_NAME, "main").text, target
        assert browser.find_elements(By.CSS_SELECTOR, "main script") == [], target
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018
    with client(own, demo_server, "investigator") as c:
        for target in ("/tags", f"/{demo_server.chain}/addresses/{address}"):
            got = c.get(target, params={"q": "alert(1)"} if target == "/tags" else None)
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in got.text and "<script>alert(1)" not in got.text


# -- audit ---------------------------------------------------------------------------------------

def test_audit_page_shows_another_users_lookups(own: Served, demo_server: Any) -> None:
    """The investigator's search and trace are on the auditor's page at once, newest first, with
    their subjects; the log is shown intact; filters, pages back in time and the twin agree; a bad
    time is an error beside its field; only the auditor reads the log."""
    probe = f"probe-{secrets.token_hex(5)}"
    with client(own, demo_server, "investigator") as c:
        assert c.get("/tags", params={"q": probe}).status_code == 200
        lookup = c.get("/trace", params={"chain": demo_server.chain, "seed": demo_server.ransom_address})
        assert lookup.status_code == 200
    with client(own, demo_server, "auditor") as a:
        page = a.get("/audit", params={"user": "investigator"})
        assert page.status_code == 200 and "The audit log is intact" in page.text
        table = rows(section(page.text, "records"))
        assert table[0].split()[0].isdigit()
        seqs = [int(r.split()[0]) for r in table]
        assert seqs == sorted(seqs, reverse=True)  # newest first
        traced = next(i for i, r in enumerate(table) if "GET /trace" in r and demo_server.ransom_address in r)
        searched = next(i for i, r in enumerate(table) if "GET /tags" in r and probe in r)
        assert traced < searched  # the trace came after the search
        assert all("investigator" in r for r in table)
        twin = a.get("/audit.json", params={"user": "investigator", "limit": "3"}).json()
        assert twin["verify"]["ok"] is True and len(twin["audit"]["records"]) == 3
        assert [r["seq"] for r in twin["audit"]["records"]] == sorted(seqs[:3])
        first = a.get("/audit", params={"user": "investigator", "limit": "3"})
        older = re.search(r'href="([^"]*cursor=[^"]*)"', first.text)
        assert older, "no link to older records"
        second = a.get(html.unescape(older.group(1)))
        assert second.status_code == 200
        more = [int(r.split()[0]) for r in rows(section(second.text, "records"))]
        assert more and max(more) < min(seqs[:3]) and "user=investigator" in html.unescape(older.group(1))
        bad = a.get("/audit", params={"since": "last tuesday"})
        assert bad.status_code == 422 and "last tuesday" in field_error(bad.text, "since")
        assert error_doc(a.get("/audit.json", params={"since": "last tuesday"}))["field"] == "since"
    for role in ("analyst", "investigator", "admin"):
        with client(own, demo_server, role) as c:
            assert c.get("/audit").status_code == 403 and c.get("/audit.json").status_code == 403


# -- users ---------------------------------------------------------------------------------------

def test_users_add_and_disable_round_trip(own: Served, demo_server: Any) -> None:
    """The admin adds a user with a password (the form, with CSRF): listed as active with a
    password, they log in; disabled with the button, their session ends at once. Without the CSRF
    token nothing changes (403); a bad role is an error beside its field. The password is never in
    a page, a twin or the audit log; token records show ids, never tokens."""
    name, password = f"newbie-{secrets.token_hex(3)}", secrets.token_urlsafe(15)
    with client(own, demo_server, "admin") as admin:
        forged = admin.post("/users", data={"name": name, "role": "analyst", "password": password})
        assert forged.status_code == 403 and name not in admin.get("/users").text
        bad = csrf_post(admin, "/users", {"name": name, "role": "boss", "password": password})
        assert bad.status_code == 422 and "boss" in field_error(bad.text, "role")
        assert f'value="{name}"' in bad.text and password not in bad.text
        added = csrf_post(admin, "/users", {"name": name, "role": "analyst", "password": password})
        assert added.status_code == 303
        listed = admin.get(added.headers["location"])
        row = re.search(rf'<tr data-user="{name}">(.*?)</tr>', listed.text, re.S)
        assert row and "analyst" in text(row.group(1)) and "active" in text(row.group(1))
        assert f"User {name} added." in text(listed.text)
        twin = admin.get("/users.json").json()
        me = next(u for u in twin["users"]["users"] if u["name"] == name)
        assert me["active"] and me["has_password"] and me["created_by"] == "admin"
        token = admin.post("/api/v1/tokens", json={"user": name}).json()
        tokens = admin.get("/users").text
        assert token["id"] in tokens and token["token"] not in tokens
        with login_client(own.url, name, password) as newbie:
            assert newbie.get("/").status_code == 200
            assert admin.post(f"/users/{name}/disable", data={}).status_code == 403  # no CSRF token
            assert newbie.get("/").status_code == 200
            disabled = csrf_post(admin, f"/users/{name}/disable", {})
            assert disabled.status_code == 303
            after = newbie.get("/")
            assert after.status_code == 303 and after.headers["location"].startswith("/login")
        row = re.search(rf'<tr data-user="{name}">(.*?)</tr>', admin.get("/users").text, re.S)
        assert row and "disabled" in text(row.group(1))
    for role in ("analyst", "investigator", "auditor"):
        with client(own, demo_server, role) as c:
            assert c.get("/users").status_code == 403 and c.get("/users.json").status_code == 403
            assert csrf_post(c, "/users", {"name": name + "x", "role": "admin"}).status_code == 403
    log = json.dumps(audit_records(own.store))
    assert password not in log and token["token"] not in log
    posts = [r for r in audit_records(own.store) if r["action"] == "POST /users" and r["status"] == 303]
    assert posts and posts[-1]["params"]["name"] == name and posts[-1]["params"]["role"] == "analyst"


# -- the pages in Chromium -----------------------------------------------------------------------

def test_pages_in_chromium_in_both_languages(own: Served, demo_server: Any, browser: Any) -> None:
    """Each page in headless Chromium, in English and then Chinese (the switch): no console error,
    the freeze list and the compare table visible, screenshots for people to look at."""
    from selenium.webdriver.common.by import By

    server = type("S", (), {"url": own.url, "users": demo_server.users, "passwords": demo_server.passwords})()
    pages = {"investigator": [("trace", "/trace?" + trace_query(demo_server), "#freeze"),
                              ("trace-compare", "/trace?" + trace_query(demo_server, compare="1"), "#compare"),
                              ("tags", "/tags?q=ransomware-group-1", "#results")],
             "auditor": [("audit", "/audit", "#records")], "admin": [("users", "/users", "#users")]}
    login(browser, server, "investigator")  # the form, filled and sent as a person does
    browser.get(own.url + "/trace")
    form = wait_for(browser, "#trace-form")
    form.find_element(By.NAME, "seed").send_keys("\n".join(demo_server.ransom_addresses))
    form.find_element(By.CSS_SELECTOR, "input[name=compare]").click()
    form.find_element(By.CSS_SELECTOR, "[type=submit]").click()
    table = wait_for(browser, "#compare table").text
    assert all(x in table for x in demo_server.exchanges) and "Haircut" in table
    assert not browser.find_element(By.ID, "trace-form").is_displayed()  # folded away above the result
    for role, shown in pages.items():
        browser.delete_all_cookies()
        login(browser, server, role)
        for lang in ("en", "zh_CN"):
            if lang == "zh_CN":
                browser.find_element(By.CSS_SELECTOR, "form.lang button[value=zh_CN]").click()
                wait_for(browser, "form.lang button.current[value=zh_CN]")
            for name, path, css in shown:
                browser.get(own.url + path)
                wait_for(browser, css)
                assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == (
                    "zh-CN" if lang == "zh_CN" else "en")
                screenshot(browser, f"h3-{name}-{lang}")
            if role == "investigator":
                browser.get(own.url + "/trace?" + trace_query(demo_server))
                heading = wait_for(browser, "#freeze h2").text
                assert heading.startswith("应请求冻结的服务机构" if lang == "zh_CN" else "Services to ask for a freeze")
                listed = browser.find_element(By.CSS_SELECTOR, "#freeze table").text
                assert all(x in listed for x in demo_server.exchanges), listed
        browser.find_element(By.CSS_SELECTOR, "form.lang button[value=en]").click()
        wait_for(browser, "form.lang button.current[value=en]")
