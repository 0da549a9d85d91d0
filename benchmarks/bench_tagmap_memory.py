"""Benchmark: the memory and load time of a chain's tag map (`TagMap.load`), in columns, against
the dict-per-tag form it replaced, made in the same run from the same tags.

    .venv/bin/python benchmarks/bench_tagmap_memory.py --store STORE [--chain btc-regtest]

The store must have the chain's graph index, tags and a clustering (a `bench_api.py` or
`bench_bounded.py` store). Prints: the cold load (cache removed: tags resolved and the cache file
written), the warm load (from the cache file), the anonymous memory (RssAnon) the direct tags, the
cluster labels and the inherited tags add, then the same tags made into a dict of lists of dicts
per address and per cluster (what `TagMap` held before), and the process's peak memory.
"""

from __future__ import annotations

import argparse
import gc
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path


def rss_anon_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--chain", default="btc-regtest")
    ap.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()

    from fundtrail.cluster.query import load_clustering
    from fundtrail.store import Store
    from fundtrail.trace.attribution import TagMap, inherited
    from fundtrail.trace.graph import GraphIndex
    from fundtrail.trace.tag_resolve import direct_tags, order_ranks

    store = Store.open(args.store, create=False)
    graph = GraphIndex.load(store, args.chain)
    if not args.memory_only:  # times here; memory in a fresh process (freed memory would be reused)
        cache = graph.path.parent / "tagmap"
        shutil.rmtree(cache, ignore_errors=True)
        t = time.perf_counter()
        TagMap.load(store, graph)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        TagMap.load(store, graph)
        warm = time.perf_counter() - t
        print(f"TagMap.load cold (tags resolved, cache written): {cold:.2f} s; warm (from the cache): {warm:.2f} s",
              flush=True)
        subprocess.run([sys.executable, __file__, "--store", str(args.store), "--chain", args.chain, "--memory-only"],
                       check=True)
        return

    gc.collect()
    r0 = rss_anon_mb()
    direct = direct_tags(store, graph, None, {})
    gc.collect()
    r1 = rss_anon_mb()
    labels = load_clustering(store, args.chain).labels
    gc.collect()
    r2 = rss_anon_mb()
    by_cluster = inherited(direct, labels, order_ranks(direct.cols))
    gc.collect()
    r3 = rss_anon_mb()
    n_inherited = int(by_cluster.entry_ids.shape[0])
    print(f"chain {args.chain}: {len(direct):,} tagged addresses, {len(by_cluster):,} tagged clusters, "
          f"{n_inherited:,} inherited tags, {graph.n_addresses:,} addresses")
    print(f"in columns: direct tags {r1 - r0:,.0f} MB, cluster labels {r2 - r1:,.0f} MB, "
          f"inherited tags with their order keys {r3 - r2:,.0f} MB (RssAnon)")

    old_direct = dict(direct.items())
    gc.collect()
    r4 = rss_anon_mb()
    old_by_cluster = dict(by_cluster.items())
    gc.collect()
    r5 = rss_anon_mb()
    print(f"as a dict per tag (the form before): direct tags {r4 - r3:,.0f} MB, inherited tags {r5 - r4:,.0f} MB")
    del old_direct, old_by_cluster
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the measuring process: {peak:,.0f} MB")


if __name__ == "__main__":
    main()
