"""Benchmark: TRON ingest of recorded java-tron answers, and trace/exposure on a simulated chain.

    .venv/bin/python benchmarks/bench_ingest_tron.py [--txs 600000] [--seed 1] [--keep DIR]

1. Simulator: `simulate_tron` writes the recording and the truth (about 1.7 transfers per
   transaction: --txs 600,000 gives over a million transfers); its time and peak memory.
2. Processing of recorded responses, pinned to one core, into a fresh store: (a) from the files, as
   `fundtrail ingest tron --replay` does (read, JSON parse, convert, write, commit); (b) from
   memory (answers parsed beforehand), the figure comparable with bench_ingest_ethereum.py's
   "recorded responses, processing only". Goal: >= 20,000 transfers/s per core.
3. On the ingested chain, through the CLI in this process: the forward trace of the case's stolen
   USDT under each policy (stop list: every address outside the case, as the test does; the first
   call includes building the account graph index), then exposure of a few addresses after tagging
   the exchanges' hot wallets and deposit addresses `exchange`.
Prints figures and peak RSS. Run it alone: it is CPU-bound.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cli(args: list[str]) -> tuple[float, str]:
    from fundtrail.cli.main import main

    out = io.StringIO()
    t = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["-q", *args])
    if code:
        raise SystemExit(f"fundtrail {' '.join(args)} exited {code}")
    return time.perf_counter() - t, out.getvalue()


def _memory_transport(directory: Path) -> Any:
    """A `TronReplayTransport` whose answers are parsed beforehand (no file reads, no JSON parse)."""
    from fundtrail.chains.ethereum.recording import key_of
    from fundtrail.ingest.tron.replay import TronReplayTransport, tron_key
    from fundtrail.ingest.tron.transport import check_answer

    class MemoryReplay(TronReplayTransport):
        def __init__(self) -> None:
            super().__init__(directory)
            self.docs = {key_of(p.name): json.loads(p.read_bytes()) for p in directory.iterdir()}

        def post(self, path: str, body: dict[str, Any]) -> Any:
            return check_answer(self.docs[tron_key(path, body)], self.url, path)

    return MemoryReplay()


def _replay(store_dir: Path, transport: Any) -> tuple[float, float, Any]:
    """Wall and CPU seconds (all threads of the process: on a shared machine the CPU time is the
    per-core figure) of a replay into a fresh store, and its report."""
    from fundtrail.ingest.tron.jobs import ingest_tron
    from fundtrail.ingest.tron.rpc import TronRpc
    from fundtrail.store import Store

    rpc = TronRpc(transport, concurrency=1, by_range=False)
    t, c = time.perf_counter(), time.process_time()
    with rpc:
        report = ingest_tron(Store.open(store_dir), rpc, chain="tron", recorded=transport.recorded_blocks())
    return time.perf_counter() - t, time.process_time() - c, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=600_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="Work here and keep the files.")
    args = ap.parse_args()
    import logging

    logging.disable(logging.WARNING)  # the ingest's "block ids not recomputed" warning, once per run
    from fundtrail.ingest.tron.replay import TronReplayTransport
    from fundtrail.sim.tron.scenario import simulate_tron

    work = args.keep or Path(tempfile.mkdtemp(prefix="fundtrail-tron-bench-"))
    try:
        t, c = time.perf_counter(), time.process_time()
        m = simulate_tron(work / "sim", seed=args.seed, txs=args.txs)
        sim_s, sim_cpu = time.perf_counter() - t, time.process_time() - c
        rec = work / "sim" / "rpc"
        size = sum(p.stat().st_size for p in rec.iterdir()) / 2**20
        print(f"simulator: {m['transactions']:,} transactions, {m['transfers']:,} transfers, {m['blocks']:,} "
              f"blocks, {m['addresses']:,} addresses in {sim_s:.1f}s, CPU {sim_cpu:.1f}s "
              f"({m['transactions'] / sim_s:,.0f} tx/s, "
              f"truth and answer key included); recording {size:,.0f} MB; peak RSS {_rss_mb():.0f} MB", flush=True)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        rss0 = _rss_mb()
        files_s, files_cpu, rep = _replay(work / "store", TronReplayTransport(rec))
        print(f"recorded responses from files, 1 core: {files_s:.2f}s = {rep.blocks / files_s:,.1f} blocks/s, "
              f"{rep.transfers / files_s:,.0f} transfers/s; CPU {files_cpu:.2f}s = "
              f"{rep.transfers / files_cpu:,.0f} transfers per CPU second ({rep.transfers:,} transfers; "
              f"read+parse+convert "
              f"{rep.fetch_seconds:.2f}s, build+write {rep.process_seconds:.2f}s); peak RSS {_rss_mb():.0f} MB "
              f"(before {rss0:.0f} MB)", flush=True)
        mem = _memory_transport(rec)
        rss1 = _rss_mb()
        mem_s, mem_cpu, rep2 = _replay(work / "store-mem", mem)
        print(f"recorded responses from memory (parsed beforehand), 1 core: {mem_s:.2f}s = "
              f"{rep2.transfers / mem_s:,.0f} transfers/s; CPU {mem_cpu:.2f}s = {rep2.transfers / mem_cpu:,.0f} "
              f"transfers per CPU second (convert {rep2.fetch_seconds:.2f}s, build+write "
              f"{rep2.process_seconds:.2f}s); peak RSS {_rss_mb():.0f} MB (answers in memory: {rss1:.0f} MB)",
              flush=True)
        del mem
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        _analyses(work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _analyses(work: Path) -> None:
    case = json.loads((work / "sim/truth/cases/usdt-theft-1.json").read_text())
    with open(work / "sim/truth/addresses.csv") as fh:
        rows = list(csv.DictReader(fh))
    followed = set(case["followed"])
    stop = work / "leaves.txt"
    stop.write_text("".join(f"{r['address']},{r['actor']}\n" for r in rows
                            if r["address"] not in followed and r["role"] != "token"))
    store = str(work / "store")
    for i, policy in enumerate(("poison", "haircut", "fifo", "haircut")):
        args = ["--store", store, "trace", case["seed_txs"][0], "--policy", policy, "--asset", case["token"],
                "--stop-file", str(stop), "--json"] + (["--exact"] if i == 3 else [])
        secs, out = _cli(args)
        doc = json.loads(out)
        note = " (first: builds the account graph index)" if i == 0 else ""
        print(f"trace forward {policy}{' --exact' if i == 3 else ''}: {secs:.2f}s, {len(doc['endpoints'])} "
              f"endpoints{note}; peak RSS {_rss_mb():.0f} MB", flush=True)
    for policy in ("poison", "fifo", "haircut"):
        try:
            secs, out = _cli(["--store", store, "trace", case["seed_txs"][0], "--policy", policy, "--asset",
                              case["token"], "--json", "--max-seconds", "120"])
        except ValueError as exc:  # a finding to report, not a reason to lose the other figures
            print(f"trace forward {policy} without stops: FAILED: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        doc = json.loads(out)
        print(f"trace forward {policy} without stops (into the whole economy): {secs:.2f}s, "
              f"{len(doc['endpoints'])} endpoints, truncated: {doc.get('truncated')}", flush=True)
    tags = work / "exchanges.csv"
    tags.write_text("address,label\n" + "".join(f"{r['address']},{r['actor']}\n" for r in rows
                                                 if r["category"] == "exchange"))
    secs, _ = _cli(["--store", store, "tags", "import", str(tags), "--format", "csv", "--currency", "TRX",
                    "--category", "exchange", "--source", "simulator truth"])
    print(f"tags import ({sum(r['category'] == 'exchange' for r in rows):,} exchange addresses): {secs:.2f}s")
    users = [r["address"] for r in rows if r["category"] == "user"][:3]
    for i, addr in enumerate([case["payer"], case["otc_desk"], *case["mules"][2:3], *users]):
        secs, out = _cli(["--store", store, "exposure", addr, "--chain", "tron", "--json"])
        note = " (first: builds the exposure index)" if i == 0 else ""
        print(f"exposure {addr}: {secs:.2f}s{note}", flush=True)
    print(f"peak RSS: {_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
