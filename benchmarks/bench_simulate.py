"""Benchmark: simulator generation rate and memory, at growing sizes.

    .venv/bin/python benchmarks/bench_simulate.py [--sizes 100000 1000000]

Each size runs in a fresh process (so peak memory is per size), writes to a temporary directory
and reports transactions/s, MB written and peak RSS; memory that stays flat as the size grows
is what "bounded memory (streaming writes)" means.
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
out, n = Path(sys.argv[1]), int(sys.argv[2])
t = time.perf_counter()
simulate(out, seed=1, txs=n)
dt = time.perf_counter() - t
m = json.loads((out / "manifest.json").read_text())
size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
print(json.dumps({"txs": m["transactions"], "blocks": m["blocks"], "seconds": dt, "bytes": size,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = ap.parse_args()
    for n in args.sizes:
        work = Path(tempfile.mkdtemp(prefix="fundtrail-sim-bench-"))
        try:
            res = subprocess.run([sys.executable, "-c", CHILD, str(work / "out"), str(n)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"--txs {n:>10,}: {r['txs']:>10,} tx in {r['blocks']:,} blocks, {r['seconds']:.1f}s = "
                  f"{r['txs'] / r['seconds']:,.0f} tx/s, {r['bytes'] / 1e6:,.0f} MB written, "
                  f"peak RSS {r['rss_mb']:,.0f} MB")
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
