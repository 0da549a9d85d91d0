"""kill -9 during a TRON ingest (the real CLI in a subprocess), then a rerun: the store equals an
uninterrupted run's, table by table."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support.tron_fake_node import FakeTron, ingest_cli, store_content


def _cli(store: Path, url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return ingest_cli(store, url, env, batch_blocks=3)


@pytest.fixture(scope="module")
def node():
    with FakeTron(head=10, txs_per_block=2) as n:
        yield n


@pytest.fixture(scope="module")
def clean(node: FakeTron, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("clean")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_TEST_")}
    done = _cli(root, node.url, env)
    assert done.returncode == 0, done.stderr
    return store_content(root)


@pytest.mark.parametrize("point,at", [("eth_mid_write", 3), ("eth_before_commit", 2), ("eth_after_commit", 3)])
def test_kill_then_rerun_equals_uninterrupted(node: FakeTron, clean: dict, tmp_path: Path, point: str,
                                              at: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_TEST_")}
    crashed = _cli(tmp_path, node.url, dict(env, FUNDTRAIL_TEST_CRASH_POINT=point, FUNDTRAIL_TEST_CRASH_AT=str(at)))
    assert crashed.returncode == -9, crashed.stderr  # really killed
    stored = store_content(tmp_path)["block_index"]
    assert len(stored) < len(clean["block_index"]) and stored == clean["block_index"][:len(stored)]
    rerun = _cli(tmp_path, node.url, env)
    assert rerun.returncode == 0, rerun.stderr
    assert store_content(tmp_path) == clean
    assert not [p for p in (tmp_path / "lake").rglob("*") if p.is_file() and p.name.startswith(".tmp")]
