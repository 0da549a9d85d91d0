"""The demo's case file: the ransomware investigation kept as a case, with its evidence bundle,
court reports (en, zh_CN) and freeze-request letters written to `<workdir>/case/`, and the bundle
verified the way a court's expert would verify it (no store, no network).

Everything goes through the service layer as the acting user (the owner); the workbench user
`demo` is made a member, so the case shows in the browser too.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import typer

from fundtrail.workspace import TraceRequest, Workspace

POLICIES = ("haircut", "fifo")


def _rel(path: Path) -> str:
    return os.path.relpath(path)


def open_case(ws: Workspace, case: dict[str, Any], chain: str, btc: Any) -> str:
    """Open the case with the victims' reported payments as seeds, the traces saved under each
    policy, and the findings: the payments (facts) and where the money went (inferences)."""
    rec = ws.case_new(f"Ransomware {case['case']}: victims' payments (simulated)", agency="Demo police lab",
                      number="DEMO-2026-001")
    for s in case["seed_outputs"]:
        ws.case_add_seed(rec.id, f"{s['txid']}:{s['vout']}", chain=chain,
                         note=f"victim statement: paid {btc(s['value'])} ransom to {s['address']}")
    seeds: list[Any] = [f"{s['txid']}:{s['vout']}" for s in case["seed_outputs"]]
    saved = {p: ws.case_trace(rec.id, TraceRequest(seeds=seeds, policy=p, chain=chain)) for p in POLICIES}
    total = sum(s["value"] for s in case["seed_outputs"])
    ws.case_finding(rec.id, "fact",
                    f"The {len(seeds)} ransom payments the victims reported, {btc(total)} in all, are on chain "
                    "as reported.",
                    basis="the payments' transactions, included in blocks whose headers link up",
                    refs=[f"output:{s}" for s in seeds])
    traced = saved["haircut"]
    reached: dict[str, int] = {}
    for e in traced.result.get("endpoints") or []:
        if e["reason"] == "service":
            service = (e["label"] or "?").split(": ", 1)[-1].split(" (cluster of")[0]
            reached[service] = reached.get(service, 0) + int(e["amount_sat"])
    for service, amount in sorted(reached.items(), key=lambda kv: -kv[1]):
        ws.case_finding(rec.id, "inference",
                        f"{btc(amount)} of the ransom (haircut) reached deposit addresses attributed to {service}.",
                        basis="taint policy haircut over the traced transactions; the deposit addresses' "
                              "attribution by tags, directly or through their cluster (common-input ownership)",
                        confidence=0.8, source="simulated label provider; clustering",
                        refs=[f"trace:{traced.id}"])
    ws.case_note(rec.id, "Opened by the demo. Next: send the freeze-and-disclosure letters in case/letters/ "
                         "to the exchanges reached, then re-run the traces when the store has grown.")
    return rec.id


def write_case_files(ws: Workspace, case_id: str, workdir: Path, blocks: Path) -> Path:
    """The bundle, the reports and the letters of the case under `<workdir>/case/`; the bundle
    verified. Returns the directory."""
    out = workdir / "case"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    bundle = ws.case_bundle(case_id, out / "bundle.zip", blocks_dir=blocks)
    typer.echo(f"   evidence bundle: {_rel(Path(bundle.path))} ({bundle.transactions:,} transactions with their "
               f"inclusion proofs, {bundle.bytes:,} bytes); bundle hash {bundle.bundle_hash}")
    for lang in ("en", "zh_CN"):
        for suffix in ("pdf", "html"):
            ws.case_report(case_id, out / f"report-{lang}.{suffix}", lang=lang, bundle=out / "bundle.zip")
    typer.echo(f"   court report: {_rel(out / 'report-en.pdf')}, {_rel(out / 'report-zh_CN.pdf')} (and .html)")
    letters = ws.case_letters(case_id, out / "letters", lang="en")
    ws.case_letters(case_id, out / "letters-zh_CN", lang="zh_CN")
    typer.echo(f"   freeze-and-disclosure letters: {len(letters.letters)} in {_rel(out / 'letters')} "
               f"(and letters-zh_CN), PDF and JSON, one per service reached")
    check = ws.verify_bundle(out / "bundle.zip", expect=bundle.bundle_hash)
    verdict = "verified" if check.ok else "FAILED"
    typer.echo(f"   `fundtrail verify {_rel(out / 'bundle.zip')}` (no store, no network): {verdict}; "
               f"{check.summary}")
    if not check.ok:
        for failure in check.failures[:10]:
            typer.echo(f"      {failure}", err=True)
        sys.exit(1)
    return out
