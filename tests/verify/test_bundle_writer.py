"""End to end with fundtrail's own writer: `fundtrail case bundle` on a store the CLI built, then
`fundtrail verify` on the ZIP it wrote (two independent implementations of docs/bundle.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from verify.support_bundle import edit_json, rewrite, run_cli, sim_case

from fundtrail.workspace.verification import verify_bundle


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.getbasetemp() / "verify-sim"
    base.mkdir(exist_ok=True)
    case = sim_case(base)
    store = base / "store"
    cid = json.loads(run_cli(store, "case", "new", "--title", "Written by case bundle", "--json"))["id"]
    traces = [json.loads(run_cli(store, "case", "trace", cid, *case["seeds"], "--policy", p, "--json"))["id"]
              for p in ("haircut", "fifo", "tiho")]
    run_cli(store, "case", "finding", cid, "--fact", "The first payment is on chain.", "--basis", "its transaction",
         "--ref", f"output:{case['seeds'][0]}", "--ref", f"trace:{traces[1]}")
    run_cli(store, "case", "finding", cid, "--inference", "Exchanges received most of it.", "--basis", "tags",
         "--confidence", "0.8", "--ref", f"trace:{traces[0]}")
    out = tmp_path_factory.mktemp("written") / "case.zip"
    run_cli(store, "case", "bundle", cid, "-o", str(out))
    rows = json.loads(run_cli(store, "case", "show", cid, "--json"))
    return {"path": out, "traces": traces, "case": rows}


def test_the_written_bundle_verifies_with_no_store(written: dict[str, Any], tmp_path: Path) -> None:
    result = verify_bundle(written["path"])
    assert result.ok, result.failures
    assert [t.status for t in result.traces] == ["recomputed"] * 3
    assert result.counts["facts_verified"] == 1 and result.counts["inferences"] == 1
    done = subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "verify", str(written["path"]), "--expect",
                           result.bundle_hash or ""], capture_output=True, text=True, check=False, timeout=300,
                          cwd=tmp_path, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_consistently_altered_written_trace_fails_its_recomputation(written: dict[str, Any], tmp_path: Path) -> None:
    tid = written["traces"][1]
    path = f"traces/{tid}.json"
    state: dict[str, Any] = {}

    def alter(files: dict[str, bytes]) -> None:
        def change(doc: dict[str, Any]) -> None:
            edge = next(e for e in doc["result"]["graph"]["edges"] if e["to"] is None and e["amount_sat"] > 10)
            edge["amount_sat"] -= 1
            state.update(edge)
        edit_json(files, path, change)

    result = verify_bundle(rewrite(written["path"], tmp_path / "a.zip", alter, resum=True))
    assert f"{path}: edge {state['output']} amount {state['amount_sat']} sat, recomputed {state['amount_sat'] + 1} " \
           "sat (fifo)" in result.failures
