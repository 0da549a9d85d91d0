"""Haircut on the verifier's 2^-256-sat grid against exact fractions, on real saved traces: the
simulated case's haircut traces (forward, backward, and one the engine saved in exact mode with
hop and value limits), each re-run by the verifier in both arithmetics from the bundled
transactions. Every amount it compares (each output where the trace passed, each endpoint, the
totals) is within the bound docs/verify.md proves, (outputs or inputs recomputed) x 2^-256 sat,
of the exact one, and equal to it in whole satoshi; and `--exact` verifies the bundle too."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from verify.support_bundle import sim_bundle

from fundtrail.verify import taint
from fundtrail.verify.bundle import verify_bundle
from fundtrail.verify.container import open_container
from fundtrail.verify.proofs import ProvenTx, check_utxo_chain
from fundtrail.verify.recompute import Recomputation
from fundtrail.verify.report import Report


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.getbasetemp() / "verify-sim"
    base.mkdir(exist_ok=True)
    path = tmp_path_factory.mktemp("grid") / "case.zip"
    digest, case = sim_bundle(base, path)
    report = Report(path=str(path))
    box = open_container(str(path), report)
    manifest = json.loads(box.read("manifest.json") or b"{}")
    txs = check_utxo_chain("btc-regtest", manifest["chains"]["btc-regtest"], box, report)
    assert report.failures == [] and len(txs) > 100
    return {"path": path, "hash": digest, "case": case, "txs": txs}


def run(result: dict[str, Any], txs: dict[str, ProvenTx], exact: bool) -> Recomputation:
    r = Recomputation("t", result, txs, exact)
    r.forward() if result["direction"] == "forward" else r.backward()
    assert r.problems == []
    return r


def test_grid_equals_exact_to_the_satoshi_on_every_saved_haircut_trace(sim: dict[str, Any]) -> None:
    haircut = [t["result"] for t in sim["case"]["traces"] if t["result"].get("policy") == "haircut"]
    assert {r["direction"] for r in haircut} == {"forward", "backward"} and len(haircut) == 3
    off_grid = 0
    for res in haircut:
        grid, exact = run(res, sim["txs"], False), run(res, sim["txs"], True)
        assert grid.flow.keys() == exact.flow.keys() and grid.ends.keys() == exact.ends.keys()
        touched = grid.order() or []
        side = "outputs" if res["direction"] == "forward" else "inputs"
        bound = sum(len(getattr(sim["txs"][t].tx, side)) for t in touched)  # units of 2^-256 sat
        pairs = [(taint.amount(grid.flow[o]), taint.amount(exact.flow[o])) for o in grid.flow]
        pairs += [(getattr(grid, k), getattr(exact, k)) for k in ("fees", "absorbed", "seed_value")]
        pairs.append((sum(taint.amount(s) for s in grid.ends.values()),
                      sum(taint.amount(s) for s in exact.ends.values())))
        for g, x in pairs:
            assert isinstance(g, int)
            assert abs(g - x) <= bound
            assert taint.whole_sat(g) == taint.whole_sat(x)
        off_grid += sum(1 for _, x in pairs if isinstance(x, Fraction) and x.denominator > 1)
        saved = {e["output"]: e["amount_sat"] for e in res["graph"]["edges"]}
        assert {o: taint.whole_sat(taint.amount(grid.flow.get(o))) for o in saved} == saved  # the engine's figures
    assert off_grid > 0  # some exact amounts are not whole units: the grid did round


def test_exact_option_verifies_the_bundle_and_says_so(sim: dict[str, Any]) -> None:
    grid, exact = verify_bundle(str(sim["path"]), sim["hash"]), verify_bundle(str(sim["path"]), sim["hash"], exact=True)
    assert grid.ok and exact.ok, grid.failures + exact.failures
    pairs = [(g, x) for g, x in zip(grid.traces, exact.traces, strict=True) if g.policy == "haircut"]
    assert len(pairs) == 3
    for g, x in pairs:
        assert "2^-256-sat grid" in g.detail and "exact fractions" in x.detail
        assert g.detail.split(": ", 1)[1] == x.detail.split(": ", 1)[1]  # the same figures to the satoshi
    done = subprocess.run([sys.executable, "-m", "fundtrail.verify", str(sim["path"]), "--exact"],
                          capture_output=True, text=True, check=False, timeout=300, cwd=Path(sim["path"]).parent)
    assert done.returncode == 0 and "exact fractions" in done.stdout, done.stdout + done.stderr
