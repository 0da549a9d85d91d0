"""Every lookup and analysis command with `--chain tron`, through the real CLI, on mainnet block
50,000,011 and the made-up USDT flow after it (tests/tron/conftest.py).

Oracles, none of them the code under test: the flow script's amounts and parties; GraphSense's rows
of block 50,000,011 (the issue's figure: its 73 USDT transfers move exactly 465,704.408725 USDT);
`T…` texts computed here by an independent Base58Check (hashlib's SHA-256, the alphabet), and
USDT's `TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t` from the issue. TRON txids are shown as 64 lower-case
hex digits without 0x (as java-tron and tronscan write them); every input form is accepted.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

import pytest

from fundtrail.cli.main import main

USDT_T = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT = 10**6
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_T = re.compile(r"T[1-9A-HJ-NP-Za-km-z]{33}")
_TXID = re.compile(r"[0-9a-f]{64}")


def b58check(hex41: str) -> str:
    """The `T…` text of a `41…` address, by Base58Check written out here (the oracle)."""
    raw = bytes.fromhex(hex41)
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    n, out = int.from_bytes(raw, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = _ALPHABET[r] + out
    return out


def run(capsys: pytest.CaptureFixture[str], flow: Any, *args: str, code: int = 0) -> str:
    capsys.readouterr()
    got = main(["-q", "--store", str(flow.store), *args])
    out = capsys.readouterr()
    assert got == code, (args, got, out.err)
    return out.out if code == 0 else out.err


def doc(capsys: pytest.CaptureFixture[str], flow: Any, *args: str) -> Any:
    return json.loads(run(capsys, flow, *args, "--json"))


def forms(flow: Any, name: str) -> list[str]:
    """The three ways an investigator may type one TRON address."""
    h = flow.accounts[name]
    return [b58check(h), h, "0x" + h[2:]]


def one_line_error(capsys: pytest.CaptureFixture[str], flow: Any, *args: str, code: int = 2) -> str:
    err = run(capsys, flow, *args, code=code).strip()
    assert len(err.splitlines()) == 1 and err.startswith("fundtrail: error: "), err
    return err


def test_address_in_every_form_shows_the_t_form(capsys, flow) -> None:
    a = b58check(flow.accounts["a"])
    for text in forms(flow, "a"):
        for chain in (["--chain", "tron"], []):
            s = doc(capsys, flow, "address", text, *chain)
            assert (s["chain"], s["address"]) == ("tron", a), text
            usdt = next(x for x in s["assets"] if x["contract"] == USDT_T)
            # received from src in the real block, sent on to b in the flow
            assert (usdt["symbol"], usdt["decimals"], usdt["received"], usdt["sent"]) == (
                "USDT", 6, str(200_000 * USDT), str(150_000 * USDT))
            assert s["first_seen"]["txid"] == flow.txs["src_a"] and s["first_seen"]["height"] == 50_000_011
    text = run(capsys, flow, "address", a, "--chain", "tron")
    assert "0x" not in text and a in text


def test_bad_addresses_are_one_line_errors_naming_the_input(capsys, flow) -> None:
    a = b58check(flow.accounts["a"])
    typo = a[:-1] + ("x" if a[-1] != "x" else "y")
    assert typo in one_line_error(capsys, flow, "address", typo, "--chain", "tron")
    assert "checksum" in one_line_error(capsys, flow, "address", typo, "--chain", "tron")
    assert "42" in one_line_error(capsys, flow, "address", "42" + flow.accounts["a"][2:], "--chain", "tron")
    err = one_line_error(capsys, flow, "trace", typo, "--chain", "tron")
    assert typo in err and "checksum" in err
    assert typo in one_line_error(capsys, flow, "risk", typo, "--chain", "tron")


def test_txs_lists_bare_txids_and_t_counterparties(capsys, flow) -> None:
    page = doc(capsys, flow, "txs", forms(flow, "b")[1], "--chain", "tron")
    assert page["address"] == b58check(flow.accounts["b"])
    assert [t["txid"] for t in page["txs"]] == [flow.txs[k] for k in ("a_b", "a_b_trx", "b_c", "b_dep")]
    moves = {(t["txid"], x["direction"], x["counterparty"], x["amount"]) for t in page["txs"] for x in t["transfers"]
             if x["kind"] != "fee"}
    assert moves == {(flow.txs["a_b"], "in", b58check(flow.accounts["a"]), str(150_000 * USDT)),
                     (flow.txs["a_b_trx"], "in", b58check(flow.accounts["a"]), str(10 * USDT)),
                     (flow.txs["b_c"], "out", b58check(flow.accounts["c"]), str(100_000 * USDT)),
                     (flow.txs["b_dep"], "out", b58check(flow.accounts["dep"]), str(50_000 * USDT))}


@pytest.mark.parametrize("prefix", ["", "0x", "0X"])
def test_tx_with_and_without_0x(capsys, flow, prefix) -> None:
    txid = flow.txs["a_b"]
    for chain in (["--chain", "tron"], []):
        d = doc(capsys, flow, "tx", prefix + (txid.upper() if prefix == "0X" else txid), *chain)
        assert d["txid"] == txid and _TXID.fullmatch(d["block_hash"]) and d["height"] == 50_000_012
        assert (d["from_address"], d["to_address"]) == (b58check(flow.accounts["a"]), USDT_T)
        (usdt,) = [t for t in d["transfers"] if t["kind"] == "erc20"]
        assert (usdt["from_address"], usdt["to_address"], usdt["amount"], usdt["contract"]) == (
            b58check(flow.accounts["a"]), b58check(flow.accounts["b"]), str(150_000 * USDT), USDT_T)
    one_line_error(capsys, flow, "tx", txid[:-1], "--chain", "tron")
    assert "not in the store" in one_line_error(capsys, flow, "tx", "ab" * 32, "--chain", "tron", code=6)


def test_search_finds_addresses_and_txids_in_every_form(capsys, flow) -> None:
    a = b58check(flow.accounts["a"])
    for text in forms(flow, "a"):
        hits = doc(capsys, flow, "search", text)["hits"]
        assert [(h["kind"], h["chain"], h["text"], h["link"]) for h in hits] == [
            ("address", "tron", a, f"/api/v1/tron/addresses/{a}")], text
    txid = flow.txs["b_c"]
    for text in (txid, "0x" + txid):
        hits = doc(capsys, flow, "search", text)["hits"]
        assert [(h["kind"], h["text"], h["link"]) for h in hits] == [
            ("transaction", txid, f"/api/v1/tron/txs/{txid}")], text


def _endpoints(d: dict) -> dict[str, tuple[str, str]]:
    return {e["address"]: (e["reason"], e["amount_exact"]) for e in d["endpoints"]}


def test_trace_forward_from_an_address_ends_where_the_flow_put_the_usdt(capsys, flow) -> None:
    d = doc(capsys, flow, "trace", forms(flow, "a")[2], "--chain", "tron", "--asset", USDT_T)
    t = {k: b58check(v) for k, v in flow.accounts.items()}
    # a keeps 50,000; c received 100,000 and sent 30,000 on to e; dep swept 49,990 to hot and kept 10
    assert _endpoints(d) == {t["a"]: ("unspent", str(50_000 * USDT)), t["c"]: ("unspent", str(70_000 * USDT)),
                             t["e"]: ("unspent", str(30_000 * USDT)), t["hot"]: ("unspent", str(49_990 * USDT)),
                             t["dep"]: ("unspent", str(10 * USDT))}
    frozen = {e["address"]: e["frozen"] for e in d["endpoints"] if e["frozen"]}
    assert list(frozen) == [t["c"]]
    assert (frozen[t["c"]]["tx"], frozen[t["c"]]["block"]) == (flow.txs["freeze_c"], 50_000_015)
    addresses = {n["address"] for n in d["graph"]["nodes"]} | {e["address"] for e in d["endpoints"]}
    assert addresses and all(_T.fullmatch(x) for x in addresses)
    assert {e["output"].split(":")[0] for e in d["graph"]["edges"]} == {
        flow.txs[k] for k in ("src_a", "a_b", "b_c", "b_dep", "dep_hot", "c_e")}  # the seed transfer, then on
    text = run(capsys, flow, "trace", forms(flow, "a")[0], "--chain", "tron")
    assert "0x" not in text and "frozen by the issuer at block 50000015" in text


def test_trace_from_a_txid_with_and_without_0x(capsys, flow) -> None:
    bare = doc(capsys, flow, "trace", flow.txs["src_a"], "--chain", "tron")
    with_0x = doc(capsys, flow, "trace", "0x" + flow.txs["src_a"])
    assert _endpoints(bare) == _endpoints(with_0x)
    assert sum(int(a) for _, a in _endpoints(bare).values()) == 200_000 * USDT  # the real transfer src -> a
    err = one_line_error(capsys, flow, "trace", "0x" + flow.txs["src_a"][:-2], "--chain", "tron")
    assert "seeds" in err or "seed" in err


def test_trace_backward_reaches_the_real_sender(capsys, flow) -> None:
    d = doc(capsys, flow, "trace", forms(flow, "e")[1], "--direction", "backward", "--chain", "tron")
    assert _endpoints(d) == {b58check(flow.accounts["src"]): ("unknown_history", str(30_000 * USDT))}


def test_paths_follow_transfers_of_one_asset_forward_in_time(capsys, flow) -> None:
    d = doc(capsys, flow, "paths", forms(flow, "a")[0], forms(flow, "hot")[2], "--chain", "tron")
    assert d["found"] == 1
    (p,) = d["paths"]
    assert [s["txid"] for s in p["steps"]] == [flow.txs[k] for k in ("a_b", "b_dep", "dep_hot")]
    assert [s["to_address"] for s in p["steps"]] == [b58check(flow.accounts[k]) for k in ("b", "dep", "hot")]
    assert (p["asset"], p["max_value_sat"]) == (USDT_T, 49_990 * USDT)
    d = doc(capsys, flow, "paths", "0x" + flow.txs["src_a"], forms(flow, "e")[1])
    assert [s["txid"] for s in d["paths"][0]["steps"]] == [flow.txs[k] for k in ("src_a", "a_b", "b_c", "c_e")]
    assert doc(capsys, flow, "paths", forms(flow, "e")[0], forms(flow, "a")[0], "--chain", "tron")["found"] == 0
    text = run(capsys, flow, "paths", forms(flow, "a")[0], forms(flow, "hot")[0])
    assert "49990 USDT" in text and "0x" not in text
    assert "target" in one_line_error(capsys, flow, "paths", forms(flow, "a")[0], flow.txs["a_b"], "--chain", "tron")


def test_export_transfers_writes_t_addresses_and_bare_txids(capsys, flow) -> None:
    rows = [json.loads(x) for x in run(capsys, flow, "export", "transfers", "--chain", "tron").splitlines()]
    assert rows and all(_TXID.fullmatch(r["tx_hash"]) for r in rows if r["tx_hash"])
    assert all(_T.fullmatch(r[k]) for r in rows for k in ("from", "to") if r[k])
    assert {r["asset"] for r in rows} >= {"TRX", USDT_T}
    real = [r for r in rows if r["block_number"] == 50_000_011 and r["asset"] == USDT_T and r["kind"] == "erc20"]
    assert len(real) == 73 and sum(Decimal(r["amount"]) for r in real) / USDT == Decimal("465704.408725")
    flow_usdt = [(r["from"], r["to"], int(r["amount"])) for r in rows
                 if r["block_number"] > 50_000_011 and r["asset"] == USDT_T]
    t = {k: b58check(v) for k, v in flow.accounts.items()}
    assert flow_usdt == [(t["a"], t["b"], 150_000 * USDT), (t["b"], t["c"], 100_000 * USDT),
                         (t["b"], t["dep"], 50_000 * USDT), (t["dep"], t["hot"], 49_990 * USDT),
                         (t["c"], t["e"], 30_000 * USDT)]


def test_freezes_and_status_show_tron_forms(capsys, flow) -> None:
    for text in forms(flow, "c"):
        d = doc(capsys, flow, "freezes", "--chain", "tron", "--address", text)
        assert [(f["tx"], f["address"], f["token"], f["action"], f["frozen_now"]) for f in d["freezes"]] == [
            (flow.txs["freeze_c"], b58check(flow.accounts["c"]), USDT_T, "blacklisted", True)], text
    status = run(capsys, flow, "status")
    tip = re.search(r"tip (\S+)", status)
    assert tip and _TXID.fullmatch(tip.group(1)), status
