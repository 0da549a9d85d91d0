"""Benchmark: the web workbench, its pages on the server and its graph canvas in a real browser.

    .venv/bin/python benchmarks/bench_web.py [--txs 1000000] [--work DIR] [--requests 300] [--seconds 60]

Builds (or reuses, with --work DIR holding `sim/` and `store/` from an earlier run of this or of
bench_api.py) the simulated chain of bench_api.py: --txs transactions, every shared label source,
clustered. Adds a user with a password, starts `fundtrail serve` on a free loopback port, logs in
through the login form with httpx (the form's CSRF token, the session cookie) and measures:

- server time of the address, transaction and cluster pages (`/{chain}/addresses/{a}`, `/txs/{txid}`,
  `/clusters/{id}`): p50/p99 of --requests sequential GETs of different subjects by one client, each
  kind bounded by --seconds (goal: p99 < 100 ms on the 1M-transaction chain). The time is the
  client's, over loopback, for the whole HTML page; a `Server-Timing` header is reported beside it
  when the server sends one;
- in headless Chromium (Debian's chromium and chromedriver, loopback only): the time from asking the
  canvas to expand a node with 500 neighbours to the frame that shows them (goal < 1 s), and the frame
  times while a node is dragged across a graph of 2,000 nodes. The simulated economy has no node
  with 500 neighbours (its widest: ~440 outputs, ~90 payments to one address), so the expansion is
  measured on the canvas tests' chain (tests/web/graph_support.py: a transaction paying 2,400
  addresses; its first 500 neighbours, largest first), served the same way, and the widest node of
  the simulated chain is expanded too;
- peak server memory (VmHWM of the server process).

The browser figures use the graph page's script API, `window.ftGraph` on `/graph`: `ftGraph.ready` (a
promise, optional), `ftGraph.open(chain, nodeId)` (show one node, a promise), `ftGraph.expand(nodeId,
{direction, limit})` (a promise resolved when the new elements are laid out) and `ftGraph.cy` (the
Cytoscape instance). Node ids are the graph API's (`a:<address>`). Where the page or the API is
missing, the two browser figures are skipped with the reason. Every load is bounded; loopback only.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_api import CHAIN, FT, Server, _pct, build, sample_addresses

PAGE_KINDS = ("address", "transaction", "cluster")
WIDE = 500  # neighbours of the node the expand figure opens
DRAG_NODES = 2000
DRAG_FRAMES = 120


def add_user(store: Path) -> tuple[str, str]:
    """A fresh investigator with a password (through the CLI, before the server holds the store)."""
    user, password = f"bench{os.getpid()}", secrets.token_urlsafe(15)
    subprocess.run([FT, "--store", str(store), "-q", "users", "add", user, "--role", "investigator",
                    "--password-stdin"], input=password + "\n", text=True, check=True, stdout=subprocess.DEVNULL)
    return user, password


def login(client: httpx.Client, user: str, password: str) -> None:
    """Log in through the login form, as a browser does (the form's CSRF token, then the cookie)."""
    page = client.get("/login")
    page.raise_for_status()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if token is None:
        raise SystemExit("the login page has no csrf_token field")
    answer = client.post("/login", data={"username": user, "password": password, "csrf_token": token.group(1)})
    if answer.status_code != 303 or "ft_session" not in client.cookies:
        raise SystemExit(f"login failed: HTTP {answer.status_code}")


def subjects(client: httpx.Client, sim: Path, n: int) -> dict[str, list[str]]:
    """Page paths of each kind: `n` sampled addresses, transactions, and the clusters of addresses."""
    addresses = sample_addresses(sim, n)
    with open(sim / "truth" / "transactions.csv", newline="") as fh:
        txids = [row["txid"] for row in csv.DictReader(fh)]
    rng = random.Random(5)
    clusters: list[str] = []
    for a in sample_addresses(sim, 4 * n, seed=9):
        r = client.get(f"/api/v1/{CHAIN}/addresses/{a}")
        cid = r.json().get("cluster_id") if r.status_code == 200 else None
        if cid is not None and str(cid) not in clusters:
            clusters.append(str(cid))
        if len(clusters) >= n:
            break
    return {"address": [f"/{CHAIN}/addresses/{a}" for a in addresses],
            "transaction": [f"/{CHAIN}/txs/{rng.choice(txids)}" for _ in range(n)],
            "cluster": [f"/{CHAIN}/clusters/{c}" for c in clusters]}


def page_times(client: httpx.Client, paths: list[str], seconds: float) -> dict[str, Any]:
    """Sequential GETs of `paths` (stopping after `seconds`): client times, Server-Timing, failures."""
    times: list[float] = []
    server: list[float] = []
    failed: dict[int, int] = {}
    stop = time.monotonic() + seconds
    for p in paths:
        if time.monotonic() > stop:
            break
        t = time.perf_counter()
        r = client.get(p)
        times.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            failed[r.status_code] = failed.get(r.status_code, 0) + 1
        m = re.search(r"dur=([\d.]+)", r.headers.get("server-timing", ""))
        if m:
            server.append(float(m.group(1)))
    return {"times": times, "server": server, "failed": failed}


def measure_pages(client: httpx.Client, paths: dict[str, list[str]], seconds: float) -> None:
    for kind in PAGE_KINDS:
        todo = paths[kind]
        if not todo:
            print(f"{kind} page: no subjects found (was the chain clustered?)", flush=True)
            continue
        page_times(client, todo[:20], seconds)  # warm-up, not counted
        r = page_times(client, todo, seconds)
        t = r["times"]
        extra = (f"; Server-Timing p50 {_pct(r['server'], 50):.2f} ms, p99 {_pct(r['server'], 99):.2f} ms"
                 if r["server"] else "")
        bad = f"; NOT 200: {r['failed']}" if r["failed"] else ""
        print(f"{kind} page, 1 client: p50 {_pct(t, 50):.2f} ms, p99 {_pct(t, 99):.2f} ms, max {max(t):.2f} ms "
              f"({len(t)} requests){extra}{bad}", flush=True)


def wide_node(client: httpx.Client, sim: Path) -> tuple[str | None, str]:
    """An address with at least WIDE neighbours in the graph API (an exchange's hot wallet, likely)."""
    with open(sim / "truth" / "addresses.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    candidates = [r["address"] for r in rows if r["role"] == "hot"] + \
                 [r["address"] for r in rows if r["category"] in ("exchange", "mixer") and r["role"] != "hot"][:200]
    best: tuple[int, str | None] = (-1, None)
    for a in candidates:
        r = client.get(f"/api/v1/{CHAIN}/graph/addresses/{a}", params={"direction": "both", "limit": 1})
        if r.status_code == 404 and "no such route" in r.text:
            return None, "the graph API (GET /api/v1/{chain}/graph/addresses/...) is not there"
        if r.status_code != 200:
            continue
        total = int(r.json().get("total") or 0)
        if total >= WIDE:
            return f"a:{a}", f"{a} ({total:,} neighbours)"
        best = max(best, (total, a))
    if best[1] is None:
        return None, "no address of the chain has a graph"
    return f"a:{best[1]}", f"{best[1]} (only {best[0]:,} neighbours: no address has {WIDE})"


_EXPAND_JS = """
const [chain, nodeId, limit, done] = arguments;
(async () => {
  const g = window.ftGraph;
  if (!g) return done({error: 'window.ftGraph is not defined on the graph page'});
  if (g.ready) await g.ready;
  await g.open(chain, nodeId);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const t0 = performance.now();
  await g.expand(nodeId, {direction: 'both', limit: limit});
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));  // drawn
  done({ms: performance.now() - t0, nodes: g.cy.nodes().length, edges: g.cy.edges().length});
})().catch(e => done({error: String(e)}));
"""

_DRAG_JS = """
const [count, frames, done] = arguments;
const g = window.ftGraph;
if (!g || !g.cy) { done({error: 'window.ftGraph.cy is not defined on the graph page'}); return; }
const cy = g.cy;
cy.elements().remove();
const els = [];
const side = Math.ceil(Math.sqrt(count));
for (let i = 0; i < count; i++) {
  els.push({group: 'nodes', data: {id: 'n' + i, label: 'node ' + i, kind: 'address'},
            position: {x: (i % side) * 60, y: Math.floor(i / side) * 60}});
  if (i) els.push({group: 'edges', data: {id: 'e' + i, source: 'n' + Math.floor((i - 1) / 2), target: 'n' + i}});
}
cy.add(els);
cy.fit();
const node = cy.getElementById('n' + Math.floor(count / 2));
const before = Object.assign({}, node.position());
const box = cy.container().getBoundingClientRect();
let x = box.left + node.renderedPosition().x, y = box.top + node.renderedPosition().y;
const at = (type, el) => el.dispatchEvent(new MouseEvent(type, {clientX: x, clientY: y, bubbles: true,
                                                                 cancelable: true, button: 0, buttons: 1}));
const canvas = cy.container().querySelector('canvas:last-of-type') || cy.container();
requestAnimationFrame(() => requestAnimationFrame(() => {
  at('mousedown', canvas);
  const times = [];
  let last = performance.now(), i = 0;
  const step = (t) => {
    times.push(t - last); last = t;
    x += 2; y += 1; at('mousemove', canvas);
    if (++i < frames) { requestAnimationFrame(step); return; }
    at('mouseup', canvas);
    const after = node.position();
    done({times: times.slice(1), nodes: cy.nodes().length, moved: Math.hypot(after.x - before.x, after.y - before.y)});
  };
  requestAnimationFrame(step);
}));
"""


def measure_browser(url: str, user: str, password: str, node: str | None, why: str, *, drag: bool = True) -> None:
    """The canvas figures in headless Chromium (skipped, with the reason, when something is missing)."""
    from web.browser import login as browser_login
    from web.browser import missing_browser, new_driver

    missing = missing_browser()
    if missing:
        print(f"graph canvas: skipped ({missing})", flush=True)
        return
    driver = new_driver()
    try:
        driver.set_script_timeout(120)
        browser_login(driver, SimpleNamespace(url=url, users={"bench": user}, passwords={user: password}), "bench")
        driver.get(url + "/graph")
        if not driver.execute_script("return typeof window.ftGraph === 'object' && window.ftGraph !== null"):
            print("graph canvas: skipped (window.ftGraph is not defined on /graph: the canvas's script API is "
                  "not there yet)", flush=True)
            return
        if node is None:
            print(f"expand {WIDE} neighbours: skipped ({why})", flush=True)
        else:
            r = driver.execute_async_script(_EXPAND_JS, CHAIN, node, WIDE)
            if "error" in r:
                print(f"expand {WIDE} neighbours: failed in the page: {r['error']}", flush=True)
            else:
                print(f"expand {why}: {r['ms']:.0f} ms from the call to the drawn graph "
                      f"({r['nodes']:,} nodes, {r['edges']:,} edges on the canvas)", flush=True)
        if drag:
            driver.get(url + "/graph")
            r = driver.execute_async_script(_DRAG_JS, DRAG_NODES, DRAG_FRAMES)
            if "error" in r:
                print(f"drag at {DRAG_NODES:,} nodes: failed in the page: {r['error']}", flush=True)
            else:
                t = r["times"]
                moved = "" if r["moved"] > 0 else " (the node did not move: the synthetic drag was not taken up)"
                print(f"drag at {r['nodes']:,} nodes: frame time p50 {_pct(t, 50):.1f} ms, p95 {_pct(t, 95):.1f} ms, "
                      f"max {max(t):.1f} ms over {len(t)} frames ({1000 / _pct(t, 50):.0f} fps at p50){moved}",
                      flush=True)
        errors = [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        if errors:
            print("browser console errors:\n  " + "\n  ".join(errors[:10]), flush=True)
    finally:
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, help="directory for (or with) sim/ and store/; kept")
    ap.add_argument("--requests", type=int, default=300, help="pages of each kind (different subjects)")
    ap.add_argument("--seconds", type=float, default=60, help="time bound of each page kind's measurement")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-web-"))
    work.mkdir(parents=True, exist_ok=True)
    sim, store = build(work, args.txs)
    user, password = add_user(store)
    server = Server(store)
    print(f"server: fundtrail serve on {server.url} (store {store})", flush=True)
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            login(client, user, password)
            paths = subjects(client, sim, args.requests)
            measure_pages(client, paths, args.seconds)
            node, why = wide_node(client, sim)
        measure_browser(server.url, user, password, node, why)
        print(f"peak server memory (VmHWM): {server.peak_mb():,.0f} MB", flush=True)
    finally:
        server.stop()
    measure_wide_transaction(work)


def measure_wide_transaction(work: Path) -> None:
    """Expand 500 neighbours of the canvas chain's 2,400-output transaction in the browser."""
    from web.graph_support import canvas_chain

    base = work / "canvas"
    store = base / "store"
    if not (store / "catalog.duckdb").exists():
        base.mkdir(parents=True, exist_ok=True)
        chain = canvas_chain(base)
        subprocess.run([FT, "--store", str(store), "-q", "ingest", "bitcoin", "--blocks-dir", str(chain.blocks)],
                       check=True, stdout=subprocess.DEVNULL)
        (base / "wide-txid").write_text(chain.wide_txid)
    wide = (base / "wide-txid").read_text().strip()
    user, password = add_user(store)
    server = Server(store)
    try:
        measure_browser(server.url, user, password, f"t:{wide}",
                        "the 2,400-output transaction (500 neighbours asked, largest first)", drag=False)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
