"""Benchmark: the largest chain this machine holds, for the cost model (issue 19).

The simulator makes 3,200-6,100 transactions a second, so a 30M-transaction chain would take
1.4-2.6 hours to simulate. Instead the simulated chain is followed by re-keyed copies of itself
(`fundtrail.sim.replicate`: the same transactions under new addresses and txids, chained after
it), and the whole is ingested in one run and tagged like the 1M and 10M stores
(`bench_api.build`). It prints the replication, the ingest and the tag import with their time
and peak memory, and the store's size; then run the cost model on the store:

    .venv/bin/python benchmarks/bench_large_chain.py --sim /work/bench-10m/sim --copies 2 --work /work/bench-30m
    .venv/bin/python benchmarks/bench_bounded.py --cost-model --timeout 7200 --store /work/bench-30m/store
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_api import DATA, FT, LABEL_GROUPS, write_service_labels
from bench_bounded import digest_lake, measured, parse_size

from fundtrail.chains.bitcoin.params import network
from fundtrail.sim.replicate import replicate


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _report(r: dict) -> None:
    cgm = f"  cgroup max {r['cgroup_max_mb']} MB" if "cgroup_max_mb" in r else ""
    print(f"{r['stage']:12} {r['seconds']:8.1f} s  VmHWM {r['vmhwm_mb']:6} MB  RssAnon {r['anon_mb']:6} MB"
          f"  rc {r['rc']}{cgm}", flush=True)
    if r["rc"] not in (0, 3):
        print(r["stderr"], file=sys.stderr)
        raise SystemExit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sim", required=True, help="a simulator output directory (blocks/, truth/)")
    ap.add_argument("--copies", type=int, default=2, help="0: the simulated chain alone (the same figures at its size)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--limit", help="FUNDTRAIL_MEMORY_LIMIT for the ingest and the tag import, each run in a "
                    "memory cgroup of the limit plus --slack-mb")
    ap.add_argument("--slack-mb", type=int, default=512)
    ap.add_argument("--compare", help="a store of the same chain (e.g. ingested without a limit): compare every "
                    "lake view and the tag tables with it")
    args = ap.parse_args()
    sim, work = Path(args.sim), Path(args.work)
    rep, combined, store = work / "rep", work / "blocks", work / "store"
    work.mkdir(parents=True, exist_ok=True)
    if args.copies and not (rep / "done").exists():
        shutil.rmtree(rep, ignore_errors=True)
        t = time.perf_counter()

        def progress(blocks: int, txs: int) -> None:
            if blocks % 200 == 0:
                print(f"  replicated {blocks:,} blocks, {txs:,} txs ({time.perf_counter() - t:.0f} s)", flush=True)

        r = replicate(sim / "blocks", rep, args.copies, network("regtest"), progress)
        (rep / "done").write_text(f"{r}\n")
        print(f"replicate    {time.perf_counter() - t:8.1f} s  {r.copies} copies of {r.blocks:,} blocks, "
              f"{r.txs:,} txs; {r.kept_scripts:,} output scripts kept as they are (shared by the copies)",
              flush=True)
    if not combined.exists():  # one directory, the original's files first: one ingest run
        tmp = work / "blocks.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        files = sorted((sim / "blocks").glob("blk*.dat"))
        for k in range(1, args.copies + 1):
            files += sorted((rep / f"copy-{k}").glob("blk*.dat"))
        for i, f in enumerate(files):
            (tmp / f"blk{i:05d}.dat").symlink_to(f.resolve())
        tmp.rename(combined)
    env = dict(os.environ)
    cg = None
    if args.limit:
        env["FUNDTRAIL_MEMORY_LIMIT"] = args.limit
        cg = parse_size(args.limit) + (args.slack_mb << 20)
    if not (store / "catalog.duckdb").exists():
        _report(measured([FT, "-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(combined)],
                         env, cg, "ingest", timeout=None))
    labels = work / "labels.csv"
    if not labels.exists():
        write_service_labels(sim, labels)
        _report(measured([FT, "-q", "--store", str(store), "tags", "import", str(labels),
                          *[str(DATA / g) for g in LABEL_GROUPS]], env, cg, "tags import", timeout=None))
    if args.compare:
        a, b = digest_lake(store), digest_lake(Path(args.compare))
        differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        print(f"compared with {args.compare}: {'EQUAL' if not differ else 'DIFFER: ' + ', '.join(differ)} "
              f"({len(a)} tables: {', '.join(sorted(a))})", flush=True)
    print(f"store {_size(store) / 2**30:.2f} GiB (lake {_size(store / 'lake') / 2**30:.2f} GiB); "
          f"blocks {sum(f.stat().st_size for f in combined.iterdir()) / 2**30:.2f} GiB", flush=True)


if __name__ == "__main__":
    main()
