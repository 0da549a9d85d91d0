"""`status` states each chain's coverage (issue 12 items 6 and 15), on real mainnet blocks 0-599 plus
the isolated block 574200: the ranges held, the gap, and what "unspent" is relative to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.realchain import BLOCK_574200, blocks_dir

from fundtrail.cli.main import main



@pytest.fixture(scope="module")
def patchy(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> Path:
    base = tmp_path_factory.mktemp("patchy")
    bdir = blocks_dir(testdata, base)
    store = base / "store"
    assert main(["--store", str(store), "-q", "ingest", "bitcoin", "--blocks-dir", str(bdir)]) == 0
    assert main(["--store", str(store), "-q", "ingest", "bitcoin", "--raw",
                 str(testdata / "btc-raw-blocks" / BLOCK_574200)]) == 0
    return store


def test_status_json_states_coverage(patchy: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["--store", str(patchy), "status", "--json"]) == 0
    (c,) = json.loads(capsys.readouterr().out)["chains"]
    assert c["blocks"] == 601 and not c["empty"]
    assert c["coverage"]["ranges"] == [[0, 599], [574200, 574200]]
    assert c["coverage"]["gaps"] == [[600, 574199]] and c["coverage"]["tip_height"] == 574200
    assert c["coverage"]["contiguous"] is False and c["coverage"]["unplaced_blocks"] == 0


def test_status_text_states_coverage(patchy: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["status", "--store", str(patchy)]) == 0
    out = capsys.readouterr().out
    assert "coverage: heights 0-599, 574200; 1 gap(s), 573,600 heights missing" in out
    assert "'unspent' means unspent as of height 574200" in out
    assert "last ingest run #1 completed (raw " in out  # names its source
