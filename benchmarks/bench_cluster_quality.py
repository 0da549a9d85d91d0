"""Benchmark: quality of the clustering heuristics on a simulated chain with ground truth.

    .venv/bin/python benchmarks/bench_cluster_quality.py [--txs 100000] [--seed 3] [--json]

Simulates a chain (`fundtrail.sim`), ingests it into a temporary store and measures, against the
simulator's truth: CoinJoin precision/recall per protocol (when the simulator writes
`truth/coinjoins.csv`), each change rule's and the consensus's precision and coverage, and the
pairwise precision/recall and false merges of clustering by multi-input links, with and without
change links. Prints the Markdown tables of docs/heuristics.md (`--json`: the whole report).
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from fundtrail.cluster import quality
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    def say(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="fundtrail-quality-") as tmp:
        root = Path(tmp)
        say(f"simulating {args.txs:,} transactions (seed {args.seed})")
        simulate(root / "sim", seed=args.seed, txs=args.txs)
        say("ingesting")
        store = Store.open(root / "store")
        ingest_blocks_dir(store, root / "sim" / "blocks")
        t = time.perf_counter()
        report = quality.measure(store, "btc-regtest", quality.load_truth(root / "sim"), progress=say)
        report["measure_seconds"] = round(time.perf_counter() - t, 2)
        report["seed"] = args.seed
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"simulated chain: seed {args.seed}, {report['transactions']:,} transactions "
              f"(measured in {report['measure_seconds']} s)\n")
        print(quality.markdown_table(report))


if __name__ == "__main__":
    main()
