"""The CLI contract: one-line errors with documented exit codes, --json output, the demo."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin.samplechain import sample_chain_blocks_dir
from fundtrail.cli.main import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_status_of_missing_store_is_one_line_exit_4(tmp_path: Path, capsys) -> None:
    code, out, err = run(["--store", str(tmp_path / "nothing"), "status"], capsys)
    assert code == 4
    assert err.count("\n") == 1 and err.startswith("fundtrail: error: no fundtrail store at")
    assert "Traceback" not in err


def test_ingest_needs_exactly_one_source(tmp_path: Path, capsys) -> None:
    code, _, err = run(["--store", str(tmp_path / "s"), "ingest", "bitcoin"], capsys)
    assert code == 2 and "exactly one source" in err
    code, _, err = run(["--store", str(tmp_path / "s"), "ingest", "bitcoin", "--raw", "a", "--rpc", "http://x"], capsys)
    assert code == 2 and "--raw, --rpc" in err


def test_unknown_network_and_option_errors(tmp_path: Path, capsys) -> None:
    code, _, err = run(["--store", str(tmp_path / "s"), "ingest", "bitcoin", "--raw", "x", "--network", "moon"], capsys)
    assert code == 2 and "unknown Bitcoin network 'moon'" in err
    code, _, err = run(["--store", str(tmp_path / "s"), "status", "--bogus"], capsys)
    assert code == 2 and "--bogus" in err and err.count("\n") == 1


def test_missing_raw_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    code, _, err = run(["--store", str(tmp_path / "s"), "ingest", "bitcoin", "--raw", str(tmp_path / "nope.dat")], capsys)
    assert code == 2 and "nope.dat" in err and "cannot read" in err


def test_ingest_status_export_round_trip(tmp_path: Path, capsys) -> None:
    chain = sample_chain_blocks_dir(tmp_path / "blocks", seed=3, xor_key=b"\x01\x02\x03\x04\x05\x06\x07\x08")
    store = str(tmp_path / "store")
    code, out, _ = run(["--store", store, "ingest", "bitcoin", "--blocks-dir", str(tmp_path / "blocks"), "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["blocks"] == len(chain.blocks) and report["stale"] == len(chain.stale)
    assert report["chain"] == "btc-regtest" and report["warnings"]  # not the regtest genesis: warned
    code, out, _ = run(["--store", store, "status", "--json"], capsys)
    st = json.loads(out)["chains"][0]
    assert (st["min_height"], st["max_height"]) == (0, len(chain.blocks) - 1)
    assert st["transactions"] == chain.manifest["n_transactions"]
    assert st["tip_hash"] == chain.manifest["tip_hash"]
    code, out, _ = run(["--store", store, "export", "transactions", "--chain", "btc-regtest",
                        "--format", "jsonl", "--from-height", "10", "--to-height", "10"], capsys)
    lines = [json.loads(x) for x in out.splitlines()]
    assert [t["txid"] for t in lines] == chain.manifest["heights"][10]["txids"]
    code, _, err = run(["--store", store, "export", "transactions", "--chain", "btc", "--format", "jsonl"], capsys)
    assert code == 6 and "chain btc is not in the store" in err
    code, _, err = run(["--store", store, "export", "transactions", "--format", "csv"], capsys)
    assert code == 2 and "csv" in err
    code, _, err = run(["--store", store, "export", "transactions", "--chain", "btc-regtest", "--block-hash", "zz"], capsys)
    assert code == 2 and "--block-hash" in err


def test_console_script_and_demo(tmp_path: Path) -> None:
    """The demo as `make demo` runs it, through the installed console script."""
    exe = Path(sys.executable).parent / "fundtrail"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "fundtrail.cli.main"]
    env = dict(os.environ, FUNDTRAIL_STORE=str(tmp_path / "store"))
    res = subprocess.run([*cmd, "demo", "--workdir", str(tmp_path / "work")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "2. ingested into" in out and "0 unresolved inputs" in out and "next:" in out
    assert "victims report 4 ransom payments" in out and "answer key (simulator ground truth" in out
    # the investigation: attribution, clustering, traces under three policies, risk with reasons
    assert "4. attribution" in out and "5. clustering" in out and "7. risk under the default@1" in out
    reached = re.search(r"cashed out at (\d+) exchange/OTC deposit addresses; the trace reached (\d+)", out)
    assert reached and reached.group(1) == reached.group(2), "every true cash-out point is reached"
    assert "tagged-illicit" in out
    assert (tmp_path / "store" / "catalog.duckdb").exists()  # FUNDTRAIL_STORE was honoured
    assert (tmp_path / "work" / "truth" / "cases").is_dir()
    again = subprocess.run([*cmd, "demo", "--workdir", str(tmp_path / "work")], env=env,
                           capture_output=True, text=True, timeout=300)
    # the same seed writes the same chain: nothing new to store, same findings
    assert again.returncode == 0 and ": 0 blocks, 0 transactions" in again.stdout
    def findings(text: str) -> list[str]:
        return [ln for ln in text.split("3. the case")[1].splitlines()
                if "(timing:" not in ln and "4. attribution" not in ln]

    assert findings(again.stdout) == findings(out)


def test_ingest_runs_record_provenance(tmp_path: Path, capsys) -> None:
    """Each ingest run is recorded: completed, failed with its error, or interrupted."""
    from fundtrail.store import Store

    sample_chain_blocks_dir(tmp_path / "blocks", seed=5)
    store = str(tmp_path / "store")
    assert run(["--store", store, "ingest", "bitcoin", "--blocks-dir", str(tmp_path / "blocks")], capsys)[0] == 0
    runs = Store.open(Path(store)).runs()
    assert [(r["status"], r["blocks"]) for r in runs] == [("completed", 120)]
    with Store.open(Path(store)).connect(read_only=True) as con:
        assert con.execute("SELECT DISTINCT run_id FROM batches").fetchall() == [(runs[0]["run_id"],)]
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"\x00" * 200)
    code, _, err = run(["--store", store, "ingest", "bitcoin", "--raw", str(bad)], capsys)
    assert code == 3
    latest = Store.open(Path(store)).runs()[0]
    assert latest["status"] == "failed" and "bad.dat" in latest["message"]
    # a run killed mid-way stays 'running' until the next writer finds its lock free
    s = Store.open(Path(store))
    rid = s.begin_run("btc-regtest", "killed run")
    assert s.mark_interrupted_runs("btc-regtest") == 1
    assert s.runs()[0]["run_id"] == rid and s.runs()[0]["status"] == "interrupted"
    code, out, _ = run(["--store", store, "status"], capsys)
    assert "last ingest run" in out
