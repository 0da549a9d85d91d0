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
    (["trace", "x", "--chain", "eth"], 6, "chain eth is not in the store"),  # one rule: store.select
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
    seeds = list(env["case"]["seed_outputs"])
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


# --- seed sets, seed files, nonsense refused, long lists said to be cut ------------------------


def _case_seeds(env: dict) -> list[str]:
    return [f"{o['txid']}:{o['vout']}" for o in env["case"]["seed_outputs"]]


def test_several_seeds_are_one_seed_set(env: dict, capsys) -> None:
    """The case's ransom payments given together equal the oracle's trace of them as one set."""
    from fractions import Fraction

    from fundtrail.sim.oracle import case_answers
    from fundtrail.store import Store
    from fundtrail.store.bitcoin_export import iter_transactions

    seeds = _case_seeds(env)
    assert len(seeds) > 1
    code, out, _ = _run(capsys, ["--store", env["store"], "trace", *seeds, "--stop-file", str(env["stop_file"]),
                                 "--exact", "--json"])
    assert code == 0
    doc = json.loads(out)
    assert [s["input"] for s in doc["seeds"]] == seeds and {s["kind"] for s in doc["seeds"]} == {"output"}
    assert doc["seed"]["kind"] == "set" and sorted(doc["seed"]["outputs"]) == sorted(seeds)
    txs = [{"txid": t["txid"], "time": t["time"],
            "inputs": [{"txid": i["prev_txid"], "vout": i["prev_vout"], "value": i["value"]} for i in t["inputs"]],
            "outputs": [{"value": o["value"], "address": o["address"]} for o in t["outputs"]]}
           for t in iter_transactions(Store.open(Path(env["store"]), create=False), "btc-regtest")]
    services = {line.split(",")[0] for line in env["stop_file"].read_text().splitlines()[1:]}
    exp = case_answers(txs, [(s.split(":")[0], int(s.split(":")[1])) for s in seeds], services,
                       policies=["haircut"])["haircut"]
    got = {e["address"]: Fraction(e["amount_exact"]) for e in doc["endpoints"] if e["reason"] == "service"}
    assert got == exp["by_target"]
    assert Fraction(doc["accounting"]["seed_exact"]) == exp["injected"] and doc["accounting"]["balanced"]


def test_seeds_file_lines_and_csv_equal_arguments(env: dict, capsys, tmp_path: Path) -> None:
    seeds = _case_seeds(env)

    def endpoints(args: list[str]) -> list:
        code, out, err = _run(capsys, ["--store", env["store"], "trace", *args, "--json"])
        assert code == 0, err
        return json.loads(out)["endpoints"]

    want = endpoints(seeds)
    sheet = tmp_path / "seeds.csv"  # as Excel writes it: BOM, CRLF, other columns kept aside
    sheet.write_bytes(("\ufeffcase;seed;note\r\n" + "".join(f"{i};{s};payment {i}\r\n" for i, s in enumerate(seeds)))
                      .encode("utf-8"))
    assert endpoints(["--seeds-file", str(sheet)]) == want
    lines = tmp_path / "seeds.txt"
    lines.write_text("# ransom payments\n" + "\n".join(seeds[1:]) + "\n")
    assert endpoints([seeds[0], "--seeds-file", str(lines)]) == want
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{seeds[0]}\n\nnot-a-seed\n")
    code, out, err = _run(capsys, ["--store", env["store"], "trace", "--seeds-file", str(bad)])
    assert code == 3 and f"{bad}:3:" in err and "not-a-seed" in err and err.count("\n") == 1 and out == ""


@pytest.mark.parametrize("args, text", [
    (["trace", "SEED", "--stop-at", "exchange,foo"], "unknown category 'foo'"),
    (["trace", "SEED", "--max-txs", "0"], "--max-txs must be at least 1"),
    (["trace", "SEED", "--max-seconds", "-1"], "--max-seconds must be a positive number"),
    (["trace", "SEED", "--since", "2024-02-01", "--until", "2024-01-01"], "is after --until"),
    (["trace"], "no seed"),
    (["paths", "SEED", "TARGET", "--limit", "0"], "--limit must be at least 1"),
    (["paths", "TARGET", "TARGET"], "are the same"),
])
def test_nonsense_is_refused(env: dict, capsys, args: list[str], text: str) -> None:
    o = env["case"]["seed_outputs"][0]
    target = env["case"]["cashout_points"][0]["address"]
    args = [{"SEED": f"{o['txid']}:{o['vout']}", "TARGET": target}.get(a, a) for a in args]
    got, out, err = _run(capsys, ["--store", env["store"], *args])
    assert got == 2 and text in err and err.count("\n") == 1 and out == ""


def test_stop_at_takes_aliases(env: dict, capsys) -> None:
    o = env["case"]["seed_outputs"][0]
    code, out, _ = _run(capsys, ["--store", env["store"], "trace", f"{o['txid']}:{o['vout']}",
                                 "--stop-at", "Exchange, mixer", "--json", "--hops", "1"])
    assert code == 0 and json.loads(out)["limits"]["stop_at"] == ["exchange", "mixing_service"]


def test_long_lists_say_they_are_cut_and_count_what_they_are(env: dict, capsys) -> None:
    assert main(["-q", "--store", env["store"], "cluster", "run"]) == 0
    capsys.readouterr()
    ransom = env["case"]["seed_outputs"][0]  # poison from the ransom reaches a wide set
    args = ["--store", env["store"], "trace", f"{ransom['txid']}:{ransom['vout']}", "--policy", "poison"]
    code, out, _ = _run(capsys, [*args, "--json"])
    doc = json.loads(out)
    n_end, n_ent = len(doc["endpoints"]), len(doc["entities"])
    assert n_end > 25 and n_ent > 25
    for ent in doc["entities"]:
        mine = [e for e in doc["endpoints"] if e["cluster"] == ent["cluster"] and
                (ent["cluster"] is not None or e["address"] is not None)]
        if ent["cluster"] is not None:  # distinct endpoint addresses and endpoint outputs of the cluster
            assert ent["addresses"] == len({e["address"] for e in mine if e["address"]})
            assert ent["outputs"] == sum(len(e["outputs"]) for e in mine)
    code, text, _ = _run(capsys, args)
    assert f"… and {n_end - 25} more; --json lists all" in text
    assert f"… and {n_ent - 25} more; --json lists all" in text
    assert "endpoints at" in text and " address(es) (" in text
