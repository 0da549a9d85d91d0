"""Helpers of the watch tests: a simulated case split into a head (ingested first) and tail blocks
(ingested one raw file per block, as blocks arrive), exchange labels from the ground truth, and the
CLI run in-process or as a subprocess."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from support.blkfiles import blk_records


def split_blocks(blk: Path, out: Path, keep_last: int) -> tuple[Path, list[Path]]:
    """The head (all but the last `keep_last` blocks) as one file, and each tail block as its own."""
    records = blk_records(blk)
    head = out / "head.dat"
    head.write_bytes(b"".join(records[:-keep_last]))
    tail = []
    for i, rec in enumerate(records[-keep_last:]):
        p = out / f"tail-{i:03d}.dat"
        p.write_bytes(rec)
        tail.append(p)
    return head, tail


def write_labels(truth: dict[str, Any], path: Path) -> Path:
    """Tag the case's cash-out points as exchanges (as a label provider would)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "source", "currency"])
        for p in truth["cashout_points"]:
            w.writerow([p["address"], p["actor"], "exchange", "test label provider", "BTC-REGTEST"])
    return path


def cli(capsys: pytest.CaptureFixture[str], store: Path, user: str, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process as `user`: (exit code, stdout, stderr)."""
    code = main(["--store", str(store), "--as", user, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def cli_json(capsys: pytest.CaptureFixture[str], store: Path, user: str, *args: str) -> Any:
    code, out, err = cli(capsys, store, user, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def ingest_raw(store: Path, *files: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`fundtrail ingest bitcoin --raw FILE...` in a subprocess (crash points kill it with SIGKILL)."""
    args = [sys.executable, "-m", "fundtrail.cli.main", "-q", "--store", str(store), "ingest", "bitcoin"]
    for f in files:
        args += ["--raw", str(f)]
    return subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)
