"""Benchmark: the REST API over loopback against the same questions asked of the service layer in process.

    .venv/bin/python benchmarks/bench_api.py [--txs 1000000] [--work DIR] [--duration 15] [--pin]

Builds (or reuses, with --work DIR holding `sim/` and `store/` from an earlier run) a simulated chain
of --txs transactions, ingests it, imports every shared label source (tagpacks, sanctions, labels,
ransomware of ../shared/data) and runs clustering; creates an investigator and a token; starts
`fundtrail serve` on a free loopback port and measures, with `wrk` (Debian package `wrk`; a bounded
Python client is used when it is missing, and said so) for the latency figures:

- address summary p50/p99 at 1 and 32 concurrent connections (goal: p99 < 50 ms at 32);
- a 5-hop haircut trace over HTTP, p50 (goal < 100 ms);
- bulk screening over HTTP, 100,000 addresses in one request (goal >= 10,000 addresses/s);
- the audit log's cost per record, 1 and 32 threads (goal < 1 ms);
- peak server memory (VmHWM of the server process);

and the same address, trace and screening questions asked of `Workspace` in process, so that the
HTTP overhead is visible. Every load is bounded in time (--duration) and in count. Loopback only.
With --pin, only the address summary is measured, wrk on CPU 0 and the server on the other CPUs
(`taskset`): an extra figure without the load generator taking the server's cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FUNDTRAIL_TESTDATA", ROOT.parent / "shared" / "data"))
FT = str(Path(sys.executable).parent / "fundtrail")
CHAIN = "btc-regtest"
LABEL_GROUPS = ("tagpacks", "sanctions", "labels", "ransomware")


def _run(*args: str, store: Path, capture: bool = False, ok: tuple[int, ...] = (0,)) -> str:
    out = subprocess.run([FT, "--store", str(store), "-q", *args], text=True,
                         stdout=subprocess.PIPE if capture else None)
    if out.returncode not in ok:
        raise subprocess.CalledProcessError(out.returncode, out.args)
    return out.stdout if capture else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def build(work: Path, txs: int) -> tuple[Path, Path]:
    """The simulated chain, ingested, with every shared label source imported and clustered."""
    sim, store = work / "sim", work / "store"
    if not (sim / "blocks").is_dir():
        t = time.perf_counter()
        subprocess.run([FT, "-q", "simulate", "--txs", str(txs), "--seed", "1", "--out", str(sim)], check=True)
        print(f"setup: simulate {txs:,} txs {time.perf_counter() - t:.0f} s", flush=True)
    if not (store / "catalog.duckdb").exists():
        t = time.perf_counter()
        _run("ingest", "bitcoin", "--blocks-dir", str(sim / "blocks"), store=store)
        print(f"setup: ingest {time.perf_counter() - t:.0f} s", flush=True)
    ready = work / "store-ready"  # written after the last step: a setup cut short is resumed
    if not ready.exists():
        t = time.perf_counter()
        labels = work / "labels.csv"  # what a label provider publishes about the simulated services
        write_service_labels(sim, labels)
        # exit status 3: some shared files could not be imported (listed on stderr), the rest are committed
        _run("tags", "import", str(labels), *[str(DATA / g) for g in LABEL_GROUPS], store=store, ok=(0, 3))
        print(f"setup: tags import (all shared label sources) {time.perf_counter() - t:.0f} s", flush=True)
        t = time.perf_counter()
        _run("cluster", "run", store=store)
        _run("graph", "build", store=store)
        print(f"setup: cluster run + graph index {time.perf_counter() - t:.0f} s", flush=True)
        ready.write_text("setup complete\n")
    return sim, store


_SERVICE = {"exchange": "exchange", "otc_desk": "exchange", "mixer": "mixing_service"}


def write_service_labels(sim: Path, out: Path) -> None:
    """labels.csv of the simulated exchanges, OTC desk and mixer (ground truth), as in the exercises."""
    with open(sim / "truth" / "addresses.csv", newline="") as fh, open(out, "w", newline="") as dst:
        w = csv.writer(dst)
        w.writerow(["address", "label", "category", "source", "currency"])
        for row in csv.DictReader(fh):
            cat = _SERVICE.get(row["category"])
            if cat:
                w.writerow([row["address"], row["actor"], cat, "simulator truth", "BTC-REGTEST"])


def sample_addresses(sim: Path, n: int, seed: int = 3) -> list[str]:
    with open(sim / "truth" / "addresses.csv", newline="") as fh:
        addrs = [row["address"] for row in csv.DictReader(fh)]
    rng = random.Random(seed)
    return [rng.choice(addrs) for _ in range(n)]


def sample_seeds(store: Path, addresses: list[str], n: int) -> list[str]:
    """Spent outputs (TXID:VOUT) of the sampled addresses' first transactions, as trace seeds."""
    from fundtrail.settings import Settings
    from fundtrail.workspace import Workspace

    ws = Workspace.open(Settings.load(store=store))
    seeds: list[str] = []
    for a in addresses:
        for t in ws.address_txs(a, chain=CHAIN, limit=1).txs:
            if t.txid is None:
                continue
            detail = ws.transaction(t.txid, chain=CHAIN)
            seeds += [f"{t.txid}:{o.n}" for o in detail.outputs if o.spent_by is not None][:1]
        if len(seeds) >= n:
            break
    return seeds


class Server:
    """`fundtrail serve` in a subprocess on a free loopback port."""

    def __init__(self, store: Path, workers: int = 1, prefix: tuple[str, ...] = ()) -> None:
        self.port = _free_port()
        env = {**os.environ, "FUNDTRAIL_API_RATE_PER_SECOND": "100000", "FUNDTRAIL_API_BURST": "100000",
               "FUNDTRAIL_API_MAX_BODY_MB": "64"}  # the load is the point here, not the limiter
        self.proc = subprocess.Popen([*prefix, FT, "--store", str(store), "-q", "serve", "--port", str(self.port),
                                      "--workers", str(workers)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/api/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("server did not start: " + (self.proc.stderr.read() if self.proc.stderr else ""))

    def peak_mb(self) -> float:
        """Peak resident memory of the server: the process and its workers, summed."""
        total = 0
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
            total += int(m.group(1)) if m else 0
        return total / 1024

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids = (task / "children").read_text().split()
        for k in kids:
            found += [int(k), *_children(int(k))]
    return found


def wrk_latency(url: str, token: str, paths: list[str], connections: int, seconds: int,
                prefix: tuple[str, ...] = ()) -> dict[str, float]:
    """p50/p99 (ms) and requests/s of GETs over `paths` (round robin) with wrk (run under `prefix`)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "paths.lua"
        lua_paths = ",".join(json.dumps(p) for p in paths)
        script.write_text(
            f'local paths = {{{lua_paths}}}\nlocal i = 0\n'
            f'wrk.headers["Authorization"] = "Bearer {token}"\n'
            'request = function()\n  i = i % #paths + 1\n  return wrk.format("GET", paths[i])\nend\n'
            'done = function(summary, latency, requests)\n'
            '  io.write(string.format("P50 %f\\nP99 %f\\nN %d\\nERR %d\\nNON2XX %d\\n", '
            'latency:percentile(50)/1000, latency:percentile(99)/1000, summary.requests, '
            'summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, '
            'summary.errors.status))\nend\n')
        out = subprocess.run([*prefix, "wrk", "-t", str(min(2, connections)), "-c", str(connections),
                              "-d", f"{seconds}s", "--timeout", "10s", "-s", str(script), url], check=True,
                             text=True, capture_output=True).stdout
    vals = dict(re.findall(r"^(P50|P99|N|ERR|NON2XX) ([\d.]+)$", out, re.M))
    return {"p50": float(vals["P50"]), "p99": float(vals["P99"]), "n": float(vals["N"]),
            "rps": float(vals["N"]) / seconds, "errors": float(vals["ERR"]) + float(vals["NON2XX"])}


def py_latency(url: str, token: str, paths: list[str], connections: int, seconds: int,
               prefix: tuple[str, ...] = ()) -> dict[str, float]:
    """The same as `wrk_latency` with threads of httpx clients (when wrk is not installed; `prefix`
    is not applied: the threads run in this process)."""
    stop = time.monotonic() + seconds
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
            i = k
            while time.monotonic() < stop:
                t = time.perf_counter()
                r = c.get(paths[i % len(paths)])
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    times.append(dt)
                    errors[0] += r.status_code != 200
                i += connections

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"p50": _pct(times, 50), "p99": _pct(times, 99), "n": len(times), "rps": len(times) / seconds,
            "errors": errors[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, help="directory for (or with) sim/ and store/; kept")
    ap.add_argument("--duration", type=int, default=15, help="seconds per latency load")
    ap.add_argument("--traces", type=int, default=100)
    ap.add_argument("--screen", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
    ap.add_argument("--pin", action="store_true",
                    help="an extra figure: wrk on CPU 0 and the server on the other CPUs (taskset), so the "
                         "load generator does not take the server's cores; the address summary only")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-api-"))
    work.mkdir(parents=True, exist_ok=True)
    sim, store = build(work, args.txs)
    user = f"bench{os.getpid()}"
    _run("users", "add", user, "--role", "investigator", store=store)  # a fresh user per run
    token = json.loads(_run("tokens", "create", user, "--json", store=store, capture=True))["token"]

    addresses = sample_addresses(sim, 5000)
    seeds = sample_seeds(store, addresses, args.traces)
    screen_inputs = sample_addresses(sim, args.screen, seed=11)
    paths = [f"/api/v1/{CHAIN}/addresses/{a}" for a in addresses]
    load = wrk_latency if shutil.which("wrk") else py_latency
    print(f"load generator: {'wrk' if load is wrk_latency else 'python httpx threads (wrk not installed)'}")

    if args.pin:
        pinned(store, token, paths, args.workers, args.duration, load)
        return
    server = Server(store, args.workers)
    print(f"server: fundtrail serve --workers {args.workers}")
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as c:
            for p in paths[:200]:  # warm the caches (indexes, tag maps, assessors)
                c.get(p)
            for conns in (1, 32):
                r = load(server.url, token, paths, conns, args.duration)
                print(f"address summary over HTTP, {conns:>2} connections: p50 {r['p50']:.2f} ms, "
                      f"p99 {r['p99']:.2f} ms, {r['rps']:,.0f} req/s ({r['n']:,.0f} requests, "
                      f"{r['errors']:.0f} errors)", flush=True)
            for s in seeds[:10]:  # warm each worker's trace caches (graph, tag map, marks facts)
                c.post(f"/api/v1/{CHAIN}/trace", json={"seeds": [s], "hops": 5, "policy": "haircut"})
            times = []
            for s in seeds:
                t = time.perf_counter()
                resp = c.post(f"/api/v1/{CHAIN}/trace", json={"seeds": [s], "hops": 5, "policy": "haircut"})
                times.append((time.perf_counter() - t) * 1000)
                resp.raise_for_status()
            print(f"5-hop haircut trace over HTTP: p50 {statistics.median(times):.2f} ms, "
                  f"p99 {_pct(times, 99):.2f} ms ({len(times)} traces)", flush=True)
            t = time.perf_counter()
            resp = c.post("/api/v1/screen", json={"inputs": screen_inputs})
            dt = time.perf_counter() - t
            resp.raise_for_status()
            print(f"bulk screening over HTTP: {len(screen_inputs):,} addresses in {dt:.2f} s = "
                  f"{len(screen_inputs) / dt:,.0f} addresses/s", flush=True)
        print(f"peak server memory (VmHWM): {server.peak_mb():,.0f} MB", flush=True)
    finally:
        server.stop()

    in_process(store, addresses, seeds, screen_inputs)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


def pinned(store: Path, token: str, paths: list[str], workers: int, seconds: int, load: Any) -> None:
    """The address summary at 1 and 32 connections with wrk on CPU 0 and the server on the others."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not shutil.which("taskset"):
        raise SystemExit("--pin needs two CPUs and taskset")
    rest = ",".join(str(c) for c in cpus[1:])
    server = Server(store, workers, prefix=("taskset", "-c", rest))
    print(f"server: taskset -c {rest} fundtrail serve --workers {workers}; load generator: taskset -c {cpus[0]}")
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            for p in paths[:200]:
                c.get(p)
        for conns in (1, 32):
            r = load(server.url, token, paths, conns, seconds, prefix=("taskset", "-c", str(cpus[0])))
            print(f"address summary over HTTP (pinned), {conns:>2} connections: p50 {r['p50']:.2f} ms, "
                  f"p99 {r['p99']:.2f} ms, {r['rps']:,.0f} req/s ({r['n']:,.0f} requests, "
                  f"{r['errors']:.0f} errors)", flush=True)
    finally:
        server.stop()


def in_process(store: Path, addresses: list[str], seeds: list[str], screen_inputs: list[str]) -> None:
    """The same questions asked of the service layer in this process, and the audit log's cost."""
    from fundtrail.settings import Settings
    from fundtrail.workspace import Actor, Workspace
    from fundtrail.workspace.access import AuditEntry
    from fundtrail.workspace.risk import ScreenRequest
    from fundtrail.workspace.tracing import TraceRequest

    ws = Workspace.open(Settings.load(store=store), actor=Actor(user="bench", via="python"))
    for a in addresses[:200]:
        ws.address(a, chain=CHAIN)
    for s in seeds[:3]:
        ws.trace(TraceRequest(seeds=[s], hops=5, policy="haircut", chain=CHAIN))
    times = []
    for a in addresses:
        t = time.perf_counter()
        ws.address(a, chain=CHAIN)
        times.append((time.perf_counter() - t) * 1000)
    print(f"address summary in process: p50 {_pct(times, 50):.2f} ms, p99 {_pct(times, 99):.2f} ms", flush=True)
    times = []
    for s in seeds:
        t = time.perf_counter()
        ws.trace(TraceRequest(seeds=[s], hops=5, policy="haircut", chain=CHAIN))
        times.append((time.perf_counter() - t) * 1000)
    print(f"5-hop haircut trace in process: p50 {statistics.median(times):.2f} ms, "
          f"p99 {_pct(times, 99):.2f} ms", flush=True)
    t = time.perf_counter()
    ws.screen(ScreenRequest(inputs=screen_inputs))
    dt = time.perf_counter() - t
    print(f"bulk screening in process: {len(screen_inputs) / dt:,.0f} addresses/s", flush=True)

    def append(n: int) -> None:
        for i in range(n):
            ws.audit_append(AuditEntry(user="bench", via="python", action="bench", subjects=[str(i)],
                                       outcome="ok", status=0))

    for threads in (1, 32):
        n = 2000 if threads == 1 else 200
        t = time.perf_counter()
        pool = [threading.Thread(target=append, args=(n,)) for _ in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        dt = time.perf_counter() - t
        print(f"audit log, {threads:>2} threads: {dt / (n * threads) * 1000:.3f} ms per record "
              f"(wall time / records, fsync'd)", flush=True)


if __name__ == "__main__":
    main()
