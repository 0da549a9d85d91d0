"""Benchmark: a case's evidence bundle, its verification and its report, on a case whose saved traces
cover about 10,000 transactions (issue 16: each under 10 s; and the bundle's size per transaction).

    .venv/bin/python benchmarks/bench_case.py [--work DIR] [--txs 1000000] [--target 10000]

Builds (or reuses, with --work DIR holding `sim/` and `store/` from bench_api.py or bench_web.py) the
simulated 1M-transaction chain, clustered and tagged. The case is made in a copy of the store
(`DIR/case-store`, the catalog copied, the lake's files hard-linked: the lake is never rewritten in place),
so the shared store stays as it was. Seeds: the simulated ransomware case's payments; the forward trace
under the poison policy widens with each hop, so the hop limit is raised until the saved traces cover at
least --target distinct transactions (FIFO and haircut saved beside it, over the same seeds).

Figures: time of `case bundle` (raw blocks read from the simulator's blk files, every traced
transaction, every funding transaction, headers and merkle branches), of `verify` (no store, every
txid, merkle branch, header and the saved traces recomputed), of `case report` (PDF, en), the bundle's
bytes per transaction, and the peak memory (VmHWM) of this process, which runs all three in-process
through the service layer (`Workspace`) as the CLI does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import CHAIN, build

from fundtrail.settings import Settings
from fundtrail.workspace import Actor, TraceRequest, Workspace


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def copy_store(store: Path, dst: Path) -> Path:
    """A writable copy of `store` for the case: catalog and small state copied, lake files hard-linked."""
    if dst.exists():
        shutil.rmtree(dst)
    for root, _dirs, files in os.walk(store):
        rel = Path(root).relative_to(store)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            src, out = Path(root) / name, dst / rel / name
            if rel.parts and rel.parts[0] == "lake":
                os.link(src, out)
            else:
                shutil.copy2(src, out)
    return dst


def open_ws(store: Path) -> Workspace:
    return Workspace.open(Settings.load(), store=store, writable=True, actor=Actor.local(user="bench", via="cli"))


def choose_hops(ws: Workspace, seeds: list[Any], target: int) -> tuple[int, int]:
    """The smallest hop limit whose poison trace visits at least `target` transactions (bisection:
    the visited count grows with the limit)."""
    def visited(hops: int) -> int:
        r = ws.trace(TraceRequest(seeds=seeds, policy="poison", chain=CHAIN, hops=hops, max_txs=400_000,
                                  max_seconds=120))
        n = int((r.summary or {}).get("txs_visited", 0))
        print(f"  hops {hops}: poison visits {n:,} transactions", flush=True)
        return n

    lo, hi = 1, 64
    if visited(hi) < target:
        return hi, visited(hi)
    while lo < hi:
        mid = (lo + hi) // 2
        if visited(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo, visited(lo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("bench-out/api"))
    ap.add_argument("--txs", type=int, default=1_000_000)
    ap.add_argument("--target", type=int, default=10_000)
    args = ap.parse_args()
    sim, store = build(args.work, args.txs)
    case_store = copy_store(store, args.work / "case-store")
    truth = json.loads((sim / "truth" / "cases" / "ransomware-1.json").read_text())
    seeds: list[Any] = [f"{s['txid']}:{s['vout']}" for s in truth["seed_outputs"]]
    ws = open_ws(case_store)
    hops, _visited = choose_hops(ws, seeds, args.target)
    case = ws.case_new("Benchmark case", agency="bench", number="BENCH-1")
    txs: set[str] = set()
    for policy in ("poison", "haircut", "fifo"):
        saved = ws.case_trace(case.id, TraceRequest(seeds=seeds, policy=policy, chain=CHAIN, hops=hops,
                                                    max_txs=400_000, max_seconds=120))
        txs |= {n["txid"] for n in saved.result["graph"]["nodes"]}
    print(f"case {case.id}: {len(seeds)} seeds, hops {hops}, traces under poison/haircut/fifo cover "
          f"{len(txs):,} distinct transactions", flush=True)
    out = args.work / "case-out"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    t = time.perf_counter()
    bundle = ws.case_bundle(case.id, out / "bundle.zip", blocks_dir=sim / "blocks")
    t_bundle = time.perf_counter() - t
    with zipfile.ZipFile(out / "bundle.zip") as z:
        members = len(z.namelist())
    t = time.perf_counter()
    check = ws.verify_bundle(out / "bundle.zip", expect=bundle.bundle_hash)
    t_verify = time.perf_counter() - t
    t = time.perf_counter()
    ws.case_report(case.id, out / "report.pdf", lang="en", bundle=out / "bundle.zip")
    t_report = time.perf_counter() - t
    pages = _pdf_pages(out / "report.pdf")

    print(f"bundle: {t_bundle:.2f} s, {bundle.bytes:,} bytes, {members} files, {bundle.transactions:,} "
          f"transactions -> {bundle.bytes / max(bundle.transactions, 1):,.0f} bytes/tx; by role: "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(_roles(out / "bundle.zip").items())))
    print(f"verify: {t_verify:.2f} s, ok={check.ok}")
    print(f"report: {t_report:.2f} s (PDF, en, {pages} pages, {(out / 'report.pdf').stat().st_size:,} bytes)")
    print(f"peak memory (VmHWM, this process: trace + bundle + verify + report): {_vmhwm_mb():,.0f} MB")
    if not check.ok:
        sys.exit("the bundle did not verify")


def _pdf_pages(path: Path) -> int | str:
    """Pages of a PDF (poppler's pdfinfo, which `make test` installs)."""
    try:
        out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return next((int(line.split()[1]) for line in out.splitlines() if line.startswith("Pages:")), "?")


def _roles(bundle: Path) -> dict[str, int]:
    """Transactions of the bundle per role (a transaction may have several)."""
    counts: dict[str, int] = {}
    with zipfile.ZipFile(bundle) as z:
        for name in z.namelist():
            if name.endswith("/transactions.jsonl"):
                for line in z.read(name).splitlines():
                    for role in json.loads(line)["roles"]:
                        counts[role] = counts.get(role, 0) + 1
    return counts


if __name__ == "__main__":
    main()
