"""The parts of a report that need no store: amounts, catalogues, the quoted error rates, the figure."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cases import report_method
from fundtrail.cases.figure import MAX_ENDPOINTS, draw
from fundtrail.cases.report_i18n import LANGS, Words, amount_text, catalogue, check_lang, utc_text
from fundtrail.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "src" / "fundtrail" / "cases"


def test_amounts_are_exact_from_integers() -> None:
    assert amount_text(20_000_000) == "0.20000000 BTC"
    assert amount_text(2_100_000_000_000_000) == "21000000.00000000 BTC"
    assert amount_text(1) == "0.00000001 BTC" and amount_text(0) == "0.00000000 BTC"
    assert amount_text(-150_000_000) == "-1.50000000 BTC"
    assert amount_text(Fraction(7, 2)) == "0.00000003 BTC"  # a haircut share, rounded down
    assert amount_text("10302507321041457469036976855972482464025793935/340282366920938463463374607431768211456") == \
        "0.30276347 BTC"
    assert amount_text(1_000_000, symbol="USDT", decimals=6) == "1.000000 USDT"
    assert amount_text(125968838768554613603, symbol="ETH", decimals=18) == "125.968838768554613603 ETH"
    assert amount_text(10**18, symbol="ETH", decimals=18) == "1.00000000 ETH"
    assert amount_text(2**200, symbol="T", decimals=None) == f"{2**200} T"
    assert utc_text(1700025800) == "2023-11-15 05:23:20 UTC"
    assert utc_text("2026-12-06T23:40:00.123456Z") == "2026-12-06 23:40:00 UTC"


def test_languages() -> None:
    assert check_lang("zh_CN") == "zh_CN"
    for bad in ("fr", "zh", "", None, "EN"):
        with pytest.raises(UsageError) as err:
            check_lang(bad)
        assert err.value.field == "lang"
    assert Words("zh_CN").mark("fact") == "事实 [FACT]" and Words("zh_CN").mark("inference") == "推断 [INFERENCE]"
    assert Words("en").mark("fact") == "FACT"


def test_catalogues_have_the_same_keys_and_placeholders_and_cover_every_use() -> None:
    en, zh = catalogue("en"), catalogue("zh_CN")
    assert set(en) == set(zh) and LANGS == ("en", "zh_CN")
    for key in en:
        assert set(re.findall(r"{(\w+)}", en[key])) == set(re.findall(r"{(\w+)}", zh[key])), key
    same = {k for k in en if en[k] == zh[k] and re.search(r"[A-Za-z]{3}", en[k])}
    assert same == set(), same  # every English sentence has its Chinese
    used: set[str] = set()
    for path in [*CASES.glob("*.py"), *(CASES / "templates").glob("*.j2")]:
        text = path.read_text("utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+)["']""", text))
    used = {k for k in used if not k.endswith("_") and k != "key"}  # prefixes: checked below; a docstring
    assert len(used) > 100 and used <= set(en), used - set(en)
    for prefix, names in (("policy_", report_method.POLICIES), ("policy_def_", report_method.POLICIES),
                          ("reason_", ("service", "unspent", "hop_limit", "threshold", "time_limit", "truncated",
                                       "unresolved", "coinbase", "burned", "minted", "unknown_history")),
                          ("status_", ("open", "closed", "archived")), ("mark_", ("fact", "inference", "record")),
                          ("req_", ("freeze", "preserve_kyc", "identity", "login_ips", "linked_accounts",
                                    "withdrawal_destinations", "blacklist", "issuer_records"))):
        assert all(f"{prefix}{n}" in en for n in names), prefix


def test_quoted_error_rates_match_docs_heuristics() -> None:
    """The report quotes these figures; docs/heuristics.md is where they are measured."""
    doc = (ROOT / "docs" / "heuristics.md").read_text("utf-8")
    rows = {tuple(c.strip() for c in line.strip().strip("|").split("|")) for line in doc.splitlines()
            if line.startswith("|")}
    for rule, predicted, precision, coverage in report_method.CHANGE_RULES:
        assert (rule, str(predicted), precision, coverage) in rows, rule
    for name, clusters, precision, recall, merges in report_method.CLUSTERING:
        assert (name, str(clusters), precision, recall, str(merges)) in rows, name
    for proto, true, found, recall, right, flagged, precision in report_method.COINJOINS:
        assert (proto, str(true), str(found), recall, right, str(flagged), precision) in rows, proto
    assert "--txs 100000 --seed 3" in doc and "--txs 100000 --seed 3" in report_method.SOURCE


def _chain_result(n_ends: int, depth: int) -> dict[str, Any]:
    """A forward UTXO result: one seed tx, a peel chain of `depth` txs, then a fan-out to
    `n_ends` endpoints, the i-th carrying i+1 units of 1,000 sat; value conserved."""
    amounts = [(i + 1) * 1000 for i in range(n_ends)]
    total = sum(amounts)
    nodes = [{"id": f"tx:{i:064x}", "txid": f"{i:064x}", "height": 10 + i, "time": 1_700_000_000 + i}
             for i in range(depth + 2)]
    edges = [{"from": nodes[i]["id"], "to": nodes[i + 1]["id"], "output": f"{i:064x}:0", "amount_sat": total,
              "amount_exact": str(total)} for i in range(depth + 1)]
    last = f"{depth + 1:064x}"
    ends = []
    for i, a in enumerate(amounts):
        edges.append({"from": nodes[-1]["id"], "to": None, "output": f"{last}:{i}", "amount_sat": a,
                      "amount_exact": str(a)})
        tags = [{"category": "exchange", "label": f"ex-{i % 3}", "source": "s", "confidence": "high",
                 "inherited_from": None}] if i % 2 else []
        ends.append({"address": f"addr{i}", "reason": "service" if i % 2 else "unspent", "amount_sat": a,
                     "amount_exact": str(a), "tags": tags, "label": None, "outputs": [f"{last}:{i}"]})
    return {"seed": {"value_sat": total, "value_exact": str(total)}, "limits": {"stop_at": ["exchange"]},
            "endpoints": ends, "graph": {"nodes": nodes, "edges": edges}}


def test_figure_is_deterministic_escaped_and_summarised() -> None:
    t = Words("en")
    small = _chain_result(4, 3)
    fig = draw(small, t)
    assert fig.svg == draw(json.loads(json.dumps(small)), t).svg
    assert fig.svg.startswith("<svg ") and "http" not in fig.svg
    assert (fig.drawn_endpoints, fig.omitted_endpoints, fig.omitted_amount) == (4, 0, 0)
    assert "ex-1" in fig.svg and "0.00004000 BTC" in fig.svg  # a service named, the exact amount
    assert "3 txs, blocks 11\u201313" in fig.svg  # the peel chain drawn as one box
    big = _chain_result(60, 2)
    total = sum((i + 1) * 1000 for i in range(60))
    fig = draw(big, t)
    drawn = [(i + 1) * 1000 for i in range(60) if Fraction((i + 1) * 1000, total) >= Fraction(1, 100)]
    assert fig.drawn_endpoints == min(len(drawn), MAX_ENDPOINTS)
    assert fig.drawn_endpoints + fig.omitted_endpoints == 60
    kept = sorted(drawn, reverse=True)[:MAX_ENDPOINTS]
    assert fig.omitted_amount == total - sum(kept)
    evil = _chain_result(2, 0)
    evil["endpoints"][1]["tags"][0]["label"] = "<script>x</script>"
    assert "<script>" not in draw(evil, t).svg and "&lt;script&gt;" in draw(evil, t).svg
