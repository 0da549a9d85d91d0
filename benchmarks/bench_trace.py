"""Benchmark: graph index build, 5-hop forward haircut traces, exposure index, screening, risk latency.

    python benchmarks/bench_trace.py [--txs 1000000] [--sim DIR] [--store DIR] [--traces 200]

Simulates a chain (or reuses --sim DIR / --store DIR), ingests it, then measures:
graph index build time and size per million transactions; p50/p99 latency of 5-hop forward
haircut traces from random spent outputs (stopping at exchange addresses of the ground truth);
exposure index build time; batch screening rate (100k addresses) and single-address risk p99;
peak RSS. Prints one line per figure (docs/benchmarks.md records them).
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.risk.exposure import ExposureIndex
from fundtrail.risk.profile import load_profile
from fundtrail.risk.score import score_address
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.trace.engine import Limits, trace
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.stops import StopList

CHAIN = "btc-regtest"
_CATEGORY = {"exchange": "exchange", "otc_desk": "exchange", "mixer": "mixing_service",
             "ransomware": "ransomware", "scam": "scam", "darknet_market": "market",
             "darknet_vendor": "market"}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=1_000_000)
    ap.add_argument("--sim", type=Path, help="existing simulator output (skips simulation)")
    ap.add_argument("--store", type=Path, help="existing store with the sim ingested (skips ingest)")
    ap.add_argument("--traces", type=int, default=200)
    ap.add_argument("--screen", type=int, default=100_000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-trace-"))
    sim = args.sim or work / "sim"
    if args.sim is None:
        t = time.perf_counter()
        simulate(sim, seed=1, txs=args.txs)
        print(f"simulate {args.txs:,} txs: {time.perf_counter() - t:.1f} s", flush=True)
    store_dir = args.store or work / "store"
    store = Store.open(store_dir)
    if args.store is None:
        t = time.perf_counter()
        ingest_blocks_dir(store, sim / "blocks")
        print(f"ingest: {time.perf_counter() - t:.1f} s", flush=True)

    t = time.perf_counter()
    g = GraphIndex.ensure(store, CHAIN, full=True)
    build = time.perf_counter() - t
    per_m = 1e6 / max(g.n_tx, 1)
    print(f"graph index: {g.n_tx:,} txs, build {build:.2f} s ({build * per_m:.2f} s per M tx), "
          f"size {g.size_bytes() / 1e6:.0f} MB ({g.size_bytes() / 1e6 * per_m:.0f} MB per M tx)", flush=True)

    tagged: dict[int, str] = {}
    from fundtrail.trace.seeds import address_id

    with open(sim / "truth" / "addresses.csv") as fh:
        for row in csv.DictReader(fh):
            cat = _CATEGORY.get(row["category"])
            if cat and row["role"] not in ("change", "wallet"):
                try:
                    tagged[address_id(g, row["address"])] = cat
                except Exception:  # noqa: BLE001 (an address never paid on chain)
                    continue
    stops = StopList({a: c for a, c in tagged.items() if c == "exchange"})
    print(f"tagged addresses: {len(tagged):,} (exchange stops: {len(stops):,})", flush=True)

    rng = np.random.default_rng(7)
    spent = np.flatnonzero(np.asarray(g.out_spent_by) >= 0)
    seeds = rng.choice(spent, size=min(args.traces, spent.size), replace=False)
    lat, visited, truncated = [], [], 0
    for o in seeds:
        t = time.perf_counter()
        r = trace(g, [int(o)], policy="haircut", limits=Limits(hops=5), stop=stops)
        lat.append(time.perf_counter() - t)
        visited.append(r.txs_visited)
        truncated += r.truncated is not None
    lat_ms = np.array(lat) * 1000
    print(f"5-hop forward haircut trace ({len(seeds)} random spent outputs): p50 {np.percentile(lat_ms, 50):.2f} ms, "
          f"p99 {np.percentile(lat_ms, 99):.2f} ms, max {lat_ms.max():.1f} ms; txs visited p50 "
          f"{int(np.percentile(visited, 50))}, max {max(visited)}; truncated {truncated}", flush=True)

    prof = load_profile()
    t = time.perf_counter()
    idx = ExposureIndex.ensure(store, g, prof.exposure_categories, tagged)
    print(f"exposure index ({len(prof.exposure_categories)} categories): {time.perf_counter() - t:.2f} s", flush=True)

    addrs = rng.integers(0, g.n_addresses, size=args.screen)
    t = time.perf_counter()
    exp = idx.of_addresses(addrs)
    results = [score_address(prof, str(a), [], exp.row(i)) for i, a in enumerate(addrs)]
    dt = time.perf_counter() - t
    flagged = sum(1 for r in results if r.score > 0)
    print(f"batch screening {len(addrs):,} addresses: {dt:.2f} s = {len(addrs) / dt:,.0f} addresses/s "
          f"({flagged:,} with a score > 0)", flush=True)

    one = []
    for a in addrs[:2000]:
        t = time.perf_counter()
        e = idx.of_addresses(np.array([a]))
        score_address(prof, str(a), [], e.row(0))
        one.append(time.perf_counter() - t)
    one_ms = np.array(one) * 1000
    print(f"single-address risk: p50 {np.percentile(one_ms, 50):.3f} ms, p99 {np.percentile(one_ms, 99):.3f} ms",
          flush=True)
    print(f"peak RSS: {_rss_mb():.0f} MB", flush=True)
    print(f"(work dir {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
