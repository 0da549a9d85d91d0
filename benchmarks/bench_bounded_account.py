"""Benchmark: an account chain (TRON) through the whole pipeline within `memory_limit` (issue 19).

    .venv/bin/python benchmarks/bench_bounded_account.py [--txs 300000] [--limit 256MB] [--slack-mb 512]
                                                         [--workdir DIR]

A simulated TRON economy (`fundtrail simulate --chain tron`, kept in --workdir and reused) is
ingested from its recorded java-tron answers (with --hot, the bounded run's address book held to
that many addresses in memory, the rest spilled), tagged (the simulator's exchanges), traced (the USDT
theft case's seed, haircut, stopping where the funds leave the case's addresses, as
bench_ingest_tron.py does; the first trace builds the account graph index) and screened (exposure of the
case's payer, which builds the account exposure index), all through the CLI, twice: without a limit
and with FUNDTRAIL_MEMORY_LIMIT=--limit, each bounded stage in a memory cgroup (v1) of the limit plus
--slack-mb (the interpreter, numba, DuckDB and pyarrow). Printed per stage: time, peak RssAnon
(sampled), VmHWM and the cgroup's max usage; then whether the lake views, the tag tables, the
account graph and exposure index files and the trace and exposure JSON are equal.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_bounded import CLI, _file_hash, _timeless, digest_lake, measured, parse_size


def prepare(work: Path, txs: int) -> tuple[dict, Path]:
    """The simulation (reused when present) and the exchange tags file."""
    sim = work / "sim"
    if not (sim / "truth" / "cases" / "usdt-theft-1.json").exists():
        shutil.rmtree(sim, ignore_errors=True)
        r = measured([*CLI, "simulate", "--chain", "tron", "--seed", "1", "--txs", str(txs), "--out", str(sim),
                      "--json"], dict(os.environ), None, "simulate", timeout=None)
        if r["rc"]:
            raise SystemExit(f"simulate failed: {r['stderr'][-2000:]}")
        print(f"simulated {txs:,} transactions in {r['seconds']:.1f} s", flush=True)
    case = json.loads((sim / "truth/cases/usdt-theft-1.json").read_text())
    with open(sim / "truth/addresses.csv") as fh:
        rows = list(csv.DictReader(fh))
    tags = work / "exchanges.csv"
    tags.write_text("address,label\n" + "".join(f"{r['address']},{r['actor']}\n" for r in rows
                                                 if r["category"] == "exchange"))
    followed = set(case["followed"])  # the trace stops where the case's funds leave its addresses
    (work / "leaves.txt").write_text("".join(f"{r['address']},{r['actor']}\n" for r in rows
                                             if r["address"] not in followed and r["role"] != "token"))
    return case, tags


def pipeline(work: Path, case: dict, tags: Path, limit: str | None, slack: int,
             hot: int = 0) -> tuple[list[tuple[str, dict]], dict]:
    store = work / ("store-bounded" if limit else "store-unbounded")
    shutil.rmtree(store, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_")}
    env["FUNDTRAIL_STORE"] = str(store)
    cg = None
    if limit is not None:
        env["FUNDTRAIL_MEMORY_LIMIT"] = limit
        cg = parse_size(limit) + slack
        if hot:
            env["FUNDTRAIL_TEST_HOT_ENTRIES"] = str(hot)
    else:
        env["FUNDTRAIL_MEMORY_LIMIT"] = "90%"  # the settings' largest sensible budget: nothing spills here
    stages = [("ingest", ["ingest", "tron", "--replay", str(work / "sim" / "rpc"), "--json"]),
              ("tags", ["tags", "import", str(tags), "--format", "csv", "--currency", "TRX", "--category",
                        "exchange", "--source", "simulator truth"]),
              ("trace", ["trace", case["seed_txs"][0], "--policy", "haircut", "--asset", case["token"],
                         "--stop-file", str(work / "leaves.txt"), "--max-seconds", "600", "--json"]),
              ("exposure", ["exposure", case["payer"], "--chain", "tron", "--json"])]
    tag = "b" if limit else "u"
    res = []
    for name, argv in stages:
        r = measured(CLI + argv, env, cg, f"acct-{name}-{tag}", timeout=None)
        if r["rc"]:
            raise SystemExit(f"{name} ({'bounded' if limit else 'unbounded'}) failed: {r['stderr'][-2000:]}")
        res.append((name, r))
    outputs = digest_lake(store, "tron", tags)
    for sub in ("account-graph", "account-exposure"):
        for f in sorted((store / "derived" / "tron" / sub).glob("*")):
            if f.suffix == ".npy":
                outputs[f"{sub} {f.name}"] = _file_hash(f)
            elif f.name == "meta.json":  # less the store state it reflects: batches differ by budget
                meta = {k: v for k, v in json.loads(f.read_text()).items() if k not in ("state", "key")}
                outputs[f"{sub} meta.json"] = json.dumps(meta, sort_keys=True)
    outputs["trace"] = json.dumps(_timeless(json.loads(res[2][1]["stdout"])), sort_keys=True)
    outputs["exposure"] = res[3][1]["stdout"]
    return res, outputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txs", type=int, default=300_000)
    ap.add_argument("--limit", default="256MB")
    ap.add_argument("--slack-mb", type=int, default=512)
    ap.add_argument("--hot", type=int, default=0, help="bounded run: force the address book's hot table down "
                    "to this many addresses (the simulator makes few addresses: so that the book spills)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/fundtrail-bench-bounded-account"))
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    case, tags = prepare(args.workdir, args.txs)
    runs = {}
    for limit in (None, args.limit):
        res, out = pipeline(args.workdir, case, tags, limit, args.slack_mb << 20, args.hot)
        runs[limit] = out
        how = "unbounded" if limit is None else f"limit {limit}, cgroup {(parse_size(limit) >> 20) + args.slack_mb} MB"
        for name, r in res:
            cgm = f", cgroup max {r['cgroup_max_mb']} MB" if "cgroup_max_mb" in r else ""
            print(f"{how:>32}  {name:9} {r['seconds']:7.1f} s  RssAnon {r['anon_mb']:6,} MB  "
                  f"VmHWM {r['vmhwm_mb']:6,} MB{cgm}", flush=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from fundtrail.store import Store

    with Store.open(args.workdir / "store-unbounded").query() as con:
        n = [con.execute(f"SELECT count(*) FROM tron_{t}").fetchall()[0][0]
             for t in ("transactions", "transfers", "addresses")]
    print(f"chain: {n[0]:,} transactions, {n[1]:,} transfers, {n[2]:,} addresses")
    a, b = runs[None], runs[args.limit]
    same = [k for k in a if a[k] == b.get(k)]
    differ = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    print(f"equal: {len(same)} of {len(set(a) | set(b))} outputs (lake views, tag tables, index files, trace "
          f"and exposure JSON){'; differ: ' + ', '.join(differ) if differ else ''}")


if __name__ == "__main__":
    main()
