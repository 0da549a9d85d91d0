"""Fixtures of the case tests: one store per module, built by the CLI (simulate + ingest)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.sim.scenario import simulate


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store of a small simulated chain: its path and the ransomware case's ground truth."""
    base = tmp_path_factory.mktemp("cases")
    simulate(base / "sim", seed=3, txs=500)
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    return {"store": store, "truth": json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())}
