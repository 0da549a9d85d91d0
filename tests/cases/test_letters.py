"""`fundtrail case letters`: one freeze-and-disclosure request (PDF and JSON) per service reached,
checked against the simulator's answer key; the token-issuer letter on an account-chain result."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

import pytest

from fundtrail.cases import letters as letters_mod
from fundtrail.cli.main import main
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.workspace import Actor, Workspace
from tests.cases.support_report import btc, build_case, label_of, pdftotext


@pytest.fixture(scope="module")
def env(built: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    e = build_case(built, tmp_path_factory.mktemp("letters"))
    e["result"] = e["ws"].case_letters(e["case"], e["base"] / "letters", lang="en")
    return e


def _expected(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """service label -> {address: (fifo sat or None, haircut sat or None, first arrival)} from the answer key."""
    answers = truth["answers"]
    out: dict[str, dict[str, Any]] = {}
    for p in truth["cashout_points"]:
        fifo = answers["fifo"]["by_target_sat"].get(p["address"])
        haircut = answers["haircut"]["by_target_sat"].get(p["address"])
        if fifo is None and haircut is None:
            continue
        first = min(t for t in (answers["fifo"]["first_arrival"].get(p["address"]),
                                answers["haircut"]["first_arrival"].get(p["address"])) if t is not None)
        out.setdefault(label_of(p), {})[p["address"]] = (fifo, haircut, first)
    return out


def _iso(unix: int) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_one_letter_per_service_with_exact_json(env: dict[str, Any]) -> None:
    expected = _expected(env["truth"])
    out = env["base"] / "letters"
    index = json.loads((out / "index.json").read_text("utf-8"))
    assert (index["format"], index["format_version"], index["lang"]) == ("fundtrail-freeze-requests", 1, "en")
    assert index["case"] == {"id": env["case"], "title": "Ransomware <group> 1", "agency": "Cyber Police",
                             "number": "2026-0042"}
    assert sorted(x["addressee"] for x in index["letters"]) == sorted(expected)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["index.json", *(x["pdf"] for x in index["letters"]), *(x["json"] for x in index["letters"])])
    assert [x.slug for x in env["result"].letters] == [x["slug"] for x in index["letters"]]
    for entry in index["letters"]:
        pdf, body = (out / entry["pdf"]).read_bytes(), (out / entry["json"]).read_bytes()
        assert hashlib.sha256(pdf).hexdigest() == entry["pdf_sha256"] and pdf[:5] == b"%PDF-"
        assert hashlib.sha256(body).hexdigest() == entry["json_sha256"]
        doc = json.loads(body)
        assert (doc["format"], doc["kind"], doc["slug"], doc["token"]) == ("fundtrail-freeze-request", "service",
                                                                           entry["slug"], None)
        assert doc["case"] == index["case"] and doc["created_by"] == "alice"
        assert doc["request"] == ["freeze", "preserve_kyc", "identity", "login_ips", "linked_accounts",
                                  "withdrawal_destinations"]
        assert doc["contact"] == {"officer": None, "phone": None, "email": None}
        want = expected[doc["addressee"]["name"]]
        assert entry["deposits"] == len(doc["deposits"]) == len(want)
        for d in doc["deposits"]:
            fifo, haircut, first = want[d["address"]]
            amounts = {a["policy"]: a for a in d["amounts"]}
            assert (d["chain"], d["asset"], d["symbol"], d["decimals"]) == ("btc-regtest", "BTC", "BTC", 8)
            assert d["first_arrival"] == _iso(first)
            if fifo is not None:
                assert (amounts["fifo"]["amount"], amounts["fifo"]["amount_exact"]) == (str(fifo), str(fifo))
                assert amounts["fifo"]["display"] == btc(fifo) and amounts["fifo"]["trace_id"] == env["fifo"]
            if haircut is not None:
                assert amounts["haircut"]["amount"] == str(haircut) and amounts["haircut"]["display"] == btc(haircut)
            assert d["txids"] and all(re.fullmatch(r"[0-9a-f]{64}", x) for x in d["txids"])
            assert {o.split(":")[0] for o in d["outputs"]} == set(d["txids"])
        assert {a["address"] for a in doc["attribution"]} == set(want)
        assert all(a["source"] == "test label provider" for a in doc["attribution"])


def test_letter_pdf_names_what_to_freeze(env: dict[str, Any]) -> None:
    out = env["base"] / "letters"
    entry = json.loads((out / "index.json").read_text("utf-8"))["letters"][0]
    doc = json.loads((out / entry["json"]).read_text("utf-8"))
    text = re.sub(r"\s+", " ", pdftotext(out / entry["pdf"]))
    squeezed = text.replace(" ", "")
    assert "2026-0042" in text and env["case"] in text and doc["addressee"]["name"] in text
    assert "freeze the funds credited from these deposits" in text and "login IP addresses" in text
    for d in doc["deposits"]:
        assert d["address"] in squeezed and all(x in squeezed for x in d["txids"])
        assert all(a["display"] in text for a in d["amounts"])


def test_chinese_letters_and_bad_input(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    ws: Workspace = env["ws"]
    zh = env["base"] / "zh"
    code = main(["--store", str(env["store"]), "--as", "alice", "case", "letters", env["case"], "-o", str(zh),
                 "--lang", "zh_CN", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["lang"] == "zh_CN" and len(result["letters"]) == len(env["result"].letters)
    doc = json.loads((zh / result["letters"][0]["json_file"]).read_text("utf-8"))
    assert doc["lang"] == "zh_CN" and doc["request_text"][0].startswith("冻结")
    assert "协助函" in pdftotext(zh / result["letters"][0]["pdf"])
    with pytest.raises(UsageError) as lang:
        ws.case_letters(env["case"], env["base"] / "x", lang="zh_TW")
    assert lang.value.field == "lang"
    (env["base"] / "afile").write_text("x")
    with pytest.raises(UsageError) as isfile:
        ws.case_letters(env["case"], env["base"] / "afile")
    assert isfile.value.field == "output"
    stranger = Workspace.open(store=env["store"], actor=Actor(user="mallory"))
    with pytest.raises(NotFoundError) as hidden:
        stranger.case_letters(env["case"], env["base"] / "y")
    assert hidden.value.field == "case" and not (env["base"] / "y").exists()


def test_token_issuer_letter_on_an_account_chain_result() -> None:
    usdt = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
    holder, deposit = "0x" + "11" * 20, "0x" + "22" * 20

    def endpoint(address: str, reason: str, amount: int, label: str | None) -> dict[str, Any]:
        tags = [{"category": "exchange", "label": label, "source": "s", "confidence": "high",
                 "inherited_from": None}] if label else []
        return {"address": address, "reason": reason, "asset": usdt, "symbol": "USDT", "decimals": 6,
                "amount_sat": amount, "amount_exact": str(amount), "tags": tags, "label": label,
                "first_arrival_unix": 1_700_000_000, "outputs": [f"0x{'ab' * 32}:7"]}

    result = {"chain": "eth-anvil", "assets": {usdt: {"symbol": "USDT", "decimals": 6}},
              "limits": {"stop_at": ["exchange"]},
              "endpoints": [endpoint(holder, "unspent", 250_000_000, None),
                            endpoint(deposit, "service", 1_000_000, "Exchange X")]}
    trace = {"id": "T-0000000a", "policy": "fifo", "result": result}
    case = {"id": "C-0000000b", "title": "T", "agency": None, "case_number": None}
    docs = letters_mod.letters(case, [trace], lang="en", author="alice", version="0", now="2026-12-06T00:00:00Z")
    assert [d["kind"] for d in docs] == ["service", "token_issuer"]
    service, issuer = docs
    assert service["deposits"][0]["amounts"][0]["display"] == "1.000000 USDT"
    assert service["deposits"][0]["txids"] == ["0x" + "ab" * 32]
    assert issuer["token"]["contract"] == usdt and issuer["addressee"]["name"] == "Issuer of USDT"
    assert [(h["address"], h["reasons"], h["amounts"][0]["amount"]) for h in issuer["token"]["holders"]] == [
        (holder, ["unspent"], "250000000"), (deposit, ["service"], "1000000")]
    assert issuer["request"] == ["blacklist", "issuer_records"]
