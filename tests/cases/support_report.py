"""Helpers of the report and letter tests: a ransomware case on a CLI-built store, with the
simulator's answer key as the oracle of every amount, and poppler's tools to read PDFs."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.workspace import Actor, Workspace

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "report"
SCRIPT = "Victim paid <script>alert('x')</script> & said so"
FACT = "The ransom payments were spent in one transaction"
INFERENCE = "The deposit addresses belong to three exchanges"


def poppler(tool: str) -> str:
    """The path of a poppler-utils tool, or skip (the lead installs poppler-utils for `make test`)."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (Debian poppler-utils)")
    return path


def pdftotext(pdf: Path) -> str:
    """The text of a PDF as poppler extracts it (raw order: table cells stay whole)."""
    done = subprocess.run([poppler("pdftotext"), "-raw", str(pdf), "-"], capture_output=True, text=True,
                          check=True)
    return done.stdout


def btc(sat: int) -> str:
    """The oracle's own rendering of a satoshi amount (independent of the code under test)."""
    return f"{sat // 100_000_000}.{sat % 100_000_000:08d} BTC"


def label_of(point: dict[str, Any]) -> str:
    return point["actor"] + (" (OTC desk)" if point["category"] == "otc_desk" else "")


def build_case(built: dict[str, Any], base: Path) -> dict[str, Any]:
    """Tag the case's cash-out points (as a label provider would), then open a case as alice with
    the four ransom payments as seeds, a fact, an inference, a finding whose text holds markup,
    a note, and traces of all seeds under FIFO and under exact haircut."""
    truth, store = built["truth"], built["store"]
    labels = base / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "source", "currency"])
        for p in truth["cashout_points"]:
            w.writerow([p["address"], label_of(p), "exchange", "test label provider", "BTC-REGTEST"])
    assert main(["-q", "--store", str(store), "tags", "import", str(labels), "--format", "csv"]) == 0
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="alice"))
    case = ws.case_new("Ransomware <group> 1", agency="Cyber Police", number="2026-0042")
    seeds = [f"{s['txid']}:{s['vout']}" for s in truth["seed_outputs"]]
    for s in seeds:
        ws.case_add_seed(case.id, s, note="ransom payment reported by a victim", facts={"victim": "V-1"})
    ws.case_finding(case.id, "fact", FACT, basis=f"tx {truth['seed_txids'][0]}", refs=[f"output:{seeds[0]}"])
    ws.case_finding(case.id, "inference", INFERENCE, basis="tags of a label provider", confidence=0.8,
                    source="test label provider")
    ws.case_finding(case.id, "fact", SCRIPT, basis="statement")
    ws.case_note(case.id, "asked the exchanges to preserve records")
    from fundtrail.workspace.trace_models import TraceRequest
    fifo = ws.case_trace(case.id, TraceRequest(seeds=seeds, policy="fifo"))
    haircut = ws.case_trace(case.id, TraceRequest(seeds=seeds, policy="haircut", exact=True))
    return {"store": store, "truth": truth, "case": case.id, "fifo": fifo.id, "haircut": haircut.id,
            "ws": ws, "base": base}
