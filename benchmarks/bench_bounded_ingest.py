"""Benchmark: Bitcoin ingest with the memory limit unset and set (the state tables spill to disk).

    .venv/bin/python benchmarks/bench_bounded_ingest.py [--blocks /work/bench-api/sim/blocks]
        [--out /work/m1] [--limits default,default/10,256MB,128MB,64MB]

Each limit runs `fundtrail ingest bitcoin --blocks-dir` (the CLI, so the service layer's budget
plumbing is what is measured) into a new store OUT/store-<limit> in its own process, with
FUNDTRAIL_MEMORY_LIMIT unset ("default": 50% of the machine, nothing spills at 1M transactions)
or set. Prints per run: wall time, transactions/s, CPU time (user + system: steadier than the
wall time on a shared machine), peak RSS (the child's VmHWM, from wait4) and
the peak of RssAnon (anonymous memory: not the page cache of memory-mapped run files; sampled
every 50 ms from /proc), the spilled entries and bytes written (the CLI's state log line), and the
spill cost in tx/s against the first run. The stores are compared table by table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _rss_anon_sampler(pid: int, peak: list[int], stop: threading.Event) -> None:
    path = Path(f"/proc/{pid}/status")
    while not stop.is_set():
        try:
            for line in path.read_text().splitlines():
                if line.startswith("RssAnon:"):
                    peak[0] = max(peak[0], int(line.split()[1]) << 10)
        except OSError:
            return
        stop.wait(0.05)


def run(blocks: Path, store: Path, config: str) -> dict:
    """One ingest; `config` is LIMIT or LIMIT/BATCH_MB (the batch size the limit would choose,
    given to an unbounded run: the cost of smaller batches apart from the cost of spilling)."""
    shutil.rmtree(store, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_")}
    env["FUNDTRAIL_CONFIG"] = str(store.parent / "no-settings.toml")
    limit, _, batch_mb = config.partition("/")
    if limit != "default":
        env["FUNDTRAIL_MEMORY_LIMIT"] = limit
    if batch_mb:
        env["FUNDTRAIL_BATCH_MB"] = batch_mb
    cmd = [sys.executable, "-m", "fundtrail.cli.main", "--store", str(store), "-v", "ingest", "bitcoin",
           "--blocks-dir", str(blocks), "--json"]
    t0 = time.perf_counter()
    log = store.parent / f"stderr-{store.name}.txt"
    with open(store.parent / "stdout.txt", "w") as fo, open(log, "w") as fe:
        proc = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe)
        peak = [0]
        stop = threading.Event()
        sampler = threading.Thread(target=_rss_anon_sampler, args=(proc.pid, peak, stop), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak RSS, not the max over children
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    stop.set()
    out = (store.parent / "stdout.txt").read_text()
    err = log.read_text()
    if proc.returncode:
        raise SystemExit(f"{limit}: ingest failed:\n{err[-3000:]}")
    report = json.loads(out)
    spilled = {m[0]: (int(m[1]), int(m[2]), float(m[3]), float(m[4]))
               for m in re.findall(r"state (\w+): (\d+) entries, \d+ in memory \([\d.]+ MB\), (\d+) spilled "
                                   r"\(([\d.]+) MB on disk, ([\d.]+) MB written\)", err)}
    return {"limit": config, "seconds": seconds, "tx": report["transactions"], "report": report,
            "cpu": usage.ru_utime + usage.ru_stime, "peak_rss": int(usage.ru_maxrss) << 10,
            "peak_anon": peak[0], "spilled": spilled}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=Path, default=Path("/work/bench-api/sim/blocks"))
    ap.add_argument("--out", type=Path, default=Path("/work/m1"))
    ap.add_argument("--limits", default="default,default/10,256MB,128MB,64MB",
                    help="LIMIT or LIMIT/BATCH_MB, comma-separated; the first is the reference")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for limit in args.limits.split(","):
        r = run(args.blocks, args.out / f"store-{limit.replace('/', '-')}", limit)
        results.append(r)
        sp = r["spilled"]
        print(f"limit {limit:>8}: {r['tx']:,} tx in {r['seconds']:.1f} s = {r['tx'] / r['seconds']:,.0f} tx/s "
              f"(CPU {r['cpu']:.1f} s); "
              f"peak RSS (VmHWM) {r['peak_rss'] / 2**20:,.0f} MiB, "
              f"peak RssAnon {r['peak_anon'] / 2**20:,.0f} MiB", flush=True)
        for name, (entries, n_spilled, disk, written) in sorted(sp.items()):
            print(f"    {name}: {entries:,} entries, {n_spilled:,} spilled, {disk:.1f} MB on disk, "
                  f"{written:.1f} MB written", flush=True)
    base = results[0]
    for r in results[1:]:
        cost = base["tx"] / base["seconds"] - r["tx"] / r["seconds"]
        print(f"spilling cost at {r['limit']}: {cost:,.0f} tx/s ({r['seconds'] / base['seconds']:.2f}x the time, "
              f"{r['cpu'] / base['cpu']:.2f}x the CPU time)")
    sys.path.insert(0, str(ROOT / "src"))
    from fundtrail.store import Store
    from fundtrail.store.tables import UTXO_TABLES

    def tables(root: Path) -> dict:
        with Store(root).query() as con:
            return {t: con.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM btc_regtest__{t}").fetchall()
                    for t in UTXO_TABLES}

    ref = tables(args.out / f"store-{base['limit'].replace('/', '-')}")
    for r in results[1:]:
        same = tables(args.out / f"store-{r['limit'].replace('/', '-')}") == ref
        print(f"store at {r['limit']} equals the store at {base['limit']}: {same}")


if __name__ == "__main__":
    main()
