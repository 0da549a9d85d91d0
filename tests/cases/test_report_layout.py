"""The report's layout for large cases: the timeline groups the payments to services, long lists
of deposit addresses are monospace listings (in the report and the letters) that still hold every
address, amount and output, and a service's name never breaks at its hyphen.

Oracles: the simulator's answer key (amounts to the satoshi) and the saved traces as the service
layer returns them (which outputs paid which address, in which block), not the report's code.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cases import letters as letters_mod
from fundtrail.cases import report_data
from fundtrail.cases.report_render import keep_names
from fundtrail.workspace import Workspace
from tests.cases.support_report import btc, build_case, label_of, pdftotext


@pytest.fixture(scope="module")
def env(built: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The case, its report as HTML (tables), and as PDF and letters with every service listed."""
    e = build_case(built, tmp_path_factory.mktemp("layout"))
    ws: Workspace = e["ws"]
    e["html"] = Path(ws.case_report(e["case"], e["base"] / "report.html").path).read_text("utf-8")
    e["html_zh"] = Path(ws.case_report(e["case"], e["base"] / "report-zh.html", lang="zh_CN").path).read_text("utf-8")
    with pytest.MonkeyPatch.context() as mp:  # every service as a listing, as in a 10,000-transaction case
        mp.setattr(report_data, "TABLE_ROWS", 0)
        mp.setattr(letters_mod, "TABLE_ROWS", 0)
        e["listed"] = Path(ws.case_report(e["case"], e["base"] / "listed.pdf").path)
        e["listed_html"] = Path(ws.case_report(e["case"], e["base"] / "listed.html").path).read_text("utf-8")
        e["letters"] = ws.case_letters(e["case"], e["base"] / "letters")
    e["saved"] = [ws.case_saved_trace(e["case"], t).result for t in (e["fifo"], e["haircut"])]
    return e


def _payments(saved: list[dict[str, Any]]) -> dict[str, int]:
    """txid -> block time of every transaction that paid a service (per the saved traces)."""
    times = {n["txid"]: n["time"] for r in saved for n in r["graph"]["nodes"] if n.get("txid")}
    return {o.split(":")[0]: times[o.split(":")[0]] for r in saved for e in r["endpoints"]
            if e["reason"] == "service" for o in e["outputs"]}


def _section(html: str, start: str, end: str) -> str:
    return html[html.index(start):html.index(end)]


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_timeline_groups_payments_and_names_each(env: dict[str, Any], lang: str) -> None:
    html = env["html"] if lang == "en" else env["html_zh"]
    timeline = _section(html, "<h2>3. ", "<h2>4. ")
    rows = re.findall(r"<tr(?: class=\"head\")?><td class=\"when\">.*?</tr>", timeline, re.S)
    payments = _payments(env["saved"])
    assert len(payments) > 12
    for txid in payments:  # each named, in full or (in a large group) by its first 16 hex digits
        assert txid[:16] in timeline, txid
    hours = {t // 3600 for t in payments.values()}
    paid_rows = [r for r in rows if ("paid traced funds" in r if lang == "en" else "括号内为各机构" in r)]
    assert 1 <= len(paid_rows) <= len(hours) < len(payments)  # grouped by hour: fewer rows than payments
    for r in paid_rows:  # an attribution (the services named), with its time span and blocks
        assert ("INFERENCE" in r) and re.search(r"\d\d:\d\d\u2013\d\d:\d\d UTC|\d\d:\d\d:\d\d UTC", r)
    first = dt.datetime.fromtimestamp(min(payments.values()), dt.UTC).strftime("%Y-%m-%d %H:%M")
    assert first in paid_rows[0]  # rows in time order: the first group starts at the first payment
    seeds = env["truth"]["seed_outputs"]
    assert sum(1 for r in rows if "FACT" in r and any(s["txid"] in r for s in seeds)) >= len(seeds)
    services = {label_of(p) for p in env["truth"]["cashout_points"]
                if p["address"] in env["truth"]["answers"]["fifo"]["by_target_sat"]}
    arrivals = [r for r in rows if ("First arrival" in r if lang == "en" else "首次到达" in r)]
    assert len(arrivals) >= len(services) and all("INFERENCE" in r for r in arrivals)
    assert all(re.search(r"mark-(fact|inference|record)", r) for r in rows)


def test_service_names_never_break_at_their_hyphen(env: dict[str, Any]) -> None:
    names = {label_of(p) for p in env["truth"]["cashout_points"]}
    hyphenated = [n for n in names if "-" in n]
    assert hyphenated
    for name in hyphenated:
        if name in env["html"]:
            assert f'<span class="name">{name}</span>' in env["html"]
    text = pdftotext(env["listed"])
    for line in text.splitlines():
        for name in hyphenated:
            head = name[:name.index("-") + 1]
            assert not line.rstrip().endswith(head) or line.rstrip().endswith(name), line


def test_listings_hold_every_address_amount_and_output(env: dict[str, Any]) -> None:
    html = _section(env["listed_html"], "<h2>4. ", "<h2>5. ")
    assert '<div class="listing"' in html and "<table>" not in html.split("<h3>", 1)[1]
    flat = re.sub(r"\s+", " ", pdftotext(env["listed"]))
    squeezed = flat.replace(" ", "")
    answers = env["truth"]["answers"]
    totals: dict[str, int] = {}
    for p in env["truth"]["cashout_points"]:
        fifo = answers["fifo"]["by_target_sat"].get(p["address"])
        if fifo is not None:
            totals[label_of(p)] = totals.get(label_of(p), 0) + fifo
            assert p["address"] in squeezed and btc(fifo) in flat, p["address"]
    for address, sat in answers["haircut"]["by_target_sat"].items():
        assert address in squeezed and btc(sat) in flat, address
    for label, sat in totals.items():  # the FIFO total of each service, on its total line
        assert btc(sat) in flat, label
    outputs = {o for r in env["saved"] for e in r["endpoints"] if e["reason"] == "service" for o in e["outputs"]}
    assert outputs and all(o in squeezed for o in outputs)


def test_letters_as_listings_name_every_deposit(env: dict[str, Any]) -> None:
    out = env["base"] / "letters"
    for letter in env["letters"].letters:
        doc = json.loads((out / letter.json_file).read_text("utf-8"))
        text = re.sub(r"\s+", " ", pdftotext(out / letter.pdf))
        squeezed = text.replace(" ", "")
        assert "Each line: the deposit address" in text and "Request to freeze funds" in text
        for d in doc["deposits"]:
            assert d["address"] in squeezed and all(x in squeezed for x in d["txids"])
            assert all(a["display"] in text for a in d["amounts"])


def test_keep_names_escapes_and_wraps() -> None:
    out = str(keep_names("<b>exchange-b</b> & exchange-bb; &amp; amp", ["exchange-b", "exchange-bb", "amp", ""]))
    assert out == ('&lt;b&gt;<span class="name">exchange-b</span>&lt;/b&gt; &amp; '
                   '<span class="name">exchange-bb</span>; &amp;<span class="name">amp</span>; '
                   '<span class="name">amp</span>')
    assert str(keep_names("x<y", None)) == "x&lt;y"
    assert str(keep_names("<i>", ["<i>"])) == '<span class="name">&lt;i&gt;</span>'
