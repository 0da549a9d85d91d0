"""Benchmark: attribution tags — import of all shared label data, batch and single-address lookup.

    .venv/bin/python benchmarks/bench_tags.py [--data ../shared/data] [--batch 100000] [--singles 2000]

1. Imports tagpacks/, sanctions/, labels/ and ransomware/ of the shared data into a fresh store
   (every file through the real importers) and reports time, tags/s and MB/s (wall and CPU time:
   the machine may be shared).
2. Looks up a batch of `--batch` addresses (half tagged addresses drawn from the store, half
   untagged) in one call of `tags.lookup.lookup_batch`; best of three; addresses/s.
3. Looks up `--singles` addresses one at a time (`tags.lookup.tags_of` on an open read-only
   connection, the same mix) and reports p50/p99 latency; also for `show` (tags + actors + conflict).
Peak RSS of the process is printed at the end.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from fundtrail.store import Store
from fundtrail.tags import importer, lookup

GROUPS = ("tagpacks", "sanctions", "labels", "ransomware")


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


def _queries(store: Store, n: int, seed: int = 7) -> list[str]:
    """Half tagged addresses (as found in the store), half the same with one character changed."""
    with store.connect(read_only=True) as con:
        known = [r[0] for r in con.execute("SELECT DISTINCT address FROM tags").fetchall()]
    rng = random.Random(seed)
    hits = [rng.choice(known) for _ in range(n // 2)]
    misses = [a[:-1] + ("x" if a[-1] != "x" else "y") for a in (rng.choice(known) for _ in range(n - n // 2))]
    mixed = hits + misses
    rng.shuffle(mixed)
    return mixed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--singles", type=int, default=2000)
    args = ap.parse_args()
    paths = [args.data / g for g in GROUPS]
    size_mb = sum(f.stat().st_size for p in paths for f in p.rglob("*") if f.is_file()) / 1e6

    with tempfile.TemporaryDirectory(prefix="bench-tags-") as tmp:
        store = Store.open(Path(tmp) / "store")
        reports, wall, cpu = _timed(lambda: importer.import_paths(store, paths))
        tags = sum(r.tags for r in reports)
        statuses = {s: sum(1 for r in reports if r.status == s) for s in ("imported", "skipped", "failed")}
        print(f"import: {len(reports)} files ({statuses}), {size_mb:.1f} MB, {tags:,} tags stored, "
              f"{sum(r.invalid for r in reports):,} invalid")
        print(f"import: {wall:.1f} s wall ({tags / wall:,.0f} tags/s, {size_mb / wall:.2f} MB/s), "
              f"{cpu:.1f} s CPU ({tags / cpu:,.0f} tags/s)")
        catalog_mb = (Path(tmp) / "store" / "catalog.duckdb").stat().st_size / 1e6
        print(f"catalog size after import: {catalog_mb:.0f} MB")

        queries = _queries(store, args.batch)
        with store.connect(read_only=True) as con:
            best = None
            for _ in range(3):
                table, wall, cpu = _timed(lambda: lookup.lookup_batch(con, queries))
                best = min(best or (wall, cpu), (wall, cpu))
            tagged = len(set(table.column("query").to_pylist()))
            print(f"batch lookup: {len(queries):,} addresses -> {table.num_rows:,} merged tags on "
                  f"{tagged:,} addresses; best of 3: {best[0] * 1e3:.0f} ms wall "
                  f"({len(queries) / best[0]:,.0f} addresses/s), {best[1] * 1e3:.0f} ms CPU")

            singles = queries[:args.singles]
            for name, fn in (("tags_of", lookup.tags_of), ("show", lookup.show)):
                fn(con, singles[0])  # warm-up
                lat = []
                for a in singles:
                    t0 = time.perf_counter()
                    fn(con, a)
                    lat.append(time.perf_counter() - t0)
                lat.sort()
                p99 = lat[int(0.99 * (len(lat) - 1))]
                print(f"single lookup ({name}): {len(lat):,} addresses, p50 {statistics.median(lat) * 1e3:.2f} ms, "
                      f"p99 {p99 * 1e3:.2f} ms, max {lat[-1] * 1e3:.2f} ms")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
