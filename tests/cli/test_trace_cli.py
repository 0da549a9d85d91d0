"""`fundtrail trace`, `fundtrail paths`, `fundtrail graph build` through the real CLI entry point."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.sim.scenario import simulate


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("tcli")
    simulate(base / "sim", seed=9, txs=3000)
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    case = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    with open(base / "sim/truth/addresses.csv") as fh:
        services = [r for r in csv.DictReader(fh) if r["category"] in ("exchange", "otc_desk")]
    stop_file = base / "exchanges.txt"
    stop_file.write_text("# known exchange addresses\n" +
                         "".join(f"{r['address']},{r['actor']}\n" for r in services))
    return {"base": base, "store": str(store), "case": case, "stop_file": stop_file}


def _run(capsys, args: list[str]) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_graph_build_json(env: dict, capsys) -> None:
    code, out, _ = _run(capsys, ["--store", env["store"], "graph", "build", "--json"])
    assert code == 0
    info = json.loads(out)
    assert info["chain"] == "btc-regtest" and info["transactions"] > 3000 and info["bytes"] > 0


def test_trace_forward_json_contract(env: dict, capsys) -> None:
    o = env["case"]["seed_outputs"][0]
    code, out, _ = _run(capsys, ["--store", env["store"], "trace", f"{o['txid']}:{o['vout']}",
                                 "--policy", "haircut", "--stop-file", str(env["stop_file"]), "--json"])
    assert code == 0
    doc = json.loads(out)
    assert doc["policy"] == "haircut" and doc["direction"] == "forward"
    assert doc["seed"]["value_sat"] == o["value"]
    assert doc["limits"]["hops"] is None and str(env["stop_file"]) in doc["limits"]["stop_at"]
    services = [e for e in doc["endpoints"] if e["reason"] == "service"]
    assert services, "the ransom reaches exchanges"
    for e in doc["endpoints"]:
        assert set(e) >= {"address", "cluster", "tags", "amount_sat", "amount_exact", "share", "hops",
                          "first_arrival", "reason", "outputs"}
        assert 0 < e["share"] <= 1
    # conservation of whole satoshi (each amount rounded down, so within one per endpoint)
    total = sum(e["amount_sat"] for e in doc["endpoints"]) + doc["summary"]["fees_sat"]
    assert o["value"] - len(doc["endpoints"]) - 1 <= total <= o["value"]
    assert {e["to"] for e in doc["graph"]["edges"]} - {None} <= {n["id"] for n in doc["graph"]["nodes"]}
    assert not doc["truncated"]


def test_trace_text_and_limits(env: dict, capsys) -> None:
    addr = env["case"]["seed_outputs"][0]["address"]
    code, out, _ = _run(capsys, ["--store", env["store"], "trace", addr, "--hops", "2", "--policy", "fifo"])
    assert code == 0
    assert "Policy: fifo" in out and "hop limit reached" in out


@pytest.mark.parametrize("args, code, text", [
    (["trace", "notanaddress"], 2, "is not a txid, TXID:VOUT or btc-regtest address"),
    (["trace", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"], 2, "mainnet address, expected regtest"),
    (["trace", "00" * 32], 6, "is not in the store"),
    (["trace", "x", "--policy", "lilo"], 2, "unknown taint policy 'lilo'"),
    (["trace", "x", "--direction", "sideways"], 2, "--direction must be forward or backward"),
    (["trace", "x", "--min-value", "abc"], 2, "--min-value 'abc' is not an amount"),
    (["trace", "x", "--since", "yesterday"], 2, "--since 'yesterday' is not a date"),
    (["trace", "x", "--chain", "eth"], 2, "chain eth is not in the store"),
])
def test_trace_errors_are_one_line(env: dict, capsys, args: list[str], code: int, text: str) -> None:
    got, out, err = _run(capsys, ["--store", env["store"], *args])
    assert got == code
    assert text in err and err.count("\n") == 1 and out == ""


def test_stop_file_errors_name_the_line(env: dict, capsys, tmp_path: Path) -> None:
    bad = tmp_path / "stops.txt"
    bad.write_text("# ok\nnot-an-address,x\n")
    o = env["case"]["seed_outputs"][0]
    code, _, err = _run(capsys, ["--store", env["store"], "trace", f"{o['txid']}:{o['vout']}",
                                 "--stop-file", str(bad)])
    assert code == 3 and f"{bad}:2:" in err


def test_paths_reach_a_cashout_point(env: dict, capsys) -> None:
    o = env["case"]["seed_outputs"][0]
    target = env["case"]["cashout_points"][0]["address"]
    seeds = [s for s in env["case"]["seed_outputs"]]
    for s in seeds:
        code, out, _ = _run(capsys, ["--store", env["store"], "paths", f"{s['txid']}:{s['vout']}", target,
                                     "--max-hops", "30", "--json"])
        assert code == 0
        doc = json.loads(out)
        if doc["found"]:
            break
    assert doc["found"] >= 1
    p = doc["paths"][0]
    assert p["steps"][-1]["to_address"] == target and p["hops"] == len(p["steps"])
    times = [st["time"] for st in p["steps"]]
    assert times == sorted(times)  # time-respecting
    code, out, _ = _run(capsys, ["--store", env["store"], "paths", f"{o['txid']}:{o['vout']}", target,
                                 "--max-hops", "1"])
    assert code == 0 and ("path(s)" in out or "No path" in out)
