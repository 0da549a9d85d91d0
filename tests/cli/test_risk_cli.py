"""`fundtrail risk` and `fundtrail screen` on a simulated chain with imported tags (real importer)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.sim.scenario import simulate

_CATEGORY = {"exchange": "exchange", "otc_desk": "exchange", "mixer": "mixing_service",
             "ransomware": "ransomware"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("risk")
    simulate(base / "sim", seed=13, txs=3000)
    store = str(base / "store")
    assert main(["-q", "--store", store, "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    with open(base / "sim/truth/addresses.csv") as fh:
        rows = list(csv.DictReader(fh))
    labels = base / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "currency"])
        for r in rows:
            if r["category"] in _CATEGORY and r["role"] not in ("change", "wallet"):
                w.writerow([r["address"], r["actor"], _CATEGORY[r["category"]], "BTC-REGTEST"])
    assert main(["-q", "--store", store, "tags", "import", str(labels), "--format", "csv"]) == 0
    assert main(["-q", "--store", store, "cluster", "run"]) == 0
    case = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    retail = next(r["address"] for r in rows if r["category"] == "retail")
    return {"base": base, "store": store, "case": case, "retail": retail}


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_risk_of_ransom_cashout_and_clean_addresses(env: dict, capsys) -> None:
    ransom = env["case"]["seed_addresses"][0]
    cash = env["case"]["cashout_points"][0]["address"]
    assert main(["--store", env["store"], "risk", ransom, cash, env["retail"], "--json"]) == 0
    r_ransom, r_cash, r_retail = _json_lines(capsys.readouterr().out)
    assert r_ransom["profile"] == "default@1"
    assert r_ransom["score"] >= 90 and any(x["rule"] == "tagged-illicit" for x in r_ransom["reasons"])
    tagged = next(x for x in r_ransom["reasons"] if x["rule"] == "tagged-illicit")
    assert tagged["tags"][0]["category"] == "ransomware" and tagged["tags"][0]["source"]
    exp = next(x for x in r_cash["reasons"] if x["kind"] == "exposure")
    assert exp["category"] == "ransomware" and exp["direction"] == "incoming" and 0 < exp["share"] <= 1
    assert r_cash["exposure"]["incoming"]["direct"] or r_cash["exposure"]["incoming"]["indirect"]
    assert r_retail["activity_in_store"] is True
    for r in (r_ransom, r_cash, r_retail):
        assert 0 <= r["score"] <= 100
        assert r["reasons"] == sorted(r["reasons"], key=lambda x: -x["score"])


def test_cluster_exposure_sums_the_members(env: dict, capsys) -> None:
    """Cash-out deposit addresses are swept together, so some sit in multi-address clusters."""
    cash = sorted({c["address"] for c in env["case"]["cashout_points"]})
    assert main(["--store", env["store"], "risk", *cash, "--json"]) == 0
    results = _json_lines(capsys.readouterr().out)
    clustered = [r for r in results if r["exposure"]["cluster"] is not None]
    assert clustered, "at least one cash-out address is in a cluster of several addresses"
    for r in clustered:
        cl = r["exposure"]["cluster"]
        assert cl["members"] >= 2 and cl["received_sat"] >= r["exposure"]["received_sat"]
        for direction in ("incoming", "outgoing"):
            for cat, part in r["exposure"][direction]["direct"].items():
                assert cl[direction]["direct"][cat]["amount_sat"] >= part["amount_sat"]


def test_risk_without_activity_uses_tags_alone(env: dict, capsys, tmp_path: Path) -> None:
    fresh = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"  # valid regtest address, never paid here
    assert main(["--store", env["store"], "tags", "add", fresh, "--label", "OFAC test", "--category",
                 "sanction", "--currency", "BTC-REGTEST"]) == 0
    capsys.readouterr()
    assert main(["--store", env["store"], "risk", fresh, "--json"]) == 0
    (r,) = _json_lines(capsys.readouterr().out)
    assert r["activity_in_store"] is False and "tags alone" in r["note"]
    assert r["score"] == 100 and r["reasons"][0]["rule"] == "tagged-sanctioned"


@pytest.mark.parametrize("args, code, text", [
    (["notanaddress"], 2, "not an address of a currency"),
    (["1BoatSLRHtKNngkdXEeobR76b53LETtpyU"], 2, "not a valid BTC address: bad checksum"),
    (["0x52908400098527886e0F7030069857D2E4169EE7"], 2, "bad EIP-55 checksum"),
    (["--chain", "btc-regtest", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"], 2, "is not a btc-regtest address"),
    (["--chain", "nosuchchain", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"], 6, "chain nosuchchain is not in the store"),
])
def test_risk_bad_address_is_one_line(env: dict, capsys, args: list[str], code: int, text: str) -> None:
    assert main(["--store", env["store"], "risk", *args]) == code
    err = capsys.readouterr().err
    assert text in err and err.count("\n") == 1


@pytest.mark.parametrize("address, why", [
    ("1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "the store holds no BTC/BCH/BSV chain (stored: btc-regtest)"),
    ("0x52908400098527886E0F7030069857D2E4169EE7", "the store holds no EVM chain (stored: btc-regtest)"),
])
def test_address_of_a_chain_not_stored_is_scored_from_tags(env: dict, capsys, address: str, why: str) -> None:
    """A mainnet or EVM address in a regtest store: no exposure, said so, never an error or a silent 0."""
    assert main(["--store", env["store"], "risk", address, "--json"]) == 0
    (r,) = _json_lines(capsys.readouterr().out)
    assert r["exposure_computed"] is False and r["exposure_reason"] == why and r["exposure"] is None
    assert r["score"] == 0 and "exposure not computed" in r["note"]
    assert main(["--store", env["store"], "risk", address]) == 0
    assert f"exposure not computed ({why})" in capsys.readouterr().out


def test_screen_csv_in_csv_out(env: dict, capsys, tmp_path: Path) -> None:
    seed = env["case"]["seed_outputs"][0]
    src = tmp_path / "in.csv"
    src.write_text("address,note\n" + f"{env['case']['seed_addresses'][0]},ransom\n"
                   + f"{env['retail']},user\nbogus,typo\n{seed['txid']},a tx\n")
    out = tmp_path / "out.csv"
    assert main(["--store", env["store"], "screen", str(src), "--output", str(out)]) == 3
    assert "1 of 4 inputs could not be screened" in capsys.readouterr().err
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["input"] for r in rows] == [env["case"]["seed_addresses"][0], env["retail"], "bogus", seed["txid"]]
    assert [r["note"] for r in rows] == ["ransom", "user", "typo", "a tx"]  # the input's own columns kept
    assert list(rows[0]) == ["address", "note", "input", "kind", "currency", "chain", "score", "severity",
                             "profile", "top_reasons", "activity_in_store", "exposure_computed",
                             "screen_note", "error"]
    assert float(rows[0]["score"]) >= 90 and "tagged-illicit" in rows[0]["top_reasons"]
    assert rows[0]["chain"] == "btc-regtest" and rows[0]["exposure_computed"] == "true"
    assert rows[2]["error"].startswith("line 4: ") and rows[2]["score"] == ""
    assert rows[3]["kind"] == "transaction" and rows[3]["error"] == ""
    bad = tmp_path / "nocol.csv"
    bad.write_text("addr\nx\n")
    assert main(["--store", env["store"], "screen", str(bad)]) == 2
    assert "no column 'address'" in capsys.readouterr().err


def test_screen_keeps_an_overlong_row_and_reports_it_in_place(env: dict, capsys, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(f"address,customer\n{env['retail']},c-1\n{env['retail']},c-2,stray cell\n"
                   f"{env['case']['seed_addresses'][0]},c-3\n")
    out = tmp_path / "out.csv"
    assert main(["--store", env["store"], "screen", str(src), "-o", str(out)]) == 3
    assert "1 of 3 inputs could not be screened" in capsys.readouterr().err
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["customer"] for r in rows] == ["c-1", "c-2", "c-3"]  # no row dropped, order kept
    assert rows[1]["error"] == "line 3: 3 cells but the header has 2 columns" and rows[1]["score"] == ""
    assert rows[0]["score"] != "" and float(rows[2]["score"]) >= 90
