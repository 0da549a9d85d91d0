"""Benchmark: EVM simulator generation rate and peak memory (Python and the anvil node).

    .venv/bin/python benchmarks/bench_simulate_evm.py [--sizes 1000 2000 4000] [--no-record]

Each size runs in a fresh process that starts its own anvil (node_modules or PATH), plays the
default scenario with --record, and reports transactions/s, blocks, transfers, the recording's
size, the simulator's peak RSS and anvil's peak RSS (the node keeps every block and state in
memory, so it is the one that grows). Copy the figures to docs/simulator-evm.md and
docs/benchmarks.md with the machine they ran on.
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
from fundtrail.sim.evm.scenario import simulate_evm
out, n, seed, record = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
t = time.perf_counter()
m = simulate_evm(out, seed=seed, txs=n, record=record)
dt = time.perf_counter() - t
rpc = out / "rpc"
size = sum(p.stat().st_size for p in rpc.iterdir()) if rpc.is_dir() else 0
print(json.dumps({"txs": m["transactions"], "blocks": m["blocks"], "transfers": m["transfers"],
                  "seconds": dt, "recording_mb": size / 1e6,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "anvil_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 2_000, 4_000])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-record", action="store_true", help="skip the JSON-RPC recording")
    args = ap.parse_args()
    print(f"{'txs':>7} {'blocks':>6} {'transfers':>9} {'seconds':>8} {'tx/s':>7} "
          f"{'rec MB':>7} {'py RSS MB':>9} {'anvil RSS MB':>12}")
    for n in args.sizes:
        work = Path(tempfile.mkdtemp(prefix="fundtrail-sim-evm-bench-"))
        try:
            res = subprocess.run([sys.executable, "-c", CHILD, str(work / "out"), str(n),
                                  str(args.seed), "0" if args.no_record else "1"],
                                 capture_output=True, text=True, check=False)
            if res.returncode != 0:
                sys.exit(f"size {n} failed: {res.stderr.strip().splitlines()[-1:]}")
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"{r['txs']:>7,} {r['blocks']:>6,} {r['transfers']:>9,} {r['seconds']:>8.1f} "
                  f"{r['txs'] / r['seconds']:>7,.0f} {r['recording_mb']:>7.1f} "
                  f"{r['rss_mb']:>9.0f} {r['anvil_rss_mb']:>12.0f}", flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
