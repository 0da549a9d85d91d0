"""kill -9 during an Ethereum ingest, then a rerun: the store equals an uninterrupted run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.anvil import Anvil
from support.eth_scenario import run_scenario

from fundtrail.store import Store
from fundtrail.store.account_export import iter_transfers


def _cli(store: Path, url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "fundtrail.cli.main", "--store", str(store), "ingest", "ethereum",
           "--rpc", url, "--batch-blocks", "4", "--json"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _content(root: Path) -> tuple:
    store = Store.open(root)
    with store.query() as con:
        tables = tuple(con.execute(f"SELECT * FROM anvil_{t} ORDER BY ALL").fetchall()
                       for t in ("blocks", "transactions", "logs", "traces", "transfers", "addresses", "tokens"))
    leftovers = [p for p in (root / "lake").rglob("*") if p.is_file() and p.name.startswith(".tmp")]
    return tables, list(iter_transfers(store, "anvil")), leftovers


@pytest.fixture(scope="module")
def node():
    with Anvil() as n:
        run_scenario(n)
        yield n


@pytest.mark.parametrize("point,at", [("eth_mid_write", 3), ("eth_before_commit", 2), ("eth_after_commit", 5)])
def test_kill_then_rerun_equals_uninterrupted(node, tmp_path: Path, point: str, at: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_TEST_")}
    assert _cli(tmp_path / "clean", node.url, env).returncode == 0
    crashed = _cli(tmp_path / "crashed", node.url,
                   dict(env, FUNDTRAIL_TEST_CRASH_POINT=point, FUNDTRAIL_TEST_CRASH_AT=str(at)))
    assert crashed.returncode == -9, crashed.stderr  # really killed
    rerun = _cli(tmp_path / "crashed", node.url, env)
    assert rerun.returncode == 0, rerun.stderr
    clean, resumed = _content(tmp_path / "clean"), _content(tmp_path / "crashed")
    assert resumed[2] == [] and resumed[:2] == clean[:2]
