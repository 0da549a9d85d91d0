"""Known issuer contracts against other projects' data, and the `freeze` rule kind of risk profiles."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import pytest

from fundtrail.chains.tron.address import parse_tron_address, to_base58
from fundtrail.errors import ConfigError
from fundtrail.model.issuers import ISSUERS, issuer_of, issuers_on
from fundtrail.risk.profile import load_profile


def test_tron_issuers_are_graphsenses_token_configuration(testdata: Path) -> None:
    conf = testdata / "tron/graphsense-lib/56804500to56805500/token_configuration.json"
    rows = [json.loads(line) for line in conf.read_text().splitlines() if line.strip()]
    theirs = {r["currencyTicker"]: base64.b64decode(r["tokenAddress"]) for r in rows}
    ours = {i.symbol: i for i in issuers_on("tron")}
    assert set(ours) == {"USDT", "USDC"}
    for symbol, issuer in ours.items():
        assert issuer.raw == theirs[symbol], symbol
        assert issuer.decimals == next(r["decimals"] for r in rows if r["currencyTicker"] == symbol)
    # issue 18's vector, and Circle's published T-address for USDC on TRON
    assert to_base58(ours["USDT"].raw) == "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    assert parse_tron_address("41a614f803b6fd780986a42c78ec9c7f77e6ded13c") == ours["USDT"].raw
    assert to_base58(ours["USDC"].raw) == "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8"


def test_eth_issuers_are_etherscans_stablecoin_labels(testdata: Path) -> None:
    path = testdata / "labels/etherscan-labels/etherscan/accounts/stablecoin.csv"
    with path.open() as fh:
        labels = {row[1].lower(): row[2] for row in csv.reader(fh) if len(row) > 2}
    ours = {i.symbol: i for i in issuers_on("eth")}
    assert labels["0x" + ours["USDT"].address] == "Tether: USDT Stablecoin"
    assert labels["0x" + ours["USDC"].address] == "Centre: USD Coin"
    assert issuer_of("eth", ours["USDT"].raw) is ours["USDT"] and issuer_of("tron", ours["USDT"].raw) is None
    assert issuer_of("anvil", ours["USDT"].raw) is None and issuers_on("anvil") == []
    assert all(len(i.raw) == 20 and i.address == i.address.lower() for i in ISSUERS)


def _profile(tmp_path: Path, rule: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text("profile: t\nversion: 1\nexposure_categories: [sanction]\nrules:\n" + rule)
    return path


def test_freeze_rule_kind_and_added_issuers(tmp_path: Path) -> None:
    default = load_profile()
    (rule,) = [r for r in default.rules if r.kind == "freeze"]
    assert (rule.id, rule.score, rule.severity, rule.categories, rule.issuers) == (
        "frozen-by-issuer", 85.0, "high", (), ())
    p = load_profile(_profile(tmp_path, "  - {id: f, kind: freeze, score: 70, issuers: "
                                        "{anvil: ['0x5FbDB2315678afecb367f032d93F642f64180aa3'], "
                                        "tron: [TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t, "
                                        "413487b63d30b5b2c87fb7ffa8bcfade38eaac1abe]}}\n"))
    assert p.rules[0].issuers == (
        ("anvil", bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")),
        ("tron", bytes.fromhex("a614f803b6fd780986a42c78ec9c7f77e6ded13c")),
        ("tron", bytes.fromhex("3487b63d30b5b2c87fb7ffa8bcfade38eaac1abe")))


@pytest.mark.parametrize(("rule", "message"), [
    ("  - {id: f, kind: freeze}\n", "missing field 'score'"),
    ("  - {id: f, kind: freeze, score: 70, issuers: [x]}\n", "rules[0].issuers: must map chain names"),
    ("  - {id: f, kind: freeze, score: 70, issuers: {eth: '0x00'}}\n", "rules[0].issuers.eth: must be a list"),
    ("  - {id: f, kind: freeze, score: 70, issuers: {eth: ['0x1234']}}\n", "rules[0].issuers.eth[0]: '0x1234'"),
    ("  - {id: f, kind: freeze, score: 70, issuers: {tron: [TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u]}}\n",
     "is not a contract address"),
    ("  - {id: f, kind: frozen, score: 70}\n", "kind must be 'tag', 'exposure' or 'freeze'"),
])
def test_bad_freeze_rules_are_one_line_config_errors(tmp_path: Path, rule: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_profile(_profile(tmp_path, rule))
    assert message in str(exc.value) and "\n" not in str(exc.value)
