"""`fundtrail search`, `address`, `txs`, `tx` through the real CLI entry point (simulated UTXO chain)."""

from __future__ import annotations

import csv
import json

import pytest

from fundtrail.cli.main import main
from fundtrail.sim.scenario import simulate


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("lcli")
    simulate(base / "sim", seed=9, txs=1500)
    store = str(base / "store")
    assert main(["-q", "--store", store, "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    with open(base / "sim/truth/addresses.csv") as fh:
        addresses = [r["address"] for r in csv.DictReader(fh)]
    return {"store": store, "address": addresses[5]}


def _run(capsys, args: list[str]) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_address_txs_tx_search_json_and_text(env: dict, capsys) -> None:
    s = ["--store", env["store"]]
    code, out, _ = _run(capsys, [*s, "address", env["address"], "--json"])
    assert code == 0
    doc = json.loads(out)
    assert doc["address"] == env["address"] and doc["balance"] == doc["received"] - doc["sent"]
    code, out, _ = _run(capsys, [*s, "address", env["address"]])
    assert code == 0 and " BTC" in out and "first seen: block" in out
    code, out, _ = _run(capsys, [*s, "txs", env["address"], "--limit", "1", "--json"])
    page = json.loads(out)
    assert code == 0 and len(page["txs"]) == 1 and page["total"] == doc["tx_count"]
    txid = page["txs"][0]["txid"]
    if page["page"]["next_cursor"]:
        code, out, _ = _run(capsys, [*s, "txs", env["address"], "--limit", "1", "--cursor",
                                     page["page"]["next_cursor"], "--json"])
        assert code == 0 and json.loads(out)["txs"][0]["txid"] != txid
    code, out, _ = _run(capsys, [*s, "tx", txid, "--json"])
    assert code == 0 and json.loads(out)["txid"] == txid
    code, out, _ = _run(capsys, [*s, "tx", txid])
    assert code == 0 and "output(s):" in out
    code, out, _ = _run(capsys, [*s, "search", txid, "--json"])
    assert code == 0 and json.loads(out)["hits"][0]["link"].endswith(f"/txs/{txid}")


@pytest.mark.parametrize("args, code, text", [
    (["address", "not-an-address"], 2, "not an address of any chain"),
    (["txs", "ADDR", "--limit", "0"], 2, "--limit must be between 1 and 1000"),
    (["txs", "ADDR", "--cursor", "zz"], 2, "--cursor is not a cursor"),
    (["tx", "1234"], 2, "txid '1234' is not a transaction id"),
    (["tx", "00" * 32], 6, "is not in the store"),
    (["address", "ADDR", "--chain", "eth"], 6, "chain eth is not in the store"),
    (["search", "x" * 600], 2, "q is 600 characters long"),
])
def test_errors_are_one_line(env: dict, capsys, args: list[str], code: int, text: str) -> None:
    args = [env["address"] if a == "ADDR" else a for a in args]
    got, out, err = _run(capsys, ["--store", env["store"], *args])
    assert got == code and text in err and err.count("\n") == 1
