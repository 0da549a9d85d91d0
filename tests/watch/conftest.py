"""Fixtures of the watch tests: one simulated chain per session, its head ingested by the CLI and
the case's cash-out points tagged as exchanges; each test copies that store and feeds it the tail
blocks itself. The oracles are the simulator's answer keys and the raw blocks parsed by the tests'
own parser (tests/support/reliability.parse_block) with embit for addresses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from embit.networks import NETWORKS
from embit.script import Script

from fundtrail.cli.main import main
from fundtrail.sim.scenario import simulate
from support.reliability import parse_block
from support.blkfiles import blk_records
from tests.watch.support_watch import split_blocks, write_labels

TAIL = 10


def _address(script: bytes) -> str | None:
    try:
        return str(Script(script).address(NETWORKS["regtest"]))
    except Exception:  # noqa: BLE001 - embit raises several kinds for scripts without an address form
        return None


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("watch")
    simulate(base / "sim", seed=3, txs=500)
    blk = base / "sim/blocks/blk00000.dat"
    head, tail = split_blocks(blk, base, TAIL)
    store = base / "store"
    truth = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(head)]) == 0
    assert main(["-q", "--store", str(store), "tags", "import", str(write_labels(truth, base / "labels.csv")),
                 "--format", "csv"]) == 0
    blocks = [rec[8:] for rec in blk_records(blk)]
    parsed = [parse_block(raw) for raw in blocks]
    n_head = len(blocks) - TAIL
    txs = [{"height": h, "txid": tx.txid[::-1].hex(), "inputs": [(p[0][::-1].hex(), p[1]) for p in tx.inputs],
            "outputs": [(v, _address(s)) for v, s in tx.outputs]} for h, b in enumerate(parsed) for tx in b]
    return {"base": base, "store": store, "tail": tail, "truth": truth, "txs": txs, "head_tip": n_head - 1}


@pytest.fixture
def store(world: dict[str, Any], tmp_path: Path) -> Path:
    """A copy of the head store for one test."""
    dst = tmp_path / "store"
    shutil.copytree(world["store"], dst)
    return dst
