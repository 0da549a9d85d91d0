"""Benchmark: clustering — union-find links/s, end-to-end run, peak memory, one-block incremental update.

    .venv/bin/python benchmarks/bench_cluster.py [--txs 1000000] [--workdir DIR]
    .venv/bin/python benchmarks/bench_cluster.py --blocks-dir /work/bench-data/sim10m/blocks
    .venv/bin/python benchmarks/bench_cluster.py --store EXISTING_STORE   (no one-block figure)

Without --store or --blocks-dir it simulates a chain of --txs transactions (kept in --workdir and
reused). The blocks directory is ingested without its last two blocks and clustered in full; then, in
one process, each of the last two blocks is ingested and the incremental run that follows timed:
the one-block update (goal < 100 ms), first in a fresh process (numba kernels loaded from cache,
imports) and then warm, as a follow-mode service would run it. The union-find stage is timed alone on the chain's multi-input links, one core (numba
and graphsense-clustering); the end-to-end run and the one-block update run in child processes so
that their peak RSS is their own.
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
import json, resource, sys, time
from pathlib import Path
from fundtrail.store import Store
from fundtrail.cluster.engine import run_clustering
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
store, chain = Store.open(Path(sys.argv[1])), sys.argv[2]
out = []
for blocks in sys.argv[3:]:
    ingest_blocks_dir(store, Path(blocks))
    t = time.perf_counter()
    s = run_clustering(store, chain)
    out.append({"seconds": time.perf_counter() - t, "mode": s.mode, "n_tx": s.n_tx})
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
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ingest(store: Path, blocks: Path) -> None:
    subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "--store", str(store), "-q", "ingest",
                    "bitcoin", "--blocks-dir", str(blocks)], check=True)


def _without_last_blocks(blocks: Path, out: Path, k: int) -> None:
    """A copy of a blocks dir (hard links) whose last blk file lacks its last `k` records.

    Assumes blocks are stored in chain order, as the simulator writes them."""
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(blocks.glob("blk*.dat"))
    for f in files[:-1]:
        os.link(f, out / f.name)
    data = files[-1].read_bytes()
    pos, starts = 0, []
    while pos + 8 <= len(data) and data[pos:pos + 4] != b"\0\0\0\0":
        starts.append(pos)
        pos += 8 + struct.unpack_from("<I", data, pos + 4)[0]
    (out / files[-1].name).write_bytes(data[:starts[-k]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=1_000_000, help="simulated chain size (default 1M)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--blocks-dir", type=Path, help="cluster this blocks dir instead of a simulated chain")
    ap.add_argument("--store", type=Path, help="cluster this already ingested store (no one-block figure)")
    ap.add_argument("--chain", default=CHAIN_DEFAULT)
    ap.add_argument("--workdir", type=Path, help="where the simulated chain and stores go (default: temp)")
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
        for k in (1, 2):
            shutil.rmtree(work / f"blocks-but-{k}", ignore_errors=True)
            _without_last_blocks(blocks, work / f"blocks-but-{k}", k)
        print("ingesting all but the last two blocks ...", file=sys.stderr)
        _ingest(store, work / "blocks-but-2")
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
        print("one block at a time: ingest, incremental run (twice, in one process) ...", file=sys.stderr)
        i = _child(CHILD_STEPS, str(store), args.chain, str(work / "blocks-but-1"), str(blocks))
        cold, warm = i["steps"]
        assert cold["mode"] == warm["mode"] == "incremental", i
        figures["one_block_cold_process_ms"] = round(cold["seconds"] * 1000, 1)
        figures["one_block_warm_ms"] = round(warm["seconds"] * 1000, 1)
        figures["one_block_txs"] = [cold["n_tx"], warm["n_tx"]]
        figures["one_block_peak_rss_mb"] = round(i["rss_mb"])
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
