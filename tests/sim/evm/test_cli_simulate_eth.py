"""`fundtrail simulate --chain eth` and `fundtrail ingest ethereum --replay` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.anvil import require_anvil

from fundtrail.cli.main import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code or 0, captured.out, captured.err


def test_simulate_then_ingest_the_recording(tmp_path: Path, capsys) -> None:
    require_anvil()
    out = tmp_path / "sim"
    code, stdout, _ = run(["simulate", "--chain", "eth", "--seed", "5", "--txs", "400", "--out",
                           str(out), "--json"], capsys)
    assert code == 0
    manifest = json.loads(stdout)
    assert manifest == json.loads((out / "manifest.json").read_text())
    assert manifest["transactions"] >= 400 and manifest["cases"] == ["theft-1"]
    store = tmp_path / "store"
    code, stdout, _ = run(["--store", str(store), "ingest", "ethereum", "--replay",
                           str(out / "rpc"), "--json"], capsys)
    assert code == 0
    report = json.loads(stdout)
    assert report["blocks"] == manifest["blocks"]
    assert report["transactions"] == manifest["transactions"]
    # a second simulate into the same directory is refused, not merged
    code, _, err = run(["simulate", "--chain", "eth", "--seed", "5", "--out", str(out)], capsys)
    assert code == 2 and "already holds a simulation" in err


@pytest.mark.parametrize(("args", "message"), [
    (["simulate", "--chain", "eth", "--txs", "10", "--out", "X"], "too small"),
    (["simulate", "--chain", "eth", "--exercise", "mixer", "--out", "X"], "btc only"),
    (["simulate", "--chain", "eth", "--scenario", "nope", "--out", "X"], "unknown scenario"),
    (["simulate", "--chain", "btc", "--rpc-url", "http://x", "--out", "X"], "eth only"),
    (["simulate", "--chain", "doge", "--out", "X"], "not known"),
    (["simulate", "--chain", "eth", "--no-record", "--out", "X"], "--no-record needs --rpc-url"),
    (["ingest", "ethereum"], "exactly one of --rpc"),
    (["ingest", "ethereum", "--rpc", "http://127.0.0.1:1", "--replay", "X"], "exactly one of"),
    (["ingest", "ethereum", "--replay", "X", "--follow"], "--follow needs a node"),
])
def test_bad_input_gives_one_line(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    args = [a if a != "X" else str(tmp_path / "x") for a in args]
    code, _, err = run(["--store", str(tmp_path / "store"), *args], capsys)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and message in lines[0], err


def test_replay_of_a_missing_directory(tmp_path: Path, capsys) -> None:
    code, _, err = run(["--store", str(tmp_path / "store"), "ingest", "ethereum", "--replay",
                        str(tmp_path / "nope")], capsys)
    assert code == 5 and "not a directory" in err and len(err.strip().splitlines()) == 1


def test_unreachable_node(tmp_path: Path, capsys) -> None:
    code, _, err = run(["simulate", "--chain", "eth", "--rpc-url", "http://127.0.0.1:1", "--out",
                        str(tmp_path / "sim")], capsys)
    assert code == 5 and "no answer to eth_chainId" in err and len(err.strip().splitlines()) == 1
