"""Benchmark: watch rules evaluated on every committed block (issue 17).

    .venv/bin/python benchmarks/bench_watch.py [--work DIR] [--txs 1000000] [--tail 20]
                                               [--addresses 100000] [--frontiers 1000] [--reuse]
                                               [--profile PREFIX]

Uses the simulated chain of bench_api.py (`DIR/sim`, built when missing). A store of all but the
last --tail blocks is ingested (`DIR/watch/store`, rebuilt every run), tagged with the simulator's
service labels and clustered; then --addresses random addresses of the chain are watched (`moved`)
and --frontiers saved traces (5-hop haircut traces of random spent outputs, saved in one case) are
watched as taint frontiers (`reaches-service`). The tail blocks (about 2,400 transactions each on
the 1M chain) are then ingested one raw file at a time, as blocks arrive, and the evaluator is
timed inside that real ingest: the rule evaluation of each block (`WatchEvaluator.on_batch`) and
the catalog write of its alerts and frontiers (run in the batch's commit), plus the one-off load of
the items at the run's first block. The same tail is ingested into a copy without items, for the
ingest's own time per block beside it. Prints p50/p99/max per block and the peak memory (VmHWM),
and the process CPU time of the same spans (steadier than wall time when other work shares the
machine). `--profile PREFIX` runs the load, the evaluations after the first block and the writes
under cProfile each, saved to PREFIX.{load,evaluate,write} (timings then inflated).

Each full run saves the prepared stores (items added, tail not yet ingested) and the tail files in
`DIR/watch-saved`; `--reuse` starts from copies of those instead of rebuilding them (about a minute
per run instead of ten: for iterating on the evaluator; the figures are the same path's).
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import os
import pstats
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
CPU: dict[str, list[float]] = {"load": [], "evaluate": [], "write": []}  # process CPU time of the same spans
PROFILES: dict[str, cProfile.Profile] = {}


def _timed(profile: bool) -> None:
    """Time the evaluator inside the real ingest (its load, each batch, each batch's catalog write);
    with `profile`, each of the three also runs under its own cProfile (timings then inflated)."""
    cls = evaluate.WatchEvaluator
    load, on_batch = cls.load, cls.on_batch
    if profile:
        PROFILES.update({k: cProfile.Profile() for k in TIMES})

    def run(what: str, fn: Any, *args: Any) -> Any:
        # the first block's evaluation holds the load, profiled on its own (profilers do not nest)
        prof = PROFILES.get(what) if what != "evaluate" or TIMES["evaluate"] else None
        t, c = time.perf_counter(), time.process_time()
        out = prof.runcall(fn, *args) if prof is not None else fn(*args)
        TIMES[what].append(time.perf_counter() - t)
        CPU[what].append(time.process_time() - c)
        return out

    def timed_load(self: Any) -> None:
        run("load", load, self)

    def timed_batch(self: Any, chain: str, tables: Any) -> Any:
        write = run("evaluate", on_batch, self, chain, tables)
        if write is None:
            return None

        def timed_write(con: Any) -> None:
            run("write", write, con)
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


def prepare_items(args: argparse.Namespace, sim: Path, saved: Path) -> tuple[Path, Path, list[Path]]:
    """The full path: head store, its bare copy, the items added; then a copy of all of it saved."""
    t = time.perf_counter()
    store, raws = prepare(args.work, sim, args.tail)
    print(f"head store: {time.perf_counter() - t:.0f} s (ingest, labels, clustering)", flush=True)
    bare = args.work / "watch" / "bare-store"
    shutil.copytree(store, bare)
    t_addr, t_front = add_items(store, sim, args.addresses, args.frontiers)
    print(f"watch add: {args.addresses:,} addresses {t_addr:.1f} s; {args.frontiers:,} frontiers (traces saved "
          f"and watched) {t_front:.1f} s", flush=True)
    if saved.exists():
        shutil.rmtree(saved)
    saved.mkdir(parents=True)
    shutil.copytree(store, saved / "items-store")
    shutil.copytree(bare, saved / "bare-store")
    for r in raws:
        shutil.copy2(r, saved / r.name)
    (saved / "ready").write_text(f"tail {args.tail}, {args.addresses} addresses, {args.frontiers} frontiers\n")
    return store, bare, raws


def restore(saved: Path, out: Path) -> tuple[Path, Path, list[Path]]:
    """Fresh copies of the saved stores and tail files (each run ingests the tail into them)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    store, bare = out / "store", out / "bare-store"
    shutil.copytree(saved / "items-store", store)
    shutil.copytree(saved / "bare-store", bare)
    raws = []
    for r in sorted(saved.glob("tail-*.dat")):
        raws.append(out / r.name)
        shutil.copy2(r, raws[-1])
    return store, bare, raws


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
    ap.add_argument("--profile", type=Path, help="write cProfile stats of the load, evaluation and writes to "
                    "PROFILE.{load,evaluate,write} and print their top functions")
    ap.add_argument("--reuse", action="store_true",
                    help="start from the stores saved by the last full run (DIR/watch-saved) when present")
    ap.add_argument("--latency", action="store_true",
                    help="then ingest the tail once more into a copy of the items store with follow-mode delivery "
                         "to a loopback webhook, and print the commit-to-webhook latency (watch_latency.py)")
    args = ap.parse_args()
    sim, _ = build(args.work, args.txs)
    saved = args.work / "watch-saved"
    if args.reuse and (saved / "ready").exists():
        store, bare, raws = restore(saved, args.work / "watch")
        print(f"reused the prepared stores of {saved} ({(saved / 'ready').read_text().strip()})", flush=True)
    else:
        store, bare, raws = prepare_items(args, sim, saved)
    _timed(args.profile is not None)
    with_items = ingest_tail(store, raws)
    without = ingest_tail(bare, raws)
    load = TIMES["load"]
    ev = TIMES["evaluate"][1:]  # the first batch also loads the items (timed apart)
    ws = open_ws(store)
    alerts = ws.alerts_list(limit=1000).alerts if hasattr(ws, "alerts_list") else []
    print(f"{len(raws)} tail blocks, one raw file each:")
    wr = TIMES["write"]
    print(f"  rule evaluation per block: p50 {statistics.median(ev) * 1000:.0f} ms, p99 {_pct(ev, .99) * 1000:.0f} ms,"
          f" max {max(ev) * 1000:.0f} ms (goal < 200 ms; blocks after the first)")
    if wr:
        print(f"  catalog write of alerts and frontiers (in the commit): p50 {statistics.median(wr) * 1000:.1f} ms, "
              f"max {max(wr) * 1000:.1f} ms ({len(wr)} blocks wrote)")
    print(f"  items, frontiers, tag map and graph index loaded once per ingest run: {load[0] * 1000:,.0f} ms")
    ev_cpu, wr_cpu = CPU["evaluate"][1:], CPU["write"]
    print(f"  process CPU time of the same (steadier than wall time on a shared machine): evaluation p50 "
          f"{statistics.median(ev_cpu) * 1000:.0f} ms, p99 {_pct(ev_cpu, .99) * 1000:.0f} ms; writes p50 "
          f"{statistics.median(wr_cpu) * 1000:.0f} ms, max {max(wr_cpu, default=0) * 1000:.0f} ms; "
          f"load {CPU['load'][0]:.1f} s")
    print("  per block, CPU ms (evaluation / writes): " + ", ".join(
        f"{e * 1000:.0f}/{w * 1000:.0f}" for e, w in zip(CPU["evaluate"], CPU["write"])))
    print(f"  the whole tail ingested in one run (one block per batch): {with_items:.1f} s with the items, "
          f"{without:.1f} s without")
    print(f"  alerts raised: {len(alerts):,}")
    if args.latency:
        import watch_latency

        copy = args.work / "watch" / "latency-store"
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(saved / "items-store", copy)
        lat = watch_latency.measure(copy, raws)
        print(f"  commit-to-webhook latency, follow-mode delivery to a loopback receiver: {lat['alerts']:,} alerts, "
              f"p50 {lat.get('p50', float('nan')) * 1000:.0f} ms, p99 {lat.get('p99', float('nan')) * 1000:.0f} ms, "
              f"max {lat.get('max', float('nan')) * 1000:.0f} ms (goal p99 < 1 s)")
    print(f"peak memory (VmHWM, this process): {_vmhwm_mb():,.0f} MB")
    for what, prof in PROFILES.items():
        assert args.profile is not None
        prof.dump_stats(f"{args.profile}.{what}")
        print(f"\n== profile: {what} ==")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
