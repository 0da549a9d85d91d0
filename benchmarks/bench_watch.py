"""Benchmark: watch rules evaluated on every committed block (issue 17).

    .venv/bin/python benchmarks/bench_watch.py [--work DIR] [--txs 1000000] [--tail 20]
                                               [--addresses 100000] [--frontiers 1000]

Uses the simulated chain of bench_api.py (`DIR/sim`, built when missing). A store of all but the
last --tail blocks is ingested (`DIR/watch-store`, rebuilt every run), tagged with the simulator's
service labels and clustered; then --addresses random addresses of the chain are watched (`moved`)
and --frontiers saved traces (5-hop haircut traces of random spent outputs, saved in one case) are
watched as taint frontiers (`reaches-service`). The tail blocks (about 2,400 transactions each on
the 1M chain) are then ingested one raw file at a time, as blocks arrive, and the evaluator is
timed inside that real ingest: the rule evaluation of each block (`WatchEvaluator.on_batch`) and
the catalog write of its alerts and frontiers (run in the batch's commit), plus the one-off load of
the items at the run's first block. The same tail is ingested into a copy without items, for the
ingest's own time per block beside it. Prints p50/p99/max per block and the peak memory (VmHWM).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_api import CHAIN, build, sample_addresses, write_service_labels
from support.blkfiles import blk_records

from fundtrail.errors import NotFoundError
from fundtrail.settings import Settings
from fundtrail.watch import evaluate
from fundtrail.workspace import Actor, IngestBitcoinRequest, TraceRequest, Workspace
from fundtrail.workspace.cluster_models import ClusterRunRequest
from fundtrail.workspace.tag_models import TagImportRequest

TIMES: dict[str, list[float]] = {"load": [], "evaluate": [], "write": []}


def _timed() -> None:
    """Time the evaluator inside the real ingest (its load, each batch, each batch's catalog write)."""
    cls = evaluate.WatchEvaluator
    load, on_batch = cls.load, cls.on_batch

    def timed_load(self: Any) -> None:
        t = time.perf_counter()
        load(self)
        TIMES["load"].append(time.perf_counter() - t)

    def timed_batch(self: Any, chain: str, tables: Any) -> Any:
        t = time.perf_counter()
        write = on_batch(self, chain, tables)
        TIMES["evaluate"].append(time.perf_counter() - t)
        if write is None:
            return None

        def timed_write(con: Any) -> None:
            t2 = time.perf_counter()
            write(con)
            TIMES["write"].append(time.perf_counter() - t2)
        return timed_write

    cls.load, cls.on_batch = timed_load, timed_batch  # type: ignore[method-assign]


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def split(sim: Path, out: Path, tail: int) -> tuple[Path, list[Path]]:
    """A blocks directory of all but the last `tail` blocks, and each tail block as a raw file."""
    blocks = out / "head-blocks"
    if out.exists():
        shutil.rmtree(out)
    blocks.mkdir(parents=True)
    files = sorted((sim / "blocks").glob("blk*.dat"))
    last = blk_records(files[-1])
    for f in files[:-1]:
        os.link(f, blocks / f.name)
    (blocks / files[-1].name).write_bytes(b"".join(last[:-tail]))
    raws = []
    for i, rec in enumerate(last[-tail:]):
        raws.append(out / f"tail-{i:03d}.dat")
        raws[-1].write_bytes(rec)  # framed: the raw reader learns the network from its magic
    return blocks, raws


def open_ws(store: Path) -> Workspace:
    return Workspace.open(Settings.load(), store=store, writable=True, create=True,
                          actor=Actor.local(user="bench", via="cli"))


def prepare(work: Path, sim: Path, tail: int) -> tuple[Path, list[Path]]:
    blocks, raws = split(sim, work / "watch", tail)
    store = work / "watch" / "store"
    ws = open_ws(store)
    ws.ingest_bitcoin(IngestBitcoinRequest(blocks_dir=blocks))
    labels = work / "watch" / "labels.csv"
    write_service_labels(sim, labels)
    ws.tags_import(TagImportRequest(paths=[labels], format="csv"))
    ws.cluster_run(ClusterRunRequest(chain=CHAIN))
    return store, raws


def add_items(store: Path, sim: Path, n_addresses: int, n_frontiers: int) -> tuple[float, float]:
    """Watch random addresses (`moved`) and random saved traces' frontiers (`reaches-service`)."""
    rng = random.Random(17)
    with open(sim / "truth" / "addresses.csv", newline="") as fh:
        addresses = [r["address"] for r in csv.DictReader(fh)]
    ws = open_ws(store)
    t = time.perf_counter()
    for i in range(0, n_addresses, 10_000):
        ws.watch_add(rng.sample(addresses, min(10_000, n_addresses - i)), chain=CHAIN, rule="moved")
    t_addresses = time.perf_counter() - t
    case = ws.case_new("Watch benchmark")
    seeds = _seeds(ws, sample_addresses(sim, n_frontiers * 4, seed=5), n_frontiers)
    t = time.perf_counter()
    traces = []
    for k in range(n_frontiers):
        saved = ws.case_trace(case.id, TraceRequest(seeds=[seeds[k % len(seeds)]], policy="haircut", chain=CHAIN,
                                                    hops=5))
        traces.append(saved.id)
    for k in range(0, len(traces), 100):
        ws.watch_add(traces[k:k + 100], chain=CHAIN, rule="reaches-service", policy="haircut", case=case.id)
    return t_addresses, time.perf_counter() - t


def _seeds(ws: Workspace, addresses: list[str], n: int) -> list[str]:
    """Spent outputs (TXID:VOUT) of the sampled addresses' first transactions in the head store."""
    seeds: list[str] = []
    for a in addresses:
        try:
            txs = ws.address_txs(a, chain=CHAIN, limit=1).txs
        except NotFoundError:  # first seen in the tail blocks
            continue
        for t in txs:
            if t.txid is not None:
                detail = ws.transaction(t.txid, chain=CHAIN)
                seeds += [f"{t.txid}:{o.n}" for o in detail.outputs if o.spent_by is not None][:1]
        if len(seeds) >= n:
            break
    return seeds


def ingest_tail(store: Path, raws: list[Path]) -> float:
    """Ingest the tail blocks in one run, one block per batch (as a follow run commits them); the
    run's wall time."""
    settings = Settings.load().with_(batch_blocks=1)
    ws = Workspace.open(settings, store=store, writable=True, actor=Actor.local(user="bench", via="cli"))
    t = time.perf_counter()
    ws.ingest_bitcoin(IngestBitcoinRequest(raw=raws))
    return time.perf_counter() - t


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("bench-out/api"))
    ap.add_argument("--txs", type=int, default=1_000_000)
    ap.add_argument("--tail", type=int, default=20)
    ap.add_argument("--addresses", type=int, default=100_000)
    ap.add_argument("--frontiers", type=int, default=1_000)
    args = ap.parse_args()
    sim, _ = build(args.work, args.txs)
    t = time.perf_counter()
    store, raws = prepare(args.work, sim, args.tail)
    print(f"head store: {time.perf_counter() - t:.0f} s (ingest, labels, clustering)", flush=True)
    bare = args.work / "watch" / "bare-store"
    shutil.copytree(store, bare)
    t_addr, t_front = add_items(store, sim, args.addresses, args.frontiers)
    print(f"watch add: {args.addresses:,} addresses {t_addr:.1f} s; {args.frontiers:,} frontiers (traces saved "
          f"and watched) {t_front:.1f} s", flush=True)
    _timed()
    with_items = ingest_tail(store, raws)
    without = ingest_tail(bare, raws)
    load = TIMES["load"]
    ev = TIMES["evaluate"][1:]  # the first batch also loads the items (timed apart)
    ws = open_ws(store)
    alerts = ws.alerts_list(limit=1000).alerts if hasattr(ws, "alerts_list") else []
    print(f"{len(raws)} blocks of ~{1_001_321 // 410:,} transactions, one raw file each:")
    wr = TIMES["write"]
    print(f"  rule evaluation per block: p50 {statistics.median(ev) * 1000:.0f} ms, p99 {_pct(ev, .99) * 1000:.0f} ms,"
          f" max {max(ev) * 1000:.0f} ms (goal < 200 ms; blocks after the first)")
    if wr:
        print(f"  catalog write of alerts and frontiers (in the commit): p50 {statistics.median(wr) * 1000:.1f} ms, "
              f"max {max(wr) * 1000:.1f} ms ({len(wr)} blocks wrote)")
    print(f"  items, frontiers, tag map and graph index loaded once per ingest run: {load[0] * 1000:,.0f} ms")
    print(f"  the whole tail ingested in one run (one block per batch): {with_items:.1f} s with the items, "
          f"{without:.1f} s without")
    print(f"  alerts raised: {len(alerts):,}")
    print(f"peak memory (VmHWM, this process): {_vmhwm_mb():,.0f} MB")


if __name__ == "__main__":
    main()
