"""`fundtrail trace` on an account chain: the EVM simulator's recording, ingested and traced."""

from __future__ import annotations

import csv
from fractions import Fraction
import json

import pytest
from support.anvil import require_anvil

from fundtrail.cli.main import main


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_anvil()
    base = tmp_path_factory.mktemp("evmtrace")
    assert main(["-q", "simulate", "--chain", "eth", "--seed", "5", "--txs", "400", "--out", str(base / "sim")]) == 0
    store = str(base / "store")
    assert main(["-q", "--store", store, "ingest", "ethereum", "--replay", str(base / "sim" / "rpc")]) == 0
    case = json.loads((base / "sim/truth/cases/theft-1.json").read_text())
    with open(base / "sim/truth/addresses.csv") as fh:
        exchanges = [r for r in csv.DictReader(fh) if r["category"] == "exchange"]
    stop = base / "exchanges.txt"
    stop.write_text("".join(f"{r['address']},{r['actor']}\n" for r in exchanges))
    return {"store": store, "case": case, "stop": stop}


def test_forward_trace_reaches_the_cashout_points(env: dict, capsys) -> None:
    tx = env["case"]["seed_txs"][0]
    assert main(["--store", env["store"], "trace", tx, "--policy", "fifo", "--stop-file", str(env["stop"]),
                 "--asset", "ETH", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["policy"] == "fifo" and doc["seed"]["kind"] == "transaction"
    reached = {e["address"].lower() for e in doc["endpoints"] if e["reason"] == "service"}
    cash = {c["address"].lower() for c in env["case"]["cashout_points"] if c["asset"] == "ETH"}
    assert reached & cash, "the stolen ETH reaches the thief's exchange deposit addresses"
    by_asset = doc["summary"]["by_asset"]["ETH"]
    total = sum(by_asset["by_reason"].values()) + by_asset["fees"]
    assert total == by_asset["seed_value"]  # FIFO conserves every wei


def test_account_trace_errors(env: dict, capsys) -> None:
    assert main(["--store", env["store"], "trace", "0x" + "00" * 32]) == 6
    assert "not in the store" in capsys.readouterr().err
    assert main(["--store", env["store"], "trace", "0x1234"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1


@pytest.mark.parametrize("policy", ["poison", "haircut", "fifo"])
def test_seed_set_on_the_simulated_chain_balances(env: dict, capsys, policy: str) -> None:
    """Issue 12 items 1 and 16: the case's seed transactions, the thief's address and the first
    addresses the loot was followed to, as one taint set: the seeds downstream of others are not
    counted twice, and per asset seed + absorbed = endpoints + fees, exactly."""
    case = env["case"]
    capsys.readouterr()
    assert main(["--store", env["store"], "trace", *case["seed_addresses"], "--policy", "fifo", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    # addresses the loot went through (each received from a traced address: seeds downstream of seeds)
    passed = list(dict.fromkeys(e["address"] for e in first["graph"]["edges"] if e["hops"] >= 1 and e["address"]))
    assert len(passed) >= 4
    seeds = [*case["seed_txs"], *case["seed_addresses"], *passed[:4]]
    assert main(["--store", env["store"], "trace", *seeds, "--policy", policy, "--stop-file", str(env["stop"]),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["seed"]["kind"] == "set" and len(doc["seeds"]) == len(dict.fromkeys(seeds))
    retraced = 0
    for asset, d in doc["summary"]["by_asset"].items():
        a = d["accounting"]
        assert Fraction(a["seed_exact"]) == a["seed_gross_sat"] - Fraction(a["retraced_exact"]), asset
        assert Fraction(a["seed_exact"]) + Fraction(a["absorbed_exact"]) == \
            Fraction(a["endpoints_exact"]) + Fraction(a["fees_exact"]), asset
        assert a["balanced"]
        if policy != "poison":
            assert a["absorbed_exact"] == "0"
        retraced += Fraction(a["retraced_exact"])
    assert retraced > 0  # the thief's address received the seed transactions' value: traced once
    stable = next(d for k, d in doc["summary"]["by_asset"].items() if k.lower() == case["stablecoin"])
    assert stable["decimals"] == 6 and stable["symbol"] == "sUSD"


def test_min_value_is_read_in_the_traced_assets_unit(env: dict, capsys) -> None:
    """`--min-value 0.5 --asset ETH` is 0.5 ETH (5 * 10^17 wei), not 0.5 BTC in satoshi; base units are
    written `Nunits`; a decimal with several assets traced is ambiguous and refused."""
    tx = env["case"]["seed_txs"][0]
    base = ["--store", env["store"], "trace", tx, "--policy", "fifo", "--json"]
    capsys.readouterr()
    assert main([*base, "--asset", "ETH", "--min-value", "0.5"]) == 0
    by_eth = json.loads(capsys.readouterr().out)
    assert by_eth["limits"]["min_value_sat"] == 5 * 10**17
    assert main([*base, "--asset", "ETH", "--min-value", str(5 * 10**17) + "units"]) == 0
    by_units = json.loads(capsys.readouterr().out)
    assert by_units["endpoints"] == by_eth["endpoints"]
    # every threshold endpoint of the trace is under 0.5 ETH
    for e in by_eth["endpoints"]:
        if e["reason"] == "threshold":
            assert int(e["amount_sat"]) < 5 * 10**17
    assert main([*base, "--min-value", "0.5"]) == 2
    assert "name one with --asset" in capsys.readouterr().err
    assert main([*base, "--asset", "ETH", "--min-value", "0.0000000000000000001"]) == 2
    assert "more than 18 decimals" in capsys.readouterr().err
