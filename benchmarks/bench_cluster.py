"""Benchmark: clustering — union-find links/s, end-to-end run, peak memory, one-block incremental update.

    .venv/bin/python benchmarks/bench_cluster.py [--txs 1000000] [--workdir DIR]
    .venv/bin/python benchmarks/bench_cluster.py --blocks-dir /work/bench-data/sim10m/blocks
    .venv/bin/python benchmarks/bench_cluster.py --store EXISTING_STORE   (no one-block figure)

Without --store or --blocks-dir it simulates a chain of --txs transactions (kept in --workdir and
reused). The blocks directory is ingested without its last --steps blocks (default 70) and clustered
in full; then, in one process, each held-back block is ingested on its own (as a follow-mode service
receives them) and the incremental run that follows is timed: the one-block update (goal < 100 ms).
The first is in a fresh process (numba kernels loaded from cache, imports, the state mapped from
the checkpoint); the others are warm (the state kept in memory), except step --cold-at, run in a
process of its own to time a cold start that must replay a long journal.
Seventy steps cover a whole journal cycle: every 64th run is a checkpoint that rewrites the
union-find arrays, and each run in between replays the journal since the last checkpoint, so the
figures are the distribution over a cycle, with the checkpoint run reported on its own. The
union-find stage is timed alone on the chain's multi-input links, one core (numba and
graphsense-clustering); the end-to-end run and the one-block updates run in child processes so
that their peak RSS is their own. BENCH_PROFILE_STEP=K prints pyinstrument's profile of step K
(0-based) on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

CHAIN_DEFAULT = "btc-regtest"

CHILD_RUN = """
import json, resource, sys, time
from pathlib import Path
from fundtrail.store import Store
from fundtrail.cluster.engine import run_clustering
store, chain, full = Store.open(Path(sys.argv[1])), sys.argv[2], sys.argv[3] == "full"
t = time.perf_counter()
s = run_clustering(store, chain, full=full)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "summary": s.to_json(),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_STEPS = """
import json, os, resource, sys, time
from pathlib import Path
from fundtrail.store import Store
from fundtrail.cluster import runs
from fundtrail.cluster.engine import run_clustering
from fundtrail.ingest.bitcoin.jobs import ingest_raw_files
store, chain = Store.open(Path(sys.argv[1])), sys.argv[2]
profile_step = int(os.environ.get("BENCH_PROFILE_STEP", "-1"))
out = []
for i, raw in enumerate(sys.argv[3:]):
    ingest_raw_files(store, [Path(raw)])
    prof = None
    if i == profile_step:  # pyinstrument's view of one update, on stderr
        from pyinstrument import Profiler
        prof = Profiler(interval=0.0005)
        prof.start()
    t = time.perf_counter()
    s = run_clustering(store, chain)
    dt = time.perf_counter() - t
    if prof is not None:
        prof.stop()
        print(prof.output_text(show_all=False), file=sys.stderr)
    out.append({"seconds": dt, "mode": s.mode, "n_tx": s.n_tx,
                "checkpoint": bool(runs.latest_run(store, chain).checkpoint)})
print(json.dumps({"steps": out, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_UNION = """
import json, sys, time
import numpy as np
from pathlib import Path
from fundtrail.store import Store
from fundtrail.cluster import coinjoin, graphsense
from fundtrail.cluster.links import LinkBatch, multi_input_links
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.cluster.txview import AddressFacts, load_txview
from fundtrail.cluster.unionfind import UnionFind
store, chain = Store.open(Path(sys.argv[1])), sys.argv[2]
parts = []
t = time.perf_counter()
with open_snapshot(store, chain) as snap:
    facts = AddressFacts.load(snap.con, snap.prefix)
    n = max(snap.n_addresses, facts.script.shape[0])
    for lo in range(0, snap.next_tx_id, 500_000):
        view = load_txview(snap.con, chain, lo, min(lo + 500_000, snap.next_tx_id), facts)
        parts.append(multi_input_links(view, coinjoin.detect(view), 0.5))
links = LinkBatch.concat(parts)
load_s = time.perf_counter() - t
res = {"links": len(links), "addresses": n, "load_seconds": load_s}
UnionFind(4).union_edges(np.array([0, 1]), np.array([2, 3]))  # compile outside the timing
UnionFind(4).union_count(np.array([0, 1]), np.array([2, 3]))
for name in ("union_edges", "union_count"):
    best = None
    for _ in range(3):
        uf = UnionFind(n)
        t = time.perf_counter()
        getattr(uf, name)(links.a, links.b)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    res[name] = best
if graphsense.available():
    t = time.perf_counter()
    graphsense.edge_labels(n, links.a, links.b)
    res["graphsense"] = time.perf_counter() - t
print(json.dumps(res))
"""


def _child(code: str, *args: str, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        sys.exit(f"benchmark child failed:\n{out.stderr}")
    if "BENCH_PROFILE_STEP" in os.environ and out.stderr:
        print(out.stderr, file=sys.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ingest(store: Path, blocks: Path) -> None:
    subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "--store", str(store), "-q", "ingest",
                    "bitcoin", "--blocks-dir", str(blocks)], check=True)


def _records(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each blk record (magic, length, block) in a blk file's bytes."""
    pos, out = 0, []
    while pos + 8 <= len(data) and data[pos:pos + 4] != b"\0\0\0\0":
        end = pos + 8 + struct.unpack_from("<I", data, pos + 4)[0]
        out.append((pos, end))
        pos = end
    return out


def _hold_back(blocks: Path, out: Path, k: int) -> list[Path]:
    """A copy of a blocks dir (hard links) without its last `k` blocks, and those blocks as
    one-block raw files (blk framing), in chain order.

    Assumes blocks are stored in chain order, as the simulator writes them."""
    out.mkdir(parents=True, exist_ok=True)
    tail = out.parent / f"{out.name}-tail"
    tail.mkdir(exist_ok=True)
    held: list[bytes] = []
    files = sorted(blocks.glob("blk*.dat"))
    while files and len(held) < k:
        data = files[-1].read_bytes()
        recs = _records(data)
        take = min(k - len(held), len(recs))
        held[:0] = [data[a:b] for a, b in recs[len(recs) - take:]]
        if take < len(recs):
            (out / files[-1].name).write_bytes(data[:recs[len(recs) - take][0]])
        files.pop()
    if len(held) < k:
        sys.exit(f"--steps {k}: the blocks dir holds only {len(held)} blocks")
    for f in files:
        if not (out / f.name).exists():
            os.link(f, out / f.name)
    raws = []
    for i, block in enumerate(held):
        raws.append(tail / f"block-{i:04d}.dat")
        raws[-1].write_bytes(block)
    return raws


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=1_000_000, help="simulated chain size (default 1M)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--blocks-dir", type=Path, help="cluster this blocks dir instead of a simulated chain")
    ap.add_argument("--store", type=Path, help="cluster this already ingested store (no one-block figure)")
    ap.add_argument("--chain", default=CHAIN_DEFAULT)
    ap.add_argument("--workdir", type=Path, help="where the simulated chain and stores go (default: temp)")
    ap.add_argument("--steps", type=int, default=70, help="blocks held back and added one at a time (default 70)")
    ap.add_argument("--cold-at", type=int, default=62,
                    help="run this step (0-based) in a process of its own: a cold start with a long journal "
                         "(default 62, the longest journal before the 64-run checkpoint; 0: none)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="fundtrail-cluster-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    figures: dict = {"machine": f"{os.cpu_count()} CPU(s), python {sys.version.split()[0]}"}
    if args.store:
        store = args.store
    else:
        blocks = args.blocks_dir
        if blocks is None:
            sim = work / f"sim-{args.txs}-{args.seed}"
            if not (sim / "manifest.json").exists():
                print(f"simulating {args.txs:,} transactions into {sim} ...", file=sys.stderr)
                subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "-q", "simulate", "--seed",
                                str(args.seed), "--txs", str(args.txs), "--out", str(sim)], check=True)
            blocks = sim / "blocks"
        store = work / "store"
        shutil.rmtree(store, ignore_errors=True)
        held = work / "blocks-held-back"
        shutil.rmtree(held, ignore_errors=True)
        shutil.rmtree(work / "blocks-held-back-tail", ignore_errors=True)
        raws = _hold_back(blocks, held, args.steps)
        print(f"ingesting all but the last {args.steps} blocks ...", file=sys.stderr)
        _ingest(store, held)
    print("union-find stage ...", file=sys.stderr)
    u = _child(CHILD_UNION, str(store), args.chain)
    figures["links"] = u["links"]
    figures["addresses"] = u["addresses"]
    figures["union_edges_links_per_s"] = round(u["links"] / u["union_edges"])
    figures["union_count_links_per_s"] = round(u["links"] / u["union_count"])
    if "graphsense" in u:
        figures["graphsense_links_per_s"] = round(u["links"] / u["graphsense"])
    print("end-to-end full run ...", file=sys.stderr)
    e = _child(CHILD_RUN, str(store), args.chain, "full")
    s = e["summary"]
    figures["end_to_end_seconds"] = round(e["seconds"], 2)
    figures["end_to_end_tx_per_s"] = round(s["n_tx"] / e["seconds"])
    figures["end_to_end_links_per_s"] = round(s["n_links"] / e["seconds"])
    figures["end_to_end_peak_rss_mb"] = round(e["rss_mb"])
    figures["transactions"] = s["n_tx"]
    figures["clusters"] = s["n_clusters"]
    figures["largest_cluster"] = s["largest"]
    if not args.store:
        print(f"{args.steps} blocks one at a time: ingest, incremental run ...", file=sys.stderr)
        cold_at = args.cold_at if 0 < args.cold_at < args.steps else None
        groups = [raws] if cold_at is None else [raws[:cold_at], raws[cold_at:cold_at + 1], raws[cold_at + 1:]]
        steps, rss, cold = [], 0.0, {0}
        for group in groups:
            if group:
                cold.add(len(steps))
                i = _child(CHILD_STEPS, str(store), args.chain, *map(str, group))
                steps += i["steps"]
                rss = max(rss, i["rss_mb"])
        assert all(st["mode"] == "incremental" for st in steps), steps
        ms = [st["seconds"] * 1000 for st in steps]
        warm = sorted(m for k, (m, st) in enumerate(zip(ms, steps)) if k not in cold and not st["checkpoint"])
        figures["one_block_txs_mean"] = round(sum(st["n_tx"] for st in steps) / len(steps))
        figures["one_block_cold_process_ms"] = round(ms[0], 1)
        if cold_at is not None:
            figures[f"one_block_cold_process_after_{cold_at}_journal_runs_ms"] = round(ms[cold_at], 1)
        figures["one_block_warm_runs"] = len(warm)
        figures["one_block_warm_p50_ms"] = round(warm[len(warm) // 2], 1)
        figures["one_block_warm_p90_ms"] = round(warm[int(len(warm) * 0.9)], 1)
        figures["one_block_warm_max_ms"] = round(warm[-1], 1)
        figures["one_block_checkpoint_runs_ms"] = [round(m, 1) for m, st in zip(ms, steps) if st["checkpoint"]]
        figures["one_block_mean_over_all_ms"] = round(sum(ms) / len(ms), 1)
        figures["one_block_peak_rss_mb"] = round(rss)
        figures["one_block_ms_by_step"] = [round(m) for m in ms]
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
