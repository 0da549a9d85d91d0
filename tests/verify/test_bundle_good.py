"""Good bundles verify: a simulated case (every policy, forward and backward, limits, a
follow-change walk) and real mainnet blocks 0-599 (block 170's payment), through every door:
`fundtrail verify` with no store at all, `python -m fundtrail.verify`, the package copied out of the
project and run with `python -I -S`, and the service layer. Oracles: the saved traces come from the
engine via the CLI on stores the CLI ingested; the bundles from the test's own writer
(support_bundle.py, the ingest parser and hashlib)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from verify.support_bundle import BLOCK_170_TX, mainnet_bundle, sim_bundle

import fundtrail.verify
from fundtrail.workspace.verification import BundleVerification, verify_bundle


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.getbasetemp() / "verify-sim"
    base.mkdir(exist_ok=True)
    path = tmp_path_factory.mktemp("good") / "case.zip"
    digest, case = sim_bundle(base, path)
    return {"path": path, "hash": digest, "case": case}


@pytest.fixture(scope="module")
def mainnet(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("mainnet")
    digest, case = mainnet_bundle(testdata, base, base / "block170.zip")
    return {"path": base / "block170.zip", "hash": digest, "case": case}


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False, timeout=300,
                          env=env, cwd=cwd)


def test_simulated_case_verifies_every_trace_to_the_satoshi(sim: dict[str, Any]) -> None:
    result = verify_bundle(sim["path"], expect=sim["hash"])
    assert result.ok and result.failures == [], result.failures
    assert result.bundle_hash == sim["hash"]
    by_id = {t.id: t for t in result.traces}
    saved = sim["case"]["traces"]
    assert len(by_id) == len(saved) == 12
    for t in saved:
        res = t["result"]
        if res.get("mode") == "follow_change":
            assert by_id[t["id"]].status == "not recomputable"
            assert "inference" in by_id[t["id"]].detail
            continue
        got = by_id[t["id"]]
        assert (got.status, got.policy, got.direction) == ("recomputed", res["policy"], res["direction"])
        assert got.edges == len(res["graph"]["edges"]) > 0
        acc = res["accounting"]  # the engine's totals, which the verifier recomputed independently
        assert f"endpoints {acc['endpoints_sat']} + fees {acc['fees_sat']} sat" in got.detail
    assert {(t["result"].get("policy"), t["result"].get("direction")) for t in saved} >= {
        (p, d) for p in ("poison", "haircut", "fifo", "lifo", "tiho") for d in ("forward", "backward")}
    reasons = {e["reason"] for t in saved for e in t["result"].get("endpoints") or []}
    assert {"service", "unspent", "threshold", "hop_limit", "coinbase"} <= reasons  # every kind of stop
    assert result.counts["traces_recomputed"] == 11 and result.counts["traces_not_recomputable"] == 1
    assert result.counts["facts_verified"] == 1 and result.counts["inferences"] == 1
    assert result.counts["transactions"] == sum(1 for _ in _lines(sim["path"], "chains/btc-regtest/transactions.jsonl"))
    assert any("regtest" in n and "trivial" in n for n in result.notes)
    stops = by_id[saved[0]["id"]].stops
    assert any(s.startswith("service exchange: exchange-") and "tags/tags.jsonl line" in s for s in stops), stops


def _lines(path: Path, member: str) -> list[str]:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return zf.read(member).decode().splitlines()


def test_mainnet_block_170_is_proven_from_real_blocks(mainnet: dict[str, Any]) -> None:
    result = verify_bundle(mainnet["path"], expect=mainnet["hash"])
    assert result.ok, result.failures
    assert not any("trivial" in n for n in result.notes)  # mainnet proof of work is real
    fact = next(f for f in result.facts if f.startswith("verified fact F-1"))
    assert f"output {BLOCK_170_TX}:0 holds 1000000000 sat, in block 170 " in fact
    assert "00000000d1145790a8694403d4063f323d499e655c83426834d4ce2f8dd4a2ee" in fact  # block 170's hash
    assert [t.status for t in result.traces] == ["recomputed", "recomputed"]
    assert any("block 9 is 000000008d9dc510f23c2657fc4f67bea30078cc05a90eb89e84cc475c080805" in f
               for f in result.facts)


def test_cli_verifies_with_no_store_anywhere(sim: dict[str, Any], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_")}
    env["HOME"] = str(home)
    done = cli("-m", "fundtrail.cli.main", "verify", str(sim["path"]), "--expect", sim["hash"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Bundle hash: {sim['hash']}" in done.stdout and "Result: verified" in done.stdout
    assert "11 traces recomputed" in done.stdout
    assert list(home.rglob("*")) == []  # no store, no settings, nothing written
    as_json = cli("-m", "fundtrail.cli.main", "verify", str(sim["path"]), "--json", env=env, cwd=tmp_path)
    doc = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and doc["ok"] is True and doc["bundle_hash"] == sim["hash"]
    BundleVerification.model_validate(doc)


def test_the_verifier_runs_alone_copied_out_with_python_isolated(sim: dict[str, Any], tmp_path: Path) -> None:
    """A defence expert's machine: the verify package alone, no site-packages, no fundtrail."""
    shutil.copytree(Path(fundtrail.verify.__file__).parent, tmp_path / "verify",
                    ignore=shutil.ignore_patterns("__pycache__"))
    done = cli("-I", "-S", str(tmp_path / "verify"), str(sim["path"]), "--expect", sim["hash"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Result: verified" in done.stdout and "11 traces recomputed" in done.stdout
    bad = cli("-I", "-S", str(tmp_path / "verify"), str(sim["path"]), "--expect", "0" * 64, "--json", cwd=tmp_path)
    assert bad.returncode == 1 and json.loads(bad.stdout)["ok"] is False
    module = cli("-m", "fundtrail.verify", str(sim["path"]))
    assert module.returncode == 0 and "Result: verified" in module.stdout


def test_account_chain_traces_are_reported_not_proven(sim: dict[str, Any], tmp_path: Path) -> None:
    """An account chain carried without inclusion proofs (`"proofs": "none"`: a chain not fully
    verified at ingest): its traces are listed as not proven (not a failure), and a fact citing its
    transactions is unverified (a failure)."""
    from verify.support_bundle import edit_json, rewrite

    tx = "0x" + "ab" * 32
    account = {"chain": "eth", "unit": "wei", "direction": "forward", "policy": "fifo", "seed": {"outputs": []},
               "endpoints": [], "graph": {"nodes": [], "edges": [{"output": f"{tx}:native", "to": None,
                                                                  "amount_sat": 5}]}}

    def add(files: dict[str, bytes]) -> None:
        files["traces/T-0000eeee.json"] = json.dumps({"id": "T-0000eeee", "request": {"policy": "fifo"},
                                                       "result": account}).encode()

        def manifest(doc: dict[str, Any]) -> None:
            doc["chains"]["eth"] = {"family": "account", "network": "mainnet", "proofs": "none", "transactions": 0}
            doc["traces"].append({"id": "T-0000eeee", "chain": "eth", "policy": "fifo", "direction": "forward"})
            doc["counts"]["findings"] += 1

        edit_json(files, "manifest.json", manifest)
        edit_json(files, "case/case.json", lambda d: d["findings"].append(
            {"id": "F-9", "kind": "fact", "text": "paid", "refs": [f"tx:{tx}"]}))

    result = verify_bundle(rewrite(sim["path"], tmp_path / "eth.zip", add, resum=True))
    eth = next(t for t in result.traces if t.id == "T-0000eeee")
    assert eth.status == "not recomputable" and "not proven by this bundle" in eth.detail
    assert result.counts["transactions_not_proven"] == 1 and result.counts["traces_not_recomputable"] == 2
    assert result.failures == [f"case/case.json: finding F-9: unverified fact: tx:{tx}: no proven transaction of "
                               "the bundle has this txid"]
