"""The CLI contract: one-line errors with documented exit codes, --json output, the demo."""

from __future__ import annotations

import json
import re
import shutil
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


def test_status_of_missing_store_is_one_line_exit_6(tmp_path: Path, capsys) -> None:
    code, out, err = run(["--store", str(tmp_path / "nothing"), "status"], capsys)
    assert code == 6  # a missing store is not-found, like a missing chain (docs/cli.md exit codes)
    assert err.count("\n") == 1 and err.startswith("fundtrail: error: no fundtrail store at")
    assert "Traceback" not in err
    assert not (tmp_path / "nothing").exists()  # looking did not create it


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
    code, _, err = run(["--store", str(tmp_path / "s"), "ingest", "bitcoin", "--raw", str(tmp_path / "nope.dat")],
                       capsys)
    assert code == 2 and "nope.dat" in err and "cannot read" in err


def test_ingest_status_export_round_trip(tmp_path: Path, capsys) -> None:
    chain = sample_chain_blocks_dir(tmp_path / "blocks", seed=3, xor_key=b"\x01\x02\x03\x04\x05\x06\x07\x08")
    store = str(tmp_path / "store")
    code, out, _ = run(["--store", store, "ingest", "bitcoin", "--blocks-dir", str(tmp_path / "blocks"), "--json"],
                       capsys)
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
    code, _, err = run(["--store", store, "export", "transactions", "--chain", "btc-regtest", "--block-hash", "zz"],
                       capsys)
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
    # every suggested next step runs on what the user has: the demo store, not this repo's ../shared
    nxt = out.split("next:")[1]
    assert "../shared" not in nxt and "tags search ransomware-group-1" in nxt
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
        # up to the workbench lines: the demo user's password is new on every run
        # and each run opens a new case file, whose bundle records when it was made
        case = text.split("3. the case")[1].split("\nthe workbench, in the browser")[0]
        return [re.sub(r"C-[0-9a-f]{8}", "C-ID", ln) for ln in case.splitlines()
                if "(timing:" not in ln and "4. attribution" not in ln and "evidence bundle:" not in ln]

    assert findings(again.stdout) == findings(out)
    searched = subprocess.run([*cmd, "tags", "search", "ransomware-group-1"], env=env,
                              capture_output=True, text=True, timeout=120)
    ransom = re.search(r"^   (\S+)  received", out, re.M).group(1)
    assert searched.returncode == 0 and ransom in searched.stdout


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


# --- issue 12: one exit-code rule, --store anywhere, the small CLI items -----------------------

ADDR = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"  # genesis coinbase address: valid, not in the sample chain


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the sample regtest chain only (chain btc-regtest)."""
    base = tmp_path_factory.mktemp("sample")
    sample_chain_blocks_dir(base / "blocks", seed=3)
    assert main(["--store", str(base / "store"), "-q", "ingest", "bitcoin", "--blocks-dir",
                 str(base / "blocks")]) == 0
    return base / "store"


MATRIX = [
    ["status"],
    ["export", "transactions", "--chain", "btc"],
    ["export", "transfers", "--chain", "eth"],
    ["trace", ADDR, "--chain", "btc"],
    ["risk", ADDR, "--chain", "btc"],
    ["graph", "build", "--chain", "btc"],
]


@pytest.mark.parametrize("args", MATRIX, ids=lambda a: " ".join(a[:2]))
def test_missing_store_is_exit_6_for_every_command(args: list[str], tmp_path: Path, capsys) -> None:
    code, _, err = run(["--store", str(tmp_path / "none"), *args], capsys)
    assert (code, err.count("\n")) == (6, 1), err
    assert "no fundtrail store at" in err and "Traceback" not in err


# `risk` is left out: a chain not stored is scored from tags alone (issue 12 item 3), not an error
@pytest.mark.parametrize("args", [a for a in MATRIX[1:] if a[0] != "risk"], ids=lambda a: " ".join(a[:2]))
def test_chain_not_in_store_is_exit_6_for_every_command(args: list[str], sample_store: Path, capsys) -> None:
    code, _, err = run(["--store", str(sample_store), *args], capsys)
    chain = args[args.index("--chain") + 1]
    assert (code, err.count("\n")) == (6, 1), err
    assert f"chain {chain} is not in the store" in err and "btc-regtest" in err


def test_export_chooses_the_only_chain_of_its_family(sample_store: Path, capsys) -> None:
    code, out, _ = run(["--store", str(sample_store), "export", "transactions", "--to-height", "0"], capsys)
    assert code == 0 and json.loads(out.splitlines()[0])["block_height"] == 0
    code, _, err = run(["--store", str(sample_store), "export", "transfers"], capsys)
    assert code == 2 and "holds no account chain" in err  # none of that family: a usage error


def test_store_option_after_the_subcommand(sample_store: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FUNDTRAIL_STORE", str(tmp_path / "env-store"))
    code, out, err = run(["status", "--store", str(sample_store), "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["store"] == str(sample_store)
    # nested groups too, and the one after the subcommand wins over the one before
    code, out, _ = run(["--store", str(tmp_path / "elsewhere"), "export", "transactions",
                        "--to-height", "0", "--store", str(sample_store)], capsys)
    assert code == 0 and len(out.splitlines()) == 1
    code, _, err = run(["cluster", "show", ADDR, "--store", str(tmp_path / "none")], capsys)
    assert code == 6 and str(tmp_path / "none") in err
    blocks = tmp_path / "blocks"
    sample_chain_blocks_dir(blocks, seed=4)
    code, out, err = run(["ingest", "bitcoin", "--blocks-dir", str(blocks), "--store",
                          str(tmp_path / "new"), "--json"], capsys)
    assert code == 0, err
    assert (tmp_path / "new" / "catalog.duckdb").exists() and not (tmp_path / "env-store").exists()


def test_no_arguments_prints_usage_not_an_empty_error(capsys) -> None:
    code, out, err = run([], capsys)
    assert code == 2 and "Usage: fundtrail" in out and "Commands:" in out
    assert "error" not in err
    code, out, err = run(["ingest"], capsys)
    assert code == 2 and "Usage: fundtrail ingest" in out and "bitcoin" in out and "error" not in err


def test_version_from_package_metadata(capsys) -> None:
    from importlib.metadata import version

    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out == f"fundtrail {version('fundtrail')}\n"
    assert version("fundtrail") == "0.1.0"


def test_help_is_plain_and_keeps_brackets(capsys) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert "[env FUNDTRAIL_STORE; default ~/.local/share/fundtrail/store]" in " ".join(out.split())
    assert "<bool>" not in out and "╭" not in out
    code, out, _ = run(["ingest", "bitcoin", "--help"], capsys)
    assert "<bool>" not in out and "<list[" not in out.split("Options:")[1] and "--store" in out


def test_output_path_mistakes_are_one_line_errors(sample_store: Path, tmp_path: Path, capsys) -> None:
    for target, what in ((tmp_path / "missing" / "x.jsonl", "does not exist"), (tmp_path, "is a directory")):
        for args in (["export", "transactions", "-o", str(target)],
                     ["export", "transfers", "--chain", "btc-regtest", "-o", str(target)]):
            code, _, err = run(["--store", str(sample_store), *args], capsys)
            if args[1] == "transfers":  # the chain is checked first: a UTXO chain is the wrong family
                assert code == 2 and err.count("\n") == 1 and "account" in err
                continue
            assert (code, err.count("\n")) == (2, 1), err
            assert what in err and "Traceback" not in err
    assert not (tmp_path / "missing").exists()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    code, _, err = run(["simulate", "--out", str(a_file), "--txs", "10"], capsys)
    assert (code, err.count("\n")) == (2, 1) and "is a file, not a directory" in err
    code, _, err = run(["simulate", "--out", str(a_file / "sub"), "--txs", "10"], capsys)
    assert (code, err.count("\n")) == (2, 1) and "is a file" in err
    assert a_file.read_text() == "x"
    code, _, err = run(["demo", "--workdir", str(a_file)], capsys)
    assert code == 2 and "is a file" in err
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    code, _, err = run(["demo", "--workdir", str(keep)], capsys)
    assert code == 2 and "not empty" in err and (keep / "notes.txt").read_text() == "mine"


def test_os_errors_become_one_line_errors() -> None:
    import errno

    from fundtrail.cli.main import os_error_line

    line, code = os_error_line(IsADirectoryError(errno.EISDIR, "Is a directory", "/tmp/x"))
    assert code == 2 and "/tmp/x" in line and "\n" not in line
    line, code = os_error_line(OSError(errno.ENOSPC, "No space left on device"))
    assert code == 1 and "No space" in line


def test_status_hides_nothing_and_invents_nothing(tmp_path: Path, capsys) -> None:
    """A failed first ingest leaves no empty chain; a tags-only store counts its tags."""
    store = str(tmp_path / "s")
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"\x00" * 200)
    assert run(["--store", store, "ingest", "bitcoin", "--raw", str(bad)], capsys)[0] == 3
    code, out, _ = run(["--store", store, "status", "--json"], capsys)
    st = json.loads(out)
    assert code == 0 and st["chains"] == [] and st["tags"]["tags"] == 0
    labels = tmp_path / "labels.csv"
    rows = [("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "genesis", "miner", "test"),
            ("12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S", "early", "miner", "test"),
            ("1NpHuti9NSM9fVTXLkvSDU4AnhqGQ5N53d", "listed", "sanctioned", "test")]
    labels.write_text("address,label,category,source,currency\n"
                      + "".join(f"{a},{lbl},{c},{s},BTC\n" for a, lbl, c, s in rows))
    code, _, err = run(["--store", store, "tags", "import", str(labels), "--format", "csv"], capsys)
    assert code == 0, err
    code, out, _ = run(["--store", store, "status", "--json"], capsys)
    tags = json.loads(out)["tags"]
    assert (tags["tags"], tags["addresses"], tags["source_files"]) == (3, 3, 1)
    assert tags["by_category"] == {"miner": 2, "sanction": 1}  # the taxonomy's category name
    code, out, _ = run(["--store", store, "status"], capsys)
    assert "empty" not in out and "tags: 3 on 3 addresses" in out and "miner 2" in out


def test_exit_code_table_in_the_docs_matches_the_error_tree() -> None:
    """docs/cli.md lists every exit code of the error tree, and says where a missing store goes."""
    from fundtrail import errors

    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", text, re.M))
    codes = {cls.exit_code for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, errors.FundtrailError)}
    assert codes <= {int(c) for c in table}
    assert "no store" in table[str(errors.NotFoundError.exit_code)]
    assert "chain not in the store" in table[str(errors.NotFoundError.exit_code)].replace("a chain", "chain")


def test_quiet_and_verbose_are_accepted_after_the_subcommand(tmp_path: Path, testdata: Path, capsys) -> None:
    """`fundtrail cluster run -q` (issue 12 item 12's rule for global options, as for --store)."""
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    shutil.copy(testdata / "btc-raw-blocks" / "nbitcoin" / "blk00000.dat", blocks / "blk00000.dat")
    store = str(tmp_path / "s")
    assert main(["ingest", "bitcoin", "--blocks-dir", str(blocks), "--store", store, "-q"]) == 0
    capsys.readouterr()
    assert main(["cluster", "run", "--store", store]) == 0
    assert "cluster:" in capsys.readouterr().err  # progress lines by default
    assert main(["cluster", "run", "--full", "--store", store, "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "cluster run #1" in out
    assert main(["status", "-v", "--store", store]) == 0
    assert "btc (mainnet): 300 blocks" in capsys.readouterr().out


def test_block_bounds_come_from_the_settings(tmp_path: Path, testdata: Path, capsys, monkeypatch) -> None:
    """`max_block_bytes` / `max_decompressed_mb` reach the ingest from the settings (env here)."""
    raw = testdata / "btc-raw-blocks" / "bitcoinj" / "block169482.dat"  # 18,678 bytes
    monkeypatch.setenv("FUNDTRAIL_MAX_BLOCK_BYTES", "1000")
    assert main(["--store", str(tmp_path / "s"), "ingest", "bitcoin", "--raw", str(raw)]) == 3
    assert "max_block_bytes" in capsys.readouterr().err
    monkeypatch.delenv("FUNDTRAIL_MAX_BLOCK_BYTES")
    import bz2
    bz = tmp_path / "bomb.bz2"  # 3 MB of zeros in a few hundred bytes
    bz.write_bytes(bz2.compress(bytes(3 << 20)))
    monkeypatch.setenv("FUNDTRAIL_MAX_DECOMPRESSED_MB", "1")
    assert main(["--store", str(tmp_path / "s2"), "ingest", "bitcoin", "--raw", str(bz)]) == 3
    assert "max_decompressed_mb" in capsys.readouterr().err
