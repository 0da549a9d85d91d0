"""Benchmark: the Spark jobs (local[N]) against the single-machine path on the same store.

    .venv/bin/python benchmarks/bench_spark.py [--store /work/bench-api/store] [--workdir DIR] [--master local[2]]

The store is READ ONLY: its catalog, lake and cluster runs are copied to --workdir first, with the
graph index and the tag resolution cache (derived/<chain>/graph, tagmap.json: both sides of the
exposure job read them; the other jobs read no derived file); other derived files are left behind.
Each job runs in a child process of its own; its peak memory is the largest sum of the resident
sets of the child and all its descendants (for Spark: the Python driver, the JVM and the Python
workers), sampled every 0.2 s from /proc.

Jobs, each on both sides:
- resolve: the late input resolution over the whole chain (the single machine: the join of
  `ingest/bitcoin/links.py` from transaction 0 in DuckDB; Spark: `spark ingest-resolve`);
- cluster: a full multi-input clustering run (`cluster run --full` against `spark cluster`);
- stats: per-address totals of the whole chain (the single machine: one DuckDB query over the
  store's views; Spark: `spark stats`, which adds the per-cluster totals);
- exposure: the whole-chain exposure index under the default profile (the single machine:
  `ExposureIndex.ensure` as `fundtrail risk` runs it; Spark: `spark exposure`), each side starting
  without an index and with the graph index and tags as copied; the two index files are then
  compared byte for byte.
Prints one JSON document with seconds and peak MB per job and engine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHAIN = "btc-regtest"

SINGLE = {
    "resolve": """
from fundtrail.store import Store
store = Store.open(STORE)
p = CHAIN.replace("-", "_")
with store.query() as con:
    n = con.sql(f'''SELECT count(*) FROM (SELECT i.tx_id, i.n, o.output_id FROM {p}_inputs i
        JOIN {p}__transactions t ON t.txid = i.prev_txid JOIN {p}__outputs o ON o.tx_id = t.tx_id
        AND o.n = i.prev_vout WHERE i.prev_output_id IS NULL)''').fetchall()[0][0]
OUT = {"input_links": int(n)}
""",
    "resolve-all": """
from fundtrail.store import Store
store = Store.open(STORE)
p = CHAIN.replace("-", "_")
with store.query() as con:
    n = con.sql(f'''SELECT count(*) FROM (SELECT i.tx_id, i.n, o.output_id FROM {p}__inputs i
        JOIN {p}__transactions t ON t.txid = i.prev_txid JOIN {p}__outputs o ON o.tx_id = t.tx_id
        AND o.n = i.prev_vout)''').fetchall()[0][0]
OUT = {"joined_inputs": int(n)}
""",
    "cluster": """
from fundtrail.store import Store
from fundtrail.cluster.engine import run_clustering
s = run_clustering(Store.open(STORE), CHAIN, full=True)
OUT = {"n_links": s.n_links, "n_unions": s.n_unions, "n_clusters": s.n_clusters, "largest": s.largest}
""",
    "stats": """
from fundtrail.store import Store
store = Store.open(STORE)
p = CHAIN.replace("-", "_")
with store.query() as con:
    n = con.sql(f'''SELECT count(*) FROM (
        WITH act AS (SELECT address_id, tx_id, value AS got, NULL::BIGINT AS gave FROM {p}_outputs
                     WHERE address_id IS NOT NULL UNION ALL
                     SELECT address_id, tx_id, NULL, value FROM {p}_inputs WHERE address_id IS NOT NULL),
             t AS (SELECT t.tx_id, b.time FROM {p}_transactions t LEFT JOIN {p}_blocks b USING (block_id))
        SELECT address_id, sum(got), count(got), sum(gave), count(gave), count(DISTINCT tx_id),
               min(tx_id), arg_min(t.time, tx_id), max(tx_id), arg_max(t.time, tx_id)
        FROM act JOIN t USING (tx_id) GROUP BY address_id)''').fetchall()[0][0]
OUT = {"addresses": int(n)}
""",
    "exposure": """
import shutil
from fundtrail.store import Store
from fundtrail.risk.exposure import ExposureIndex
from fundtrail.risk.profile import load_profile
from fundtrail.trace.attribution import TagMap
from fundtrail.trace.graph import GraphIndex
store = Store.open(STORE)
shutil.rmtree(store.root / "derived" / CHAIN / "exposure", ignore_errors=True)
g = GraphIndex.ensure(store, CHAIN)
tm = TagMap.load(store, g)
idx = ExposureIndex.ensure(store, g, load_profile().exposure_categories, tm.category_array(g.n_addresses))
OUT = {"outputs": int(idx.inc.shape[0]), "columns": int(idx.inc.shape[1])}
shutil.copytree(idx.path, store.root / "cache" / "bench-exposure-single", dirs_exist_ok=True)
""",
}

SPARK = """
from fundtrail.store import Store
from fundtrail.spark.session import open_session
store = Store.open(STORE)
spark = open_session(MASTER)
if JOB == "resolve":
    from fundtrail.spark.resolve import run_resolve
    OUT = run_resolve(spark, store, CHAIN)
elif JOB == "cluster":
    from fundtrail.spark.cluster import run_cluster
    OUT = run_cluster(spark, store, CHAIN)
elif JOB == "exposure":
    import shutil
    from fundtrail.risk.profile import load_profile
    from fundtrail.spark.exposure import run_exposure
    shutil.rmtree(store.root / "derived" / CHAIN / "exposure", ignore_errors=True)
    OUT = run_exposure(spark, store, CHAIN, load_profile().exposure_categories)
else:
    from fundtrail.spark.stats import run_stats
    OUT = run_stats(spark, store, CHAIN)
spark.stop()
"""

WRAP = """
import json, sys, time
from pathlib import Path
STORE, CHAIN, MASTER, JOB = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
t0 = time.perf_counter()
{body}
print("RESULT " + json.dumps({{"seconds": time.perf_counter() - t0, "out": OUT}}, default=str))
"""


def _tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants, MB (from /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    total, todo, page = 0, [root], os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**20


def run_child(body: str, store: Path, master: str, job: str) -> dict:
    """Run one job in a child process; its seconds (as it timed itself), figures and peak tree RSS."""
    code = WRAP.format(body=body)
    with tempfile.TemporaryFile("w+") as err:  # Spark's log: only its end is shown, on failure
        proc = subprocess.Popen([sys.executable, "-c", code, str(store), CHAIN, master, job],
                                stdout=subprocess.PIPE, stderr=err, text=True)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _tree_rss_mb(proc.pid))
            time.sleep(0.2)
        out = proc.stdout.read() if proc.stdout else ""
        err.seek(0)
        errors = err.read()[-3000:]
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"{job} failed (exit {proc.returncode}):\n{out[-2000:]}\n{errors}")
    res = json.loads(line[len("RESULT "):])
    return {"seconds": round(res["seconds"], 2), "peak_mb": round(peak), "figures": res["out"]}


def _not_copied(src: Path):
    """copytree's ignore: the store's cache and derived files, but the graph index and tag cache."""
    def ignore(d: str, names: list[str]) -> list[str]:
        here = Path(d)
        if here == src:
            return [n for n in names if n == "cache"]
        if here.parent == src / "derived":  # derived/<chain>/
            return [n for n in names if n not in ("graph", "tagmap.json")]
        return []

    return ignore


def _same_exposure(store: Path) -> bool:
    """Whether Spark's index files equal, byte for byte, the single machine's (kept in cache/)."""
    single = store / "cache" / "bench-exposure-single"
    spark = store / "derived" / CHAIN / "exposure"
    return all((single / n).read_bytes() == (spark / n).read_bytes()
               for n in ("incoming.npy", "outgoing.npy", "meta.json"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=Path("/work/bench-api/store"))
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--jobs", default="resolve,cluster,stats,exposure")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-spark-"))
    copy = work / "store"
    if not copy.exists():  # the source store is read only: everything writes to the copy
        shutil.copytree(args.store, copy, ignore=_not_copied(args.store))
    with open("/proc/cpuinfo") as fh:
        cores = sum(1 for ln in fh if ln.startswith("processor"))
    report: dict = {"store": str(args.store), "master": args.master, "cores": cores,
                    "load_before": os.getloadavg(), "jobs": {}}
    for job in args.jobs.split(","):
        single = run_child(SINGLE[job], copy, args.master, job)
        if job == "resolve":
            single["whole_join"] = run_child(SINGLE["resolve-all"], copy, args.master, job)
        spark = run_child(SPARK, copy, args.master, job)
        report["jobs"][job] = {"single_machine": single, "spark": spark}
        if job == "exposure":
            report["jobs"][job]["identical_files"] = _same_exposure(copy)
        print(json.dumps({job: report["jobs"][job]}), file=sys.stderr, flush=True)
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
