"""`fundtrail risk` and `screen` on an account chain: the EVM simulator's recording, ingested, tagged.

The exposure amounts are checked against an exact (Fraction) haircut computed here from the
simulator's own ground truth (truth/transfers.csv), independently of the store and the graph index.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import pytest
from support.anvil import require_anvil

from fundtrail.cli.main import main
from fundtrail.trace.attribution import chain_currency

_CATEGORY = {"exchange": "exchange", "mixer": "mixing_service"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_anvil()
    base = tmp_path_factory.mktemp("evmrisk")
    assert main(["-q", "simulate", "--chain", "eth", "--seed", "5", "--txs", "400", "--out", str(base / "sim")]) == 0
    store = str(base / "store")
    assert main(["-q", "--store", store, "ingest", "ethereum", "--replay", str(base / "sim" / "rpc")]) == 0
    manifest = json.loads((base / "sim/manifest.json").read_text())
    assert manifest["chain"] == "anvil" and chain_currency("anvil") == "ANVIL"
    with open(base / "sim/truth/addresses.csv") as fh:
        rows = list(csv.DictReader(fh))
    tags: dict[str, str] = {}
    for r in rows:  # what an investigator knows: the services, and the thief's receiving address
        if r["category"] in _CATEGORY:
            tags[r["address"]] = _CATEGORY[r["category"]]
        elif r["category"] == "theft" and r["role"] == "seed":
            tags[r["address"]] = "service_hack"
    actor = {r["address"]: r["actor"] for r in rows}
    labels = base / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "currency"])
        for a, c in tags.items():
            w.writerow([a, actor[a], c, "ANVIL"])
    assert main(["-q", "--store", store, "tags", "import", str(labels), "--format", "csv"]) == 0
    case = json.loads((base / "sim/truth/cases/theft-1.json").read_text())
    with open(base / "sim/truth/transactions.csv") as fh:
        senders = {r["tx_hash"]: r["from"] for r in csv.DictReader(fh)}
    return {"base": base, "store": store, "case": case, "tags": tags, "rows": rows, "senders": senders,
            "oracle": _haircut_oracle(base / "sim/truth/transfers.csv", tags)}


def _haircut_oracle(path: Path, tags: dict[str, str]) -> dict:
    """(address, asset) -> {"direct"|"indirect": {category: Fraction}}: exact haircut over the truth."""
    bal: dict = defaultdict(Fraction)
    taint: dict = defaultdict(lambda: defaultdict(Fraction))
    got: dict = defaultdict(lambda: {"direct": defaultdict(Fraction), "indirect": defaultdict(Fraction)})
    with open(path) as fh:
        for t in csv.DictReader(fh):
            frm, to, asset, amount = t["from"], t["to"], t["asset"].lower(), Fraction(int(t["amount"]))
            if frm and frm == to:
                continue
            carried: dict[str, Fraction] = {}
            if frm:
                src = (frm, asset)
                if frm in tags:
                    carried = {tags[frm]: amount}
                elif bal[src] > 0:
                    part = min(amount / bal[src], Fraction(1))
                    carried = {c: v * part for c, v in taint[src].items()}
                    for c, v in carried.items():
                        taint[src][c] -= v
                bal[src] -= amount
                if bal[src] <= 0:
                    bal[src] = Fraction(0)
                    taint[src].clear()
            if to:
                bal[(to, asset)] += amount
                for c, v in carried.items():
                    taint[(to, asset)][c] += v
                    got[(to, asset)]["direct" if frm in tags else "indirect"][c] += v
    return got


def _risk(env: dict, capsys, *args: str) -> list[dict]:
    assert main(["--store", env["store"], "risk", *args, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_thief_is_scored_by_its_tag(env: dict, capsys) -> None:
    thief = env["case"]["seed_addresses"][0]
    (r,) = _risk(env, capsys, thief)
    assert r["profile"] == "default@1" and r["score"] == 90 and r["severity"] == "high"
    assert r["reasons"][0]["rule"] == "tagged-illicit"
    tag = r["reasons"][0]["tags"][0]
    assert tag["category"] == "service_hack" and tag["label"] == "thief-1" and tag["source"] == "labels.csv"
    stolen = sum(int(t["amount"]) for t in env["case"]["seed_transfers"] if t["asset"] == "ETH")
    victim = r["exposure"]["incoming"]["direct"]["exchange"]  # the victim exchange paid it, one transfer away
    assert victim["asset"] == "ETH" and victim["amount"] == pytest.approx(stolen, rel=1e-12)
    assert r["exposure"]["cluster"] is None


def test_thief_outgoing_equals_what_the_services_received_from_it(env: dict, capsys) -> None:
    """Haircut flows are linear: what of the thief's ETH reached exchanges and mixers through
    untagged addresses (reverse pass) is what those received from it indirectly (exact oracle)."""
    thief = env["case"]["seed_addresses"][0]
    (r,) = _risk(env, capsys, thief)
    out = r["exposure"]["assets"]["ETH"]["outgoing"]
    for cat in ("exchange", "mixing_service"):
        arrived = sum(got["indirect"]["service_hack"] for (a, asset), got in env["oracle"].items()
                      if asset == "eth" and env["tags"].get(a) == cat)
        assert arrived > 0
        assert out["indirect"][cat]["amount"] == pytest.approx(float(arrived), rel=1e-9)
    assert out["direct"] == {}  # the thief paid no service itself


def test_cashout_deposits_match_the_exact_haircut(env: dict, capsys) -> None:
    cash = [c for c in env["case"]["cashout_points"] if c["asset"] == "ETH"]
    assert len(cash) >= 5
    results = _risk(env, capsys, *[c["address"] for c in cash])
    hack_scored = 0
    for c, r in zip(cash, results):
        assert r["address"] == c["address"] and env["tags"][c["address"]] == "exchange"
        want = env["oracle"][(c["address"], "eth")]
        got = r["exposure"]["assets"]["ETH"]["incoming"]
        for hops in ("direct", "indirect"):
            expected = {k: float(v) for k, v in want[hops].items() if v}
            assert set(got[hops]) == set(expected), (c["address"], hops)
            for k, v in expected.items():
                assert got[hops][k]["amount"] == pytest.approx(v, rel=1e-9)
        if "service_hack" in got["indirect"]:
            hack_scored += 1
            reason = next(x for x in r["reasons"] if x["rule"] == "exposure-illicit")
            share = got["indirect"]["service_hack"]["share"]
            assert (reason["category"], reason["direction"], reason["hops"], reason["asset"]) == (
                "service_hack", "incoming", "indirect", "ETH")
            assert reason["score"] == round((40 + 55 * share) * 0.75, 2) and share > 0.9
            assert r["score"] >= reason["score"]
        assert r["reasons"] == sorted(r["reasons"], key=lambda x: -x["score"])
    assert hack_scored >= 5


def test_mixer_withdrawals_are_direct_mixer_exposure(env: dict, capsys) -> None:
    outs = [r["address"] for r in env["rows"] if r["role"] == "mixer_out"][:3]
    for r in _risk(env, capsys, *outs):
        reason = next(x for x in r["reasons"] if x["rule"] == "exposure-mixer")
        assert reason["hops"] == "direct" and reason["category"] == "mixing_service"
        want = env["oracle"][(r["address"], "eth")]["direct"]["mixing_service"]
        assert reason["amount"] == pytest.approx(float(want), rel=1e-9) and want > 0


def test_transaction_is_scored_by_its_sender(env: dict, capsys) -> None:
    tx = next(t["tx_hash"] for t in env["case"]["transactions"] if t["typology"] == "cash_out")
    (r,) = _risk(env, capsys, tx)
    assert r["address"] == tx and r["kind"] == "transaction" and r["score"] > 0
    assert r["transaction"]["sender"].lower() == env["senders"][tx]
    funding = [x for x in r["reasons"] if x["side"] == "funding"]
    assert funding and all(x["via_address"].lower() == env["senders"][tx] for x in funding)


def test_transactions_are_scored_by_the_addresses_they_pay(env: dict, capsys) -> None:
    """Issue 12 item 2 (account chains): the theft sends ETH, then a token, from the victim
    exchange to the thief's tagged address; a withdrawal screen must see whom they pay, the token
    recipient included (the token transaction itself calls the token contract)."""
    thief = env["case"]["seed_addresses"][0]
    moves = {t["kind"]: t for t in env["case"]["seed_transfers"] if t["to"] == thief.lower()}
    assert {"native", "erc20"} <= set(moves)
    for move in (moves["native"], moves["erc20"]):
        (r,) = _risk(env, capsys, move["tx_hash"])
        assert r["transaction"]["sender"].lower() == move["from"] == env["senders"][move["tx_hash"]]
        paying = [x for x in r["reasons"] if x["side"] == "paying" and x["via_address"].lower() == thief.lower()]
        assert paying and paying[0]["rule"] == "tagged-illicit" and paying[0]["tags"][0]["label"] == "thief-1"
        assert r["transaction"]["paying_score"] == 90 and r["score"] == max(x["score"] for x in r["reasons"]) >= 90


def test_screen_csv_in_csv_out(env: dict, capsys, tmp_path: Path) -> None:
    thief = env["case"]["seed_addresses"][0]
    deposit = next(c["address"] for c in env["case"]["cashout_points"] if c["asset"] == "ETH")
    tx = next(t["tx_hash"] for t in env["case"]["transactions"] if t["typology"] == "cash_out")
    src = tmp_path / "in.csv"
    src.write_text("address\n" + "\n".join([thief, deposit, "0x1234", tx, "0x" + "ab" * 32]) + "\n")
    out = tmp_path / "out.csv"
    assert main(["--store", env["store"], "screen", str(src), "--output", str(out)]) == 3
    assert "2 of 5 inputs could not be screened" in capsys.readouterr().err
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["kind"] for r in rows] == ["address", "address", "address", "transaction", "transaction"]
    assert rows[0]["score"] == "90" and "tagged-illicit" in rows[0]["top_reasons"]
    assert "exposure-illicit" in rows[1]["top_reasons"] and "incoming indirect service_hack" in rows[1]["top_reasons"]
    assert "not an EVM address" in rows[2]["error"] and rows[2]["score"] == ""
    assert rows[3]["error"] == "" and float(rows[3]["score"]) > 0 and "side: 0x" in rows[3]["top_reasons"]
    assert "not in the store" in rows[4]["error"]


def test_inactive_address_is_scored_from_tags_alone(env: dict, capsys) -> None:
    fresh = "0x00000000000000000000000000000000000dead1"
    assert main(["--store", env["store"], "tags", "add", fresh, "--label", "OFAC test", "--category",
                 "sanction", "--currency", "ANVIL"]) == 0
    capsys.readouterr()
    (r,) = _risk(env, capsys, fresh)
    assert r["activity_in_store"] is False and "tags alone" in r["note"]
    assert r["score"] == 100 and r["reasons"][0]["rule"] == "tagged-sanctioned"


@pytest.mark.parametrize("arg, code, text", [
    ("0x1234", 2, "not an EVM address"),
    ("0xA051b629f659c6052de7e13689498ecd70c538ff", 2, "bad EIP-55 checksum"),
    ("0x" + "00" * 32, 6, "not in the store"),
])
def test_bad_input_is_one_line(env: dict, capsys, arg: str, code: int, text: str) -> None:
    assert main(["--store", env["store"], "risk", arg]) == code
    err = capsys.readouterr().err
    assert text in err and err.count("\n") == 1


def test_chain_option_picks_the_account_chain(env: dict, capsys) -> None:
    thief = env["case"]["seed_addresses"][0]
    (r,) = _risk(env, capsys, "--chain", "anvil", thief)
    assert r["score"] == 90
    # eth is a chain fundtrail knows but this store does not hold: ETH tags alone, said so
    (r,) = _risk(env, capsys, "--chain", "eth", thief)
    assert r["exposure_computed"] is False and r["score"] == 0 and r["chain"] == "eth"
    assert r["exposure_reason"] == "chain eth is not in the store (stored: anvil)"
    assert main(["--store", env["store"], "risk", "--chain", "nosuchchain", thief]) == 6
    assert "chain nosuchchain is not in the store" in capsys.readouterr().err
