"""Tags, risk, screening, exposure and clustering with `--chain tron`, through the real CLI, on the
flow of tests/tron/conftest.py with what an investigator knows added by hand:

    src  (the real sender of block 50,000,011's 200,000 USDT to a) tagged service_hack, typed as 41…
    hot  the exchange's hot wallet, tagged exchange, typed as T…
    dep  its deposit address, imported from a CSV as 0x… with currency TRX

Every tag is stored under the `T…` text whatever form it was typed in. The amounts come from the
flow script: all of a's USDT came from src, so everything b, c, dep and e received is 100 % of
src's; dep forwarded 49,990 of its 50,000 USDT to hot (a deposit address swept to the exchange).
`T…` texts are computed by an independent Base58Check (test_tron_commands.b58check, repeated here).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

import pytest

from fundtrail.cli.main import main

USDT_T = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT = 10**6
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58check(hex41: str) -> str:
    raw = bytes.fromhex(hex41)
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    n, out = int.from_bytes(raw, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = _ALPHABET[r] + out
    return out


def run(capsys: pytest.CaptureFixture[str], store: Any, *args: str, code: int = 0) -> str:
    capsys.readouterr()
    got = main(["-q", "--store", str(store), *args])
    out = capsys.readouterr()
    assert got == code, (args, got, out.err)
    return out.out


def doc(capsys: pytest.CaptureFixture[str], store: Any, *args: str) -> Any:
    return json.loads(run(capsys, store, *args, "--json"))


@pytest.fixture(scope="module")
def tagged(flow: Any) -> Any:
    """The flow's store with the three tags added through the CLI, and clustered (deposit)."""
    ac = flow.accounts
    base = ["-q", "--store", str(flow.store)]
    assert main([*base, "tags", "add", ac["src"], "--label", "Hack X", "--category", "service_hack",
                 "--currency", "TRX"]) == 0
    assert main([*base, "tags", "add", b58check(ac["hot"]), "--label", "ExchangeY hot", "--category",
                 "exchange"]) == 0
    sheet = flow.base / "labels.csv"
    sheet.write_text(f"address,label,category,currency\n0x{ac['dep'][2:]},ExchangeY deposit,exchange,TRX\n")
    assert main([*base, "tags", "import", str(sheet), "--format", "csv"]) == 0
    assert main([*base, "cluster", "run", "--chain", "tron", "--heuristics", "deposit",
                 "--hot-wallet", ac["hot"]]) == 0
    return flow


def test_tags_are_stored_under_the_t_form(capsys, tagged) -> None:
    ac = tagged.accounts
    for name, category in (("src", "service_hack"), ("hot", "exchange"), ("dep", "exchange")):
        for text in (b58check(ac[name]), ac[name]):
            shown = doc(capsys, tagged.store, "tags", "show", text)
            assert [(t["currency"], t["category"]) for t in shown["tags"]] == [("TRX", category)], (name, text)
    sheet = tagged.base / "lookup.txt"
    sheet.write_text(f"{b58check(ac['src'])}\n{ac['hot']}\n{b58check(ac['a'])}\n")
    rows = [json.loads(x) for x in run(capsys, tagged.store, "tags", "lookup", str(sheet), "--json").splitlines()]
    assert sorted((r["normalised_address"], r["category"]) for r in rows) == sorted(
        [(b58check(ac["src"]), "service_hack"), (b58check(ac["hot"]), "exchange")])


def test_trace_stops_at_the_tagged_deposit_address(capsys, tagged) -> None:
    d = doc(capsys, tagged.store, "trace", tagged.accounts["a"], "--chain", "tron")
    t = {k: b58check(v) for k, v in tagged.accounts.items()}
    got = {e["address"]: (e["reason"], e["amount_exact"], [x["label"] for x in e["tags"]]) for e in d["endpoints"]}
    assert got == {t["a"]: ("unspent", str(50_000 * USDT), []), t["c"]: ("unspent", str(70_000 * USDT), []),
                   t["e"]: ("unspent", str(30_000 * USDT), []),
                   t["dep"]: ("service", str(50_000 * USDT), ["ExchangeY deposit"])}


def test_risk_in_every_form_scores_the_frozen_hack_proceeds(capsys, tagged) -> None:
    c = tagged.accounts["c"]
    docs = []
    for text in (b58check(c), c, "0x" + c[2:]):
        for chain in (["--chain", "tron"], []):
            r = doc(capsys, tagged.store, "risk", text, *chain)
            assert (r["address"], r["chain"], r["currency"]) == (b58check(c), "tron", "TRX"), text
            docs.append(r)
    assert all(r == docs[0] for r in docs)
    reasons = {x["rule"]: x for x in docs[0]["reasons"]}
    assert (reasons["frozen-by-issuer"]["tx"], reasons["frozen-by-issuer"]["token"]) == (tagged.txs["freeze_c"],
                                                                                         USDT_T)
    exposure = docs[0]["exposure"]["incoming"]["indirect"]["service_hack"]
    assert (exposure["share"], exposure["amount"], exposure["asset"]) == (1.0, 100_000 * USDT, USDT_T)


def test_risk_of_a_txid_with_and_without_0x(capsys, tagged) -> None:
    dep = doc(capsys, tagged.store, "risk", b58check(tagged.accounts["dep"]))
    for text in (tagged.txs["dep_hot"], "0x" + tagged.txs["dep_hot"]):
        r = doc(capsys, tagged.store, "risk", text, "--chain", "tron")
        assert (r["address"], r["kind"]) == (tagged.txs["dep_hot"], "transaction")
        assert r["transaction"]["sender"] == b58check(tagged.accounts["dep"])
        assert r["transaction"]["funding_score"] == dep["score"] > 0


def test_screen_accepts_every_form_and_names_a_typo(capsys, tagged, tmp_path) -> None:
    c = tagged.accounts["c"]
    typo = b58check(c)[:-1] + ("x" if b58check(c)[-1] != "x" else "y")
    sheet = tmp_path / "in.csv"
    sheet.write_text("\n".join(["address", b58check(c), c, tagged.txs["b_c"], typo]) + "\n")
    capsys.readouterr()
    assert main(["-q", "--store", str(tagged.store), "screen", str(sheet)]) != 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["input"], r["chain"], r["kind"]) for r in rows[:3]] == [
        (b58check(c), "tron", "address"), (c, "tron", "address"), (tagged.txs["b_c"], "tron", "transaction")]
    assert rows[0]["score"] == rows[1]["score"] and float(rows[0]["score"]) >= 85
    assert typo in rows[3]["error"] and "checksum" in rows[3]["error"] and "\n" not in rows[3]["error"]


def test_exposure_of_the_hot_wallet(capsys, tagged) -> None:
    for text in (b58check(tagged.accounts["hot"]), tagged.accounts["hot"]):
        e = doc(capsys, tagged.store, "exposure", text, "--chain", "tron")
        assert e["address"] == b58check(tagged.accounts["hot"])
        assert e["exposure"]["incoming"]["direct"]["exchange"] == {"amount": 49_990 * USDT, "share": 1.0,
                                                                   "asset": USDT_T}


def test_deposit_clustering_shows_t_members_and_bare_evidence(capsys, tagged) -> None:
    ac = tagged.accounts
    shown = doc(capsys, tagged.store, "cluster", "show", "0x" + ac["b"][2:], "--chain", "tron")
    assert (shown["address"], shown["members"]) == (b58check(ac["b"]), 2)
    members = doc(capsys, tagged.store, "cluster", "members", str(shown["cluster_id"]), "--chain", "tron")
    assert sorted(m["address"] for m in members["members"]) == sorted([b58check(ac["b"]), b58check(ac["dep"])])
    why = doc(capsys, tagged.store, "cluster", "why", ac["b"], b58check(ac["dep"]), "--chain", "tron")
    assert [(s["from"], s["to"], s["txid"], s["heuristic"]) for s in why["steps"]] == [
        (b58check(ac["b"]), b58check(ac["dep"]), tagged.txs["b_dep"], "deposit")]
    assert {t["label"] for t in shown["tags"]} == {"ExchangeY deposit"}  # inherited from dep
