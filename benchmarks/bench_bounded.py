"""Benchmark: the whole pipeline within `memory_limit` (issue 19), and the cost model per stage.

    .venv/bin/python benchmarks/bench_bounded.py [--txs 3000000] [--limit 512MB] [--workdir DIR]
    .venv/bin/python benchmarks/bench_bounded.py --blocks-dir /work/bench-10m/sim/blocks --sim /work/bench-10m/sim
    .venv/bin/python benchmarks/bench_bounded.py --cost-model --store /path/to/ingested/store [...]

Demo mode: a simulated chain (kept in --workdir, reused) is ingested, tagged (the simulator's
exchanges and mixer), clustered, indexed (graph, exposure) and traced twice through the CLI: once
without a limit, once with FUNDTRAIL_MEMORY_LIMIT=--limit, each bounded stage in a memory cgroup
(v1) of the limit plus --slack-mb (the documented constant: the interpreter, numba, DuckDB and
pyarrow loaded, about 330 MB, and a clustering chunk's temporaries). Printed per stage: time, peak
RSS (VmHWM, file pages included), peak RssAnon (sampled) and the cgroup's max usage; then whether
the lake tables, the catalog's tag tables, the cluster mapping and run (with its guard verdicts),
the indexes and the trace and exposure JSON are equal. Every stage, the tag import included, runs
in the cgroup.

Cost-model mode: each whole-chain stage (cluster run, graph index, exposure index) on copies of
the given stores (the lake hard-linked, never written), unbounded: seconds, disk and peak memory
per million transactions, the input of docs/scale.md's extrapolation. With --limit, also under
that limit on a second copy (each stage in a cgroup of the limit plus --slack-mb), and the two
copies' outputs compared file by file. Ingest figures come from benchmarks/bench_large_chain.py.

    .venv/bin/python benchmarks/bench_bounded.py --cost-model --limit 4GB --slack-mb 512 --store /work/bench-30m/store
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

CHAIN = "btc-regtest"
CGROUP = Path("/sys/fs/cgroup/memory")
ROOT = Path(__file__).resolve().parent.parent
CLI = [str(ROOT / ".venv" / "bin" / "fundtrail")]


def parse_size(text: str) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from fundtrail.settings import parse_memory_limit

    return parse_memory_limit(text)


def measured(cmd: list[str], env: dict[str, str], cgroup_bytes: int | None, tag: str,
             timeout: float | None = 300) -> dict:
    """Run `cmd` (in a fresh memory cgroup of `cgroup_bytes` when given) and measure it."""
    cg = None
    if cgroup_bytes is not None:
        cg = CGROUP / f"fundtrail-bench-{os.getpid()}-{tag}"
        cg.mkdir()
        (cg / "memory.limit_in_bytes").write_text(str(cgroup_bytes))

    def enter() -> None:
        if cg is not None:
            (cg / "cgroup.procs").write_text(str(os.getpid()))

    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=enter)
    peak = {"hwm": 0, "anon": 0}

    def sample() -> None:
        while proc.poll() is None:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith(("VmHWM:", "RssAnon:")):
                        key = "hwm" if line.startswith("VmHWM") else "anon"
                        peak[key] = max(peak[key], int(line.split()[1]) * 1024)
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:  # e.g. thrashing in the cgroup: say so, go on
        proc.kill()
        out, err = proc.communicate()
        err += f"\ntimed out after {timeout} s".encode()
    th.join()
    res = {"stage": tag, "rc": proc.returncode, "seconds": round(time.perf_counter() - t, 1),
           "vmhwm_mb": peak["hwm"] >> 20, "anon_mb": peak["anon"] >> 20, "stdout": out.decode(),
           "stderr": err.decode()[-400:]}
    if cg is not None:
        res["cgroup_max_mb"] = int((cg / "memory.max_usage_in_bytes").read_text()) >> 20
        res["cgroup_failcnt"] = int((cg / "memory.failcnt").read_text())
        res["oom_killed"] = "oom_kill 1" in (cg / "memory.oom_control").read_text()
        cg.rmdir()
    return res


def service_labels(sim: Path, out: Path, limit: int | None = None) -> None:
    """labels.csv of the simulated exchanges, OTC desk and mixer (ground truth; the first `limit`)."""
    cats = {"exchange": "exchange", "otc_desk": "exchange", "mixer": "mixing_service"}
    with open(sim / "truth" / "addresses.csv", newline="") as fh, open(out, "w", newline="") as dst:
        w = csv.writer(dst)
        w.writerow(["address", "label", "category", "source", "currency"])
        n = 0
        for row in csv.DictReader(fh):
            if row["category"] in cats and (limit is None or n < limit):
                n += 1
                w.writerow([row["address"], row["actor"], cats[row["category"]], "simulator truth", "BTC-REGTEST"])


def seeds_and_address(store: Path, n: int = 3) -> tuple[list[str], str]:
    """Trace seeds (TXID:0 of transactions spread over the chain) and an address to assess."""
    sys.path.insert(0, str(ROOT / "src"))
    from fundtrail.store import Store

    with Store.open(store).query() as con:
        t = int(con.execute("SELECT max(tx_id) FROM btc_regtest_transactions").fetchall()[0][0])
        want = [t // 3, t // 2, 2 * t // 3][:n]
        rows = con.execute("SELECT txid FROM btc_regtest_transactions WHERE tx_id IN (?, ?, ?) ORDER BY tx_id",
                           want).fetchall()
    seeds = [bytes(r[0])[::-1].hex() + ":0" for r in rows]
    with open(store.parent / "labels.csv", newline="") as fh:
        address = next(csv.DictReader(fh))["address"]
    return seeds, address


def pipeline(blocks: Path, sim: Path, store: Path, limit: str | None, slack: int,
             max_labels: int | None) -> tuple[list[dict], dict]:
    """Every stage through the CLI; returns the measurements and the outputs to compare."""
    env = {**os.environ, "FUNDTRAIL_STORE": str(store)}
    cg = None
    if limit is not None:
        env["FUNDTRAIL_MEMORY_LIMIT"] = limit
        cg = parse_size(limit) + slack
    labels = store.parent / "labels.csv"
    service_labels(sim, labels, max_labels)
    stages = [("ingest", ["ingest", "bitcoin", "--blocks-dir", str(blocks)]),
              ("tags", ["tags", "import", "--format", "csv", str(labels)]),
              ("cluster", ["cluster", "run", "--full", "--json"]),
              ("graph", ["graph", "build", "--full", "--json"])]
    res = [measured(CLI + argv, env, cg, f"{name}-{'b' if limit else 'u'}") for name, argv in stages]
    seeds, address = seeds_and_address(store)
    res.append(measured([*CLI, "exposure", address, "--json"], env, cg, f"exposure-{'b' if limit else 'u'}"))
    res.append(measured([*CLI, "trace", *seeds, "--hops", "6", "--json"], env, cg, f"trace-{'b' if limit else 'u'}"))
    outputs = {"exposure": res[-2]["stdout"], "trace": _timeless(json.loads(res[-1]["stdout"] or "null")),
               "cluster run": _timeless(json.loads(res[2]["stdout"] or "null"))}  # counts, guard verdicts
    return res, outputs


def _timeless(doc: object) -> object:
    """A JSON document without its timing fields (`elapsed_ms`, `seconds`)."""
    if isinstance(doc, dict):
        return {k: _timeless(v) for k, v in doc.items() if k not in ("elapsed_ms", "seconds")}
    if isinstance(doc, list):
        return [_timeless(v) for v in doc]
    return doc


def digest_lake(store: Path, chain: str = CHAIN, labels_file: Path | None = None) -> dict[str, str]:
    """Per lake view of `chain` and tag table: row count and the sum of the rows' hashes
    (order-free, so the same for any partitioning; the tags' file paths and import ids, which name
    each store's own files, left out)."""
    sys.path.insert(0, str(ROOT / "src"))
    from fundtrail.store import Store

    out: dict[str, str] = {}
    st = Store.open(store)
    with st.query() as con:
        views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal "
                                           f"AND view_name LIKE '{chain.replace('-', '_')}_%'").fetchall()]
        for v in views:
            out[v] = str(con.execute(f"SELECT count(*), sum(hash(t)::HUGEINT) FROM {v} t").fetchone())
    labels = str((labels_file or store.parent / "labels.csv").resolve())
    with st.connect(read_only=True) as con:
        for t in ("tags", "tags_merged"):
            cols = [r[0] if r[0] != "sources" else "replace(sources::VARCHAR, $labels, '')"
                    for r in con.execute(f"DESCRIBE {t}").fetchall() if r[0] not in ("origin", "import_id")]
            sql = f"SELECT count(*), sum(hash({', '.join(cols)})::HUGEINT) FROM {t}"
            out[f"catalog {t}"] = str(con.execute(sql, {"labels": labels} if "$labels" in sql else None).fetchone())
    return out


def digest_store(store: Path) -> dict[str, str]:
    """`digest_lake` and `digest_stages`: the lake, the tags, the cluster run and the index files."""
    return digest_lake(store) | digest_stages(store)


def demo(args: argparse.Namespace) -> None:
    args.limit = args.limit or "512MB"
    work = Path(args.workdir)
    sim = Path(args.sim) if args.sim else work / "sim"
    blocks = Path(args.blocks_dir) if args.blocks_dir else sim / "blocks"
    if not blocks.exists():
        t = time.perf_counter()
        subprocess.run([*CLI, "simulate", "--txs", str(args.txs), "--out", str(sim), "-q"], check=True)
        print(f"simulated {args.txs:,} transactions in {time.perf_counter() - t:.0f} s", flush=True)
    slack = args.slack_mb << 20
    results = {}
    for mode, limit in (("unbounded", None), ("bounded", args.limit)):
        store = work / mode / "store"
        shutil.rmtree(store.parent, ignore_errors=True)
        store.parent.mkdir(parents=True)
        res, outputs = pipeline(blocks, sim, store, limit, slack, args.max_labels)
        for r in res:
            cgs = (f", cgroup max {r['cgroup_max_mb']} MB{' OOM-KILLED' if r['oom_killed'] else ''}"
                   if "cgroup_max_mb" in r else "")
            print(f"{mode:9} {r['stage']:11} rc={r['rc']} {r['seconds']:7.1f} s  VmHWM {r['vmhwm_mb']:6} MB  "
                  f"RssAnon {r['anon_mb']:6} MB{cgs}", flush=True)
            if r["rc"]:
                print("   " + r["stderr"].strip().replace("\n", "\n   "))
        results[mode] = (outputs, digest_store(store))
        if not args.keep_stores:  # one store on disk at a time
            shutil.rmtree(store.parent, ignore_errors=True)
    (u_out, u_dig), (b_out, b_dig) = results["unbounded"], results["bounded"]
    print(f"limit {args.limit} + constant {args.slack_mb} MB = cgroup {(parse_size(args.limit) + slack) >> 20} MB")
    for key in u_dig:
        same = "not compared (missing)" if u_dig[key] is None or b_dig.get(key) is None else u_dig[key] == b_dig[key]
        print(f"equal {key}: {same}")
    print(f"equal trace JSON: {u_out['trace'] == b_out['trace']}; equal exposure JSON: "
          f"{u_out['exposure'] == b_out['exposure']}; equal cluster run JSON (guard verdicts: "
          f"{len((u_out['cluster run'] or {}).get('suspects', []))}): {u_out['cluster run'] == b_out['cluster run']}")


COST_CHILD = """
import json, shutil, sys, time
import numpy as np
from pathlib import Path
from fundtrail.store import Store, spill
stage, root = sys.argv[1], Path(sys.argv[2])
spill.set_default_limit(int(sys.argv[3]) or None)
store, chain = Store.open(root), "btc-regtest"
t = time.perf_counter()
if stage == "cluster":
    from fundtrail.cluster.engine import run_clustering
    n = run_clustering(store, chain, full=True).n_tx
    sub = root / "clusters"
elif stage == "graph":
    from fundtrail.trace.graph import GraphIndex
    n = GraphIndex.ensure(store, chain, full=True).n_tx
    sub = root / "derived" / chain / "graph"
else:
    from fundtrail.trace.graph import GraphIndex
    from fundtrail.risk.exposure import ExposureIndex
    g = GraphIndex.load(store, chain)
    rng = np.random.default_rng(7)
    tagged = {int(a): str(c) for a, c in zip(rng.integers(0, g.n_addresses, g.n_addresses // 20),
                                             rng.choice(["exchange", "mixer", "scam"], g.n_addresses // 20))}
    t = time.perf_counter()
    ExposureIndex.ensure(store, g, ("exchange", "mixer", "scam"), tagged)
    n, sub = g.n_tx, root / "derived" / chain / "exposure"
print(json.dumps({"n_tx": n, "seconds": time.perf_counter() - t,
                  "disk": sum(f.stat().st_size for f in sub.rglob("*") if f.is_file())}))
"""


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def digest_stages(store: Path) -> dict[str, str]:
    """A digest of every output of the cost model's stages: the cluster run's arrays (bytes) and
    tables (row count and the sum of row hashes), the graph and exposure index files (bytes)."""
    sys.path.insert(0, str(ROOT / "src"))
    import duckdb

    from fundtrail.cluster import runs
    from fundtrail.store import Store

    st = Store.open(store)
    rec = runs.latest_run(st, CHAIN)
    out: dict[str, str] = {}
    if rec is not None:
        d = runs.run_dir(st, rec)
        out |= {f"cluster {f.name}": _file_hash(f) for f in sorted(d.glob("*.npy"))}
        con = duckdb.connect()
        for f in sorted(d.glob("*.parquet")):
            got = con.execute("SELECT count(*), sum(hash(t)::HUGEINT) FROM read_parquet(?) t", [str(f)]).fetchone()
            out[f"cluster {f.name}"] = str(got)
    for sub in ("graph", "exposure"):
        out |= {f"{sub} {f.name}": _file_hash(f) for f in sorted((store / "derived" / CHAIN / sub).glob("*.npy"))}
    return out


def cost_model(args: argparse.Namespace) -> None:
    """Each stage on a copy of each store, unbounded; with --limit also under the limit (in a cgroup
    of the limit plus --slack-mb) on a second copy, whose outputs are compared with the first's."""
    work = Path(args.workdir) / "cost"
    variants: list[int | None] = [None] + ([parse_size(args.limit)] if args.limit else [])
    for src in args.store:
        name = Path(src).resolve().parent.name
        digests = []
        for limit in variants:
            copy = work / f"{name}-{'unbounded' if limit is None else 'bounded'}"
            shutil.rmtree(copy, ignore_errors=True)
            copy.mkdir(parents=True)
            for d in Path(src).iterdir():  # the lake hard-linked (the stages only read it)
                if d.name == "lake":
                    subprocess.run(["cp", "-al", str(d), str(copy)], check=True)
                elif d.name not in ("derived", "clusters"):
                    subprocess.run(["cp", "-a", str(d), str(copy)], check=True)
            env = dict(os.environ)
            if limit is not None:
                env["FUNDTRAIL_MEMORY_LIMIT"] = f"{limit >> 20}MB"
            cg = None if limit is None else limit + (args.slack_mb << 20)
            how = "unbounded" if limit is None else f"limit {limit >> 20} MB, cgroup {cg >> 20} MB"
            for stage in ("cluster", "graph", "exposure"):
                r = measured([sys.executable, "-c", COST_CHILD, stage, str(copy), str(limit or 0)], env, cg,
                             stage, timeout=args.timeout)
                if r["rc"]:
                    print(f"{name} {stage} ({how}): failed (rc {r['rc']}, oom {r.get('oom_killed')}): "
                          f"{r['stderr']}", flush=True)
                    continue
                got = json.loads(r["stdout"].strip().splitlines()[-1])
                m = got["n_tx"] / 1e6
                cgm = f", cgroup max {r['cgroup_max_mb']} MB" if "cgroup_max_mb" in r else ""
                print(f"{name:12} {stage:9} {got['n_tx']:>11,} txs  {how}: "
                      f"{got['seconds'] / m:6.2f} s/M tx  disk {got['disk'] / m / 2**20:6.0f} MB/M tx  "
                      f"VmHWM {r['vmhwm_mb'] / m:6.0f} MB/M tx  RssAnon {r['anon_mb'] / m:6.0f} MB/M tx "
                      f"(totals: {got['seconds']:.1f} s, VmHWM {r['vmhwm_mb']} MB, RssAnon {r['anon_mb']} MB{cgm})",
                      flush=True)
            if len(variants) > 1:
                digests.append(digest_stages(copy))
            shutil.rmtree(copy, ignore_errors=True) if len(variants) == 1 else None
        if len(digests) == 2:
            differ = sorted(k for k in digests[0].keys() | digests[1].keys() if digests[0].get(k) != digests[1].get(k))
            print(f"{name}: bounded outputs {'EQUAL' if not differ else 'DIFFER: ' + ', '.join(differ)} "
                  f"({len(digests[0])} files compared)", flush=True)
            for limit in variants:
                shutil.rmtree(work / f"{name}-{'unbounded' if limit is None else 'bounded'}", ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txs", type=int, default=3_000_000)
    ap.add_argument("--limit", help="the demo's limit (default 512MB); with --cost-model, the stages are "
                    "also run under it and their outputs compared with the unbounded run's")
    ap.add_argument("--slack-mb", type=int, default=512, help="the documented constant above the limit")
    ap.add_argument("--workdir", default=str(Path.home() / "fundtrail-bench-bounded"))
    ap.add_argument("--blocks-dir")
    ap.add_argument("--sim", help="simulator output (truth/ for the tags; default WORKDIR/sim)")
    ap.add_argument("--max-labels", type=int, help="import only the first N service labels of the truth "
                    "(a chain prefix: --blocks-dir of fewer blk files than --sim's)")
    ap.add_argument("--keep-stores", action="store_true", help="keep both stores (default: digests only)")
    ap.add_argument("--cost-model", action="store_true")
    ap.add_argument("--store", action="append", default=[], help="--cost-model: an ingested store (repeatable)")
    ap.add_argument("--timeout", type=float, default=1800, help="--cost-model: seconds allowed per stage")
    args = ap.parse_args()
    cost_model(args) if args.cost_model else demo(args)


if __name__ == "__main__":
    main()
