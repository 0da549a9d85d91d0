"""`fundtrail case trace|rerun|show` on real stores built by the CLI (simulate + ingest): a saved
trace keeps the state it was computed on; a rerun names what changed (a new tag that makes a new
stop, more blocks ingested) or says "no change"; non-members and bad options are refused alike."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.sim.scenario import simulate
from support.blkfiles import blk_records


def split_blocks(blk: Path, head: Path, tail: Path, keep_last: int) -> None:
    """Write the blk stream `blk` as two streams: all but the last `keep_last` blocks, and those."""
    records = blk_records(blk)
    head.write_bytes(b"".join(records[:-keep_last]))
    tail.write_bytes(b"".join(records[-keep_last:]))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("casetraces")
    simulate(base / "sim", seed=5, txs=500)
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    split_blocks(base / "sim/blocks/blk00000.dat", base / "head.dat", base / "tail.dat", keep_last=3)
    grow = base / "grow"
    assert main(["-q", "--store", str(grow), "ingest", "bitcoin", "--raw", str(base / "head.dat")]) == 0
    truth = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    seed = truth["seed_outputs"][0]
    return {"store": str(store), "grow": str(grow), "tail": str(base / "tail.dat"),
            "seed": f"{seed['txid']}:{seed['vout']}"}


def run(capsys: pytest.CaptureFixture[str], store: str, user: str, *args: str) -> tuple[int, str, str]:
    code = main(["--store", store, "--as", user, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def new_case(capsys: pytest.CaptureFixture[str], store: str, user: str) -> str:
    code, out, err = run(capsys, store, user, "case", "new", "--title", "Ransom", "--json")
    assert code == 0, err
    return str(json.loads(out)["id"])


def save(capsys: pytest.CaptureFixture[str], store: str, user: str, cid: str, *args: str) -> dict[str, Any]:
    code, out, err = run(capsys, store, user, "case", "trace", cid, *args, "--json")
    assert code == 0, err
    return dict(json.loads(out))


def test_save_show_and_rerun_without_change(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cid = new_case(capsys, env["store"], "alice")
    saved = save(capsys, env["store"], "alice", cid, env["seed"], "--policy", "fifo", "--hops", "4")
    code, plain, _ = run(capsys, env["store"], "alice", "trace", env["seed"], "--policy", "fifo", "--hops", "4",
                         "--json")
    assert code == 0
    direct = json.loads(plain)
    assert saved["result"]["endpoints"] == direct["endpoints"] and saved["policy"] == "fifo"
    assert saved["id"].startswith("T-") and len(saved["id"]) == 10 and saved["request"]["hops"] == 4
    state = saved["state"]
    assert state["chain"] == "btc-regtest" and state["tip_height"] > 0 and len(state["tip_hash"]) == 64
    assert state["policy"] == "fifo" and state["fundtrail_version"] and state["tag_state_hash"]
    assert saved["endpoints"] == len(direct["endpoints"]) > 0
    code, out, _ = run(capsys, env["store"], "alice", "case", "trace", cid, env["seed"], "--hops", "4")
    assert code == 0 and "saved trace T-" in out and "endpoints" in out.lower()
    code, out, _ = run(capsys, env["store"], "alice", "case", "show", cid, "--json")
    traces = json.loads(out)["traces"]
    assert [t["policy"] for t in traces] == ["fifo", "haircut"] and traces[0]["id"] == saved["id"]
    assert traces[0]["state"] == state and traces[0]["seed"] == env["seed"]
    code, out, _ = run(capsys, env["store"], "alice", "case", "show", cid)
    assert f"{saved['id']}" in out and f"tip {state['tip_height']}" in out
    code, out, _ = run(capsys, env["store"], "alice", "case", "rerun", cid, saved["id"])
    assert code == 0 and "no change" in out
    code, out, _ = run(capsys, env["store"], "alice", "case", "rerun", cid, saved["id"], "--json")
    rerun = json.loads(out)
    assert rerun["changed"] is False and rerun["state_changes"] == rerun["result_changes"] == []
    assert main(["--store", env["store"], "audit", "show", "--json", "--limit", "1000"]) == 0
    records = json.loads(capsys.readouterr().out)["records"]
    assert any(r["action"] == "case rerun" and r["user"] == "alice" and cid in r["subjects"]
               and saved["id"] in r["subjects"] for r in records)


def test_new_tag_makes_a_new_stop(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cid = new_case(capsys, env["store"], "bea")
    saved = save(capsys, env["store"], "bea", cid, env["seed"])
    unspent = [e for e in saved["result"]["endpoints"] if e["reason"] == "unspent"]
    target = unspent[0]
    code, _, err = run(capsys, env["store"], "bea", "tags", "add", target["address"], "--label", "Exchange Q",
                       "--category", "exchange", "--currency", "BTC-REGTEST")
    assert code == 0, err
    code, out, _ = run(capsys, env["store"], "bea", "case", "rerun", cid, saved["id"], "--json")
    rerun = json.loads(out)
    assert code == 0 and rerun["changed"] is True and rerun["saved_as"] is None
    assert any(c.startswith("tags changed") for c in rerun["state_changes"])
    assert f"endpoint removed: {target['address']} (unspent) {target['amount_sat']}" in rerun["result_changes"]
    assert any(c.startswith("amount at exchange: Exchange Q: 0 -> ") for c in rerun["result_changes"])
    code, out, _ = run(capsys, env["store"], "bea", "case", "rerun", cid, saved["id"], "--save")
    assert code == 0 and "changed" in out and "saved as T-" in out
    code, out, _ = run(capsys, env["store"], "bea", "case", "show", cid, "--json")
    traces = json.loads(out)["traces"]
    assert traces[0]["state"] == saved["state"] and traces[0]["rerun_of"] is None
    assert traces[1]["rerun_of"] == saved["id"] and traces[1]["amount_reached"] > 0 == traces[0]["amount_reached"]


def test_more_blocks_move_the_tip(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cid = new_case(capsys, env["grow"], "cy")
    saved = save(capsys, env["grow"], "cy", cid, env["seed"])
    assert main(["-q", "--store", env["grow"], "ingest", "bitcoin", "--raw", env["tail"]]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, env["grow"], "cy", "case", "rerun", cid, saved["id"], "--json")
    rerun = json.loads(out)
    assert code == 0 and rerun["changed"] is True
    assert rerun["state"]["tip_height"] == saved["state"]["tip_height"] + 3
    assert any(c.startswith(f"chain tip moved from {saved['state']['tip_height']}") for c in rerun["state_changes"])


def test_non_member_and_closed_case(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cid = new_case(capsys, env["store"], "dan")
    saved = save(capsys, env["store"], "dan", cid, env["seed"], "--hops", "2")
    missing = "C-00000000"
    for args in (("case", "trace", "{}", env["seed"]), ("case", "rerun", "{}", saved["id"])):
        real = run(capsys, env["store"], "eve", *(a.format(cid) for a in args))
        fake = run(capsys, env["store"], "eve", *(a.format(missing) for a in args))
        assert real[0] == fake[0] == 6 and real[2].replace(cid, "ID") == fake[2].replace(missing, "ID")
    assert run(capsys, env["store"], "dan", "case", "members", cid, "--add", "vic", "--role", "viewer")[0] == 0
    code, _, err = run(capsys, env["store"], "vic", "case", "trace", cid, env["seed"])
    assert code == 7 and "you are a viewer" in err
    assert run(capsys, env["store"], "vic", "case", "rerun", cid, saved["id"])[0] == 0
    assert run(capsys, env["store"], "dan", "case", "close", cid)[0] == 0
    code, _, err = run(capsys, env["store"], "dan", "case", "trace", cid, env["seed"])
    assert code == 2 and f"case {cid} is closed" in err
    code, _, err = run(capsys, env["store"], "dan", "case", "rerun", cid, "T-00000000")
    assert code == 6 and "not a saved trace" in err
    code, out, _ = run(capsys, env["store"], "dan", "case", "show", cid, "--json")
    assert [t["id"] for t in json.loads(out)["traces"]] == [saved["id"]]


@pytest.mark.parametrize("bad", [("--hops", "0"), ("--policy", "nope"), ("--direction", "sideways"),
                                 ("--since", "2030-01-01", "--until", "2020-01-01"), ("--max-txs", "0")])
def test_bad_options_like_trace(env: dict[str, Any], capsys: pytest.CaptureFixture[str], bad: tuple[str, ...]) -> None:
    cid = new_case(capsys, env["store"], "fay")
    code, out, err = run(capsys, env["store"], "fay", "case", "trace", cid, env["seed"], *bad)
    t_code, t_out, t_err = run(capsys, env["store"], "fay", "trace", env["seed"], *bad)
    assert code == t_code == 2 and err == t_err and out == t_out == ""
    assert len(err.strip().splitlines()) == 1
    code, out, _ = run(capsys, env["store"], "fay", "case", "show", cid, "--json")
    assert json.loads(out)["traces"] == []


def test_new_clustering_run_is_named(env: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                     tmp_path: Path) -> None:
    """A clustering run after the trace was saved is a change of state the rerun names (a tag can
    now reach addresses through their clusters), with the run ids before and after."""
    store = tmp_path / "store"
    shutil.copytree(env["store"], store)  # a store of its own: the run must not change the others' state
    cid = new_case(capsys, str(store), "dee")
    code, out, err = run(capsys, str(store), "dee", "case", "trace", cid, env["seed"], "--json")
    assert code == 0, err
    saved = json.loads(out)
    assert saved["state"]["cluster_run_id"] is None
    assert main(["-q", "--store", str(store), "cluster", "run"]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, str(store), "dee", "case", "rerun", cid, saved["id"], "--json")
    rerun = json.loads(out)
    run_id = rerun["state"]["cluster_run_id"]
    assert code == 0 and rerun["changed"] is True and isinstance(run_id, int)
    assert f"new clustering run: None -> {run_id}" in rerun["state_changes"]
