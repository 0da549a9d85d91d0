"""Stablecoin freezes end to end on a real anvil chain (tests/freezes/conftest.py plays the script).

The contract's selectors and event topics are checked against the real issuers' (public code and
the issuers' contracts), so the test contract emits exactly what Tether and Circle emit. The actions
the store must hold come from the script; malformed freeze-looking logs must give no row.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.eth_scenario import load_artefacts

from fundtrail.chains.ethereum.freezes import (ADDED_BLACK_LIST, BLACKLISTED, DESTROYED_BLACK_FUNDS,
                                               REMOVED_BLACK_LIST, UN_BLACKLISTED)
from fundtrail.chains.ethereum.hexutil import eip55
from fundtrail.cli.main import main
from fundtrail.store import Store
from fundtrail.trace.account_engine import trace_account
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.account_report import render_text, to_json
from fundtrail.trace.account_seeds import parse_account_seed
from fundtrail.trace.freezes import frozen_now
from fundtrail.workspace import RiskRequest, TraceRequest
from fundtrail.workspace.freeze_models import FreezesRequest

TUSD = 10**6


def _eip(a: str) -> str:
    return eip55(bytes.fromhex(a[2:]))


def _cli(capsys: pytest.CaptureFixture[str], store: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--store", str(store), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_test_issuer_speaks_tethers_and_circles_abi() -> None:
    ids = load_artefacts()["TestIssuer"]["method_identifiers"]
    # Tether's TetherToken (Ethereum USDT 0xdac17f95…, TRON USDT) and Circle's FiatToken selectors
    assert (ids["addBlackList(address)"], ids["removeBlackList(address)"], ids["destroyBlackFunds(address)"],
            ids["isBlackListed(address)"]) == ("0ecb93c0", "e4997dc5", "f3bdc228", "e47d6060")
    assert (ids["blacklist(address)"], ids["unBlacklist(address)"]) == ("f9f92be4", "1a895266")
    # event topics as public indexers filter USDT's and USDC's logs by them
    assert [t.hex() for t in (ADDED_BLACK_LIST, REMOVED_BLACK_LIST, DESTROYED_BLACK_FUNDS, BLACKLISTED,
                              UN_BLACKLISTED)] == [
        "42e160154868087d6bfdc0ca23d96a1c1cfa32f1b72ba9ba27b69b98a0d819dc",
        "d7e9ec6e6ecd65492dce6bf513cd6867560d49544421d0783ddf06e76c24470c",
        "61e6e66b0d6339b2980aecc6ccc0039736791f0ccde9ed512e789a7fbdd698c6",
        "ffa4e6181777692565cf28528fc88fd1516ea86b56da075235fa575af6a4b855",
        "117e3210bb9aa7d9baff172026820255c6f6c30ba8999d1c2fd88e2848137c4e"]


def test_freezes_json_lists_every_action_newest_first(frozen_chain, capsys, tmp_path) -> None:
    fc = frozen_chain
    code, out, err = _cli(capsys, fc.store, "freezes", "--chain", "anvil", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["chain"] == "anvil" and doc["total"] == len(fc.actions) == len(doc["freezes"])
    got = [(r["block"], r["tx"], r["token"], r["address"], r["action"], r["amount"]) for r in doc["freezes"]]
    want = [(a["block"], a["tx"], _eip(a["token"]), _eip(a["address"]), a["action"],
             str(a["amount"]) if a["amount"] is not None else None) for a in reversed(fc.actions)]
    assert got == want
    assert not {r["tx"] for r in doc["freezes"]} & set(fc.malformed_txs)  # malformed logs: no row
    destroyed = next(r for r in doc["freezes"] if r["action"] == "destroyed")
    assert (destroyed["amount"], destroyed["amount_display"], destroyed["decimals"]) == (str(400 * TUSD), "400", 6)
    assert destroyed["token_symbol"] == "TUSD"  # the token's own symbol(), as ingest read it
    # the shipped profile knows no issuer on a test chain: every action listed, none from a known issuer
    assert not any(r["issuer_known"] for r in doc["freezes"])
    now = {(r["address"], r["token"]) for r in doc["freezes"] if r["frozen_now"]}
    roles = fc.roles
    assert now == {(_eip(roles["mule"]), _eip(fc.issuer)), (_eip(roles["circled"]), _eip(fc.issuer)),
                   (_eip(roles["holder"]), _eip(fc.rogue))}
    assert [r["current"] for r in doc["freezes"] if r["address"] == _eip(roles["mule"])] == [True, False]
    code, out, _ = _cli(capsys, fc.store, "freezes", "--json", "--profile", str(fc.profile(tmp_path)))
    marked = {(r["token"], r["issuer_known"]) for r in json.loads(out)["freezes"]}
    assert code == 0 and marked == {(_eip(fc.issuer), True), (_eip(fc.rogue), False)}


def test_freezes_text_filters_and_pages(frozen_chain, capsys, tmp_path) -> None:
    fc = frozen_chain
    code, out, _ = _cli(capsys, fc.store, "freezes", "--profile", str(fc.profile(tmp_path)))
    lines = out.splitlines()
    assert code == 0 and lines[0] == f"{len(fc.actions)} freeze action(s) on anvil, newest first"
    rogue = [ln for ln in lines if _eip(fc.rogue) in ln]
    assert len(rogue) == 1 and "(issuer not known)" in rogue[0] and "blacklisted" in rogue[0]
    assert sum("(issuer not known)" in ln for ln in lines) == 1
    destroyed = next(ln for ln in lines if "funds destroyed" in ln)
    assert f"block {fc.block['destroy_mule']}" in destroyed and "400 TUSD" in destroyed and "[frozen now]" in destroyed
    code, out, _ = _cli(capsys, fc.store, "freezes", "--json", "--address", fc.roles["mule"].upper().replace("X", "x"))
    assert code == 0 and [r["action"] for r in json.loads(out)["freezes"]] == ["destroyed", "blacklisted"]
    code, out, _ = _cli(capsys, fc.store, "freezes", "--json", "--token", fc.rogue)
    assert code == 0 and [r["address"] for r in json.loads(out)["freezes"]] == [_eip(fc.roles["holder"])]
    pages, cursor = [], None
    while True:
        code, out, _ = _cli(capsys, fc.store, "freezes", "--json", "--limit", "2",
                            *(["--cursor", cursor] if cursor else []))
        page = json.loads(out)
        pages += [(r["block"], r["log_index"]) for r in page["freezes"]]
        cursor = page["page"]["next_cursor"]
        if cursor is None:
            break
    assert pages == [(a["block"], 0) for a in reversed(fc.actions)] and len(pages) == len(fc.actions)


def test_freezes_bad_input_is_one_line_naming_the_field(frozen_chain, capsys) -> None:
    store = frozen_chain.store
    for args, field in ((["--address", "0x1234"], "address"), (["--token", "USDT"], "token"),
                        (["--limit", "0"], "limit"), (["--cursor", "bogus"], "cursor")):
        code, out, err = _cli(capsys, store, "freezes", *args)
        assert code == 2 and out == "", args
        assert field in err and len(err.strip().splitlines()) <= 2 and "Traceback" not in err, (args, err)
    code, _, err = _cli(capsys, store, "freezes", "--chain", "eth")
    assert code == 6 and "eth" in err


def _freeze_reasons(report) -> list[dict]:
    return [r for r in report.reasons if r["kind"] == "freeze"]


def test_risk_scores_a_frozen_address_with_its_evidence(ws, frozen_chain, tmp_path) -> None:
    fc, profile = frozen_chain, str(frozen_chain.profile(tmp_path))
    mule = ws.risk(RiskRequest(target=_eip(fc.roles["mule"]), chain="anvil", profile=profile))
    (reason,) = _freeze_reasons(mule)
    assert (reason["rule"], reason["action"], reason["block"], reason["tx"], reason["token"], reason["amount"]) == (
        "frozen-by-issuer", "destroyed", fc.block["destroy_mule"], fc.tx["destroy_mule"], _eip(fc.issuer),
        str(400 * TUSD))
    assert (mule.score, mule.severity) == (85.0, "high") and mule.reasons[0]["kind"] == "freeze"
    circled = ws.risk(RiskRequest(target=_eip(fc.roles["circled"]), chain="anvil", profile=profile))
    assert [(r["action"], r["block"]) for r in _freeze_reasons(circled)] == [
        ("blacklisted", fc.block["blacklist_circled"])]
    # unblacklisted: no longer scores; frozen by an unknown contract: never scores
    for role in ("cleared", "holder"):
        rep = ws.risk(RiskRequest(target=_eip(fc.roles[role]), chain="anvil", profile=profile))
        assert _freeze_reasons(rep) == [] and rep.score == 0.0, role
    # the shipped profile does not know the test chain's issuer: the same address does not score
    assert _freeze_reasons(ws.risk(RiskRequest(target=_eip(fc.roles["mule"]), chain="anvil"))) == []
    # a transaction paying the frozen address carries the reason on its paying side
    tx = ws.risk(RiskRequest(target=fc.tx["to_mule"], chain="anvil", profile=profile))
    paying = [r for r in tx.reasons if r["kind"] == "freeze"]
    assert [(r["side"], r["via_address"]) for r in paying] == [("paying", _eip(fc.roles["mule"]))]


def test_trace_endpoint_says_frozen_by_the_issuer(frozen_chain) -> None:
    fc = frozen_chain
    store = Store.open(fc.store)
    g = AccountGraph.ensure(store, "anvil")
    seed = parse_account_seed(g, fc.tx["mint"])
    doc = to_json(g, seed, trace_account(g, seed, policy="fifo"), frozen=frozen_now(store, "anvil"))
    ends = {e["address"]: e for e in doc["endpoints"]}
    roles = fc.roles
    assert set(ends) == {_eip(roles[r]) for r in ("holder", "mule", "cleared", "circled")}
    mule = ends[_eip(roles["mule"])]["frozen"]
    assert (mule["text"], mule["action"], mule["tx"], mule["amount"]) == (
        f"frozen by the issuer at block {fc.block['destroy_mule']}", "destroyed", fc.tx["destroy_mule"],
        str(400 * TUSD))
    assert ends[_eip(roles["circled"])]["frozen"]["block"] == fc.block["blacklist_circled"]
    # unblacklisted, and frozen only by another contract (not this token's): not frozen
    assert ends[_eip(roles["cleared"])]["frozen"] is None and ends[_eip(roles["holder"])]["frozen"] is None
    text = render_text(doc)
    assert f"frozen by the issuer at block {fc.block['destroy_mule']} (destroyed" in text
    assert text.count("frozen by the issuer") == 2


def test_workspace_trace_marks_frozen_endpoints(ws, frozen_chain) -> None:
    """Needs workspace/tracing.py to pass `frozen=frozen_now(...)` to the account report."""
    fc = frozen_chain
    doc = ws.trace(TraceRequest(seeds=[fc.tx["mint"]], chain="anvil", policy="fifo")).document()
    frozen = {e["address"]: e["frozen"]["block"] for e in doc["endpoints"] if e.get("frozen")}
    assert frozen == {_eip(fc.roles["mule"]): fc.block["destroy_mule"],
                      _eip(fc.roles["circled"]): fc.block["blacklist_circled"]}


def test_workspace_freezes_matches_the_cli(ws, frozen_chain) -> None:
    fc = frozen_chain
    res = ws.freezes(FreezesRequest(chain="anvil", token=_eip(fc.issuer), limit=1000))
    assert res.total == len(fc.actions) - 1 and all(r.token == _eip(fc.issuer) for r in res.freezes)
    assert res.page.next_cursor is None
