"""Benchmark: simulator generation rate and memory, at growing sizes.

    .venv/bin/python benchmarks/bench_simulate.py [--sizes 100000 1000000]
    nice -n 10 .venv/bin/python benchmarks/bench_simulate.py --sizes 10000000 \\
        --out /work/bench-data/sim10m          # keep the chain (one size only)

Each size runs in a fresh process (so peak memory is per size), writes to a temporary directory
(or to `--out`, which is kept for later ingest benchmarks) and reports transactions/s, CoinJoins,
MB written and peak RSS; memory that stays flat as the size grows is what "bounded memory
(streaming writes)" means. The child reports progress on stderr every 30 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from fundtrail.sim.scenario import simulate
out, n, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
t = time.perf_counter()
last = [t]
def progress(done, target):
    now = time.perf_counter()
    if now - last[0] >= 30:
        last[0] = now
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  {done:,}/{target:,} tx, {done / (now - t):,.0f} tx/s, peak RSS {rss:,.0f} MB",
              file=sys.stderr, flush=True)
simulate(out, seed=seed, txs=n, progress=progress)
dt = time.perf_counter() - t
m = json.loads((out / "manifest.json").read_text())
size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
print(json.dumps({"txs": m["transactions"], "blocks": m["blocks"], "seconds": dt, "bytes": size,
                  "coinjoins": m["coinjoins"],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None,
                    help="write the chain here and keep it (one size only; must not exist)")
    args = ap.parse_args()
    if args.out is not None and (len(args.sizes) != 1 or args.out.exists()):
        ap.error("--out takes one size and a directory that does not exist yet")
    for n in args.sizes:
        work = Path(tempfile.mkdtemp(prefix="fundtrail-sim-bench-"))
        out = args.out if args.out is not None else work / "out"
        try:
            res = subprocess.run([sys.executable, "-c", CHILD, str(out), str(n), str(args.seed)],
                                 stdout=subprocess.PIPE, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"--txs {n:>10,}: {r['txs']:>10,} tx ({r['coinjoins']:,} CoinJoins) in "
                  f"{r['blocks']:,} blocks, {r['seconds']:.1f}s = {r['txs'] / r['seconds']:,.0f} "
                  f"tx/s, {r['bytes'] / 1e6:,.0f} MB written, peak RSS {r['rss_mb']:,.0f} MB"
                  + (f" -> {out}" if args.out is not None else ""), flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
