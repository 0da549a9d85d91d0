"""`fundtrail trace` on an account chain: the EVM simulator's recording, ingested and traced."""

from __future__ import annotations

import csv
import json
from pathlib import Path

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
