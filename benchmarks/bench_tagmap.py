"""Benchmark: resolving a chain's tags to its address ids (`TagMap.load`, used by trace and risk) with
every shared label source imported.

    .venv/bin/python benchmarks/bench_tagmap.py [--data ../shared/data] [--store DIR] [--keep]

1. Builds a store as a user would (CLI processes): mainnet blocks 0-599, block 300025 with its undo
   data, block 574200, then `tags import` of tagpacks/, sanctions/, labels/ and ransomware/ (about
   700k tags, 513k of them BTC), then `cluster run`. With `--store DIR` an existing store is reused
   (built there when missing; `--keep` keeps a temporary one).
2. `TagMap.load` in this process: cold (cache file removed, as after a tag import or a graph
   change) and warm (cache valid), best of three each; then both ways of matching (`render`,
   `parse`) on their own. Peak RSS of this process after the loads.
3. `fundtrail risk ADDRESS` in a fresh process right after a tag import (the first risk, which
   resolves the tags again) and once more (warm): wall time and that process's peak RSS.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fundtrail.store import Store
from fundtrail.trace import attribution
from fundtrail.trace.graph import GraphIndex

GROUPS = ("tagpacks", "sanctions", "labels", "ransomware")
BUSY = "btcd/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk"
ADDRESS = "1NpHuti9NSM9fVTXLkvSDU4AnhqGQ5N53d"  # OFAC-listed, paid in block 574200
_RUN = ("import sys, time\nfrom fundtrail.cli.main import main\nt = time.perf_counter()\n"
        "rc = main(sys.argv[1:])\nhwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]\n"
        "print(f'@@ {rc} {time.perf_counter() - t:.3f} {hwm.split()[1]}', file=sys.stderr)\n")


def peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited through fork/exec)."""
    with open("/proc/self/status") as fh:
        return int(next(ln for ln in fh if ln.startswith("VmHWM")).split()[1]) / 1024


def _cli(*args: str) -> tuple[int, float, float]:
    """Run the CLI in a fresh process: (exit code, wall seconds in main, peak RSS MB of that process)."""
    done = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True)
    line = next((ln for ln in done.stderr.splitlines() if ln.startswith("@@ ")), None)
    if line is None:
        raise SystemExit(f"fundtrail {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    rc, wall, rss = line.split()[1:]
    return int(rc), float(wall), int(rss) / 1024


def _build(root: Path, data: Path) -> None:
    btc = data / "btc-raw-blocks"
    s = ("--store", str(root), "--quiet")
    t0 = time.perf_counter()
    for args in (("--blocks-dir", str(btc / "nbitcoin")),
                 ("--raw", str(btc / "bcoin" / "block300025.raw"), "--undo-file",
                  str(btc / "bcoin" / "block300025-undo.raw")),
                 ("--raw", str(btc / BUSY))):
        if _cli(*s, "ingest", "bitcoin", *args)[0] != 0:
            raise SystemExit(f"ingest {args} failed")
    rc = _cli(*s, "tags", "import", *(str(data / g) for g in GROUPS))[0]
    if _cli(*s, "cluster", "run")[0] != 0:
        raise SystemExit("cluster run failed")
    print(f"store: blocks 0-599, 300025, 574200, all label sources, clustered: built in "
          f"{time.perf_counter() - t0:.0f} s (tag import exit {rc}: some real files hold malformed rows)")


def _best(fn, n: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _bump(root: Path, n: int) -> None:
    """A tag import that changes the BTC tag set (one tag, beside the store, whose label changes each time)."""
    f = root.with_name(root.name + "-bench-tag.csv")
    f.write_text(f"address,label,category,currency\n1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2,bench {n},exchange,BTC\n")
    if _cli("--store", str(root), "--quiet", "tags", "import", str(f), "--format", "csv")[0] != 0:
        raise SystemExit("tag import failed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--store", type=Path, help="reuse (or build here) the store instead of a temporary one")
    ap.add_argument("--keep", action="store_true", help="keep the temporary store")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-tagmap-"))
    root = args.store or tmp / "store"
    if not (root / "catalog.duckdb").exists():
        _build(root, args.data)
    store = Store.open(root, create=False)
    with store.connect(read_only=True) as con:
        n_all, n_btc = con.execute("SELECT count(*), count(*) FILTER (currency = 'BTC') FROM tags").fetchall()[0]
    g = GraphIndex.ensure(store, "btc")
    cache = g.path.parent / "tagmap"
    print(f"tags: {n_all:,} ({n_btc:,} BTC); chain: {g.n_tx:,} transactions, {g.n_addresses:,} addresses")

    def cold() -> attribution.TagMap:
        shutil.rmtree(cache, ignore_errors=True)
        return attribution.TagMap.load(store, g)

    t_cold, tm = _best(cold)
    t_warm, _ = _best(lambda: attribution.TagMap.load(store, g))
    n_tags = sum(map(len, tm.direct.values()))
    print(f"TagMap.load cold: {t_cold:.3f} s ({len(tm.direct)} addresses, {n_tags} tags; "
          f"{getattr(tm, 'resolution', None)}); warm (cached): {t_warm:.3f} s (best of 3)")
    print(f"peak RSS of this process after the loads: {peak_mb():.0f} MB")
    if hasattr(attribution, "resolve_tags"):
        for strategy in ("render", "parse"):
            stats: dict = {}
            t, _ = _best(lambda s=strategy, st=stats: attribution.resolve_tags(store, g, strategy=s, stats=st), 1)
            print(f"  matching by {strategy}: {t:.3f} s ({stats['converted']:,} strings converted)")
        print(f"peak RSS of this process after both ways: {peak_mb():.0f} MB")

    _bump(root, int(time.time()))
    for what in ("first after a tag import", "again (warm)"):
        rc, wall, rss = _cli("--store", str(root), "--quiet", "risk", ADDRESS)
        print(f"fundtrail risk {ADDRESS[:10]}… {what}: {wall:.2f} s in main (exit {rc}), peak RSS {rss:.0f} MB")
    if not args.keep and args.store is None:
        shutil.rmtree(tmp, ignore_errors=True)
    elif args.store is None:
        print(f"store kept at {root}")


if __name__ == "__main__":
    main()
