"""Benchmark: time and memory per transfer of the account-chain stages, for the Ethereum part of
the cost model (issue 19, docs/scale.md).

    .venv/bin/python benchmarks/bench_account_scale.py [--events 3000000 --events 12000000] [--limit 256MB]

The EVM simulator drives a real node at 500-800 transactions a second, too slow for millions of
transfers, so each size is a synthetic account chain made straight into the graph index's event
columns (the layout `AccountGraph.ensure` writes from the store): three events per transaction (a
native or, one in ten, an ERC-20 transfer; the tip to one of 50 block producers; the burnt base
fee), senders and receivers drawn from a power law (rank r with probability ~1/r) over one address
per 30 events (Ethereum: about 10 billion value events over about 300 million addresses). Each
stage runs in a fresh process, measured like bench_bounded.py's stages (time inside, peak RssAnon sampled):

- `graph`: the index's derived arrays (`account_graph._derive`: address and transaction lookup
  keys, the address -> events lists), from the event columns already in memory;
- `exposure`: the same, then the account exposure index (`AccountExposureIndex.compute`, three
  categories, 5% of the addresses tagged);
- `book`: the account ingest's address book (`ingest.ethereum.book.AddressBook`), filled with the
  chain's addresses in batches of 20,000 as an ingest meets them.

With `--limit` (repeatable; `none` for no limit) the stages run as they do under that
`memory_limit`: the event columns are written to .npy files first (another process), then placed
by the limit's `Spill` (outputs as files in a temporary directory) and derived
(`account_graph_build.derive`, timed); `exposure` derives, then times
`AccountExposureIndex.compute(memory_limit=)`; `book` uses the ingest's share of the limit
(`spill_budget.table_budgets`) for a spilling table.

It prints per stage the totals and the cost per million events (per million addresses for `book`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_bounded import measured, parse_size

CHILD = """
import json, sys, time
import numpy as np
n_ev, stage = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(11)
n_tx, n_addr = n_ev // 3, max(1000, n_ev // 30)
if stage == "book":  # argv[3]: the memory budget in bytes or "none"; argv[4]: a spill directory
    from pathlib import Path
    from fundtrail.ingest.bitcoin.fptable import FingerprintTable
    from fundtrail.ingest.bitcoin.spill_budget import table_budgets
    from fundtrail.ingest.bitcoin.spill_table import SpillingTable
    from fundtrail.ingest.ethereum.book import AddressBook
    budget = None if len(sys.argv) < 4 or sys.argv[3] == "none" else int(sys.argv[3])
    def block(j):  # the addresses j*20000.. made when needed: none of the chain's held at once
        return np.random.default_rng([11, j]).integers(0, 256, (20000, 20), np.uint8)
    AddressBook().batch().resolve()  # compiled before the clock starts
    t = time.perf_counter()
    share = None if budget is None else table_budgets(budget)["addr"]
    table = FingerprintTable(1) if share is None else SpillingTable(1, Path(sys.argv[4]), share)
    book = AddressBook(table, 0)
    n_addr = -(-n_addr // 20000) * 20000
    # as an ingest meets them: batches of 20,000 new addresses, 5,000 of the batch before seen again
    for j in range(n_addr // 20000):
        ids = book.batch()
        for k in (block(j - 1)[-5000:] if j else []):
            ids.id(k.tobytes(), 0)
        for k in block(j):
            ids.id(k.tobytes(), 0)
        ids.resolve()
    assert book.next_id == n_addr
    book.close()
    print(json.dumps({"n": n_addr, "seconds": time.perf_counter() - t, "bytes": 0}))
    raise SystemExit
from pathlib import Path
from fundtrail.trace.account_graph import AccountGraph, FORMAT, _derive
perm = rng.permutation(n_addr)
def people(n):  # rank r drawn with probability ~1/r over all the addresses: a few hubs, a long tail
    return perm[np.minimum((np.exp(rng.random(n) * np.log(n_addr)) - 1).astype(np.int64), n_addr - 1)]
tx = np.arange(n_tx, dtype=np.int64)
sender, receiver = people(n_tx), people(n_tx)
token = rng.random(n_tx) < 0.1
ev_from = np.stack([sender, sender, sender], 1).ravel()
ev_to = np.stack([receiver, perm[rng.integers(0, 50, n_tx)], np.full(n_tx, -1)], 1).ravel()
ev_kind = np.stack([np.where(token, 2, 0), np.full(n_tx, 7), np.full(n_tx, 6)], 1).ravel().astype(np.uint8)
ev_asset = np.stack([np.where(token, perm[rng.integers(0, 20, n_tx)], -1), np.full(n_tx, -1),
                     np.full(n_tx, -1)], 1).ravel()
n = ev_from.shape[0]
ev_tx = np.repeat(tx, 3)
out = {"ev_transfer": np.arange(n, dtype=np.int64), "ev_from": ev_from, "ev_to": ev_to, "ev_asset": ev_asset,
       "ev_kind": ev_kind, "ev_block": ev_tx // 150, "ev_time": ev_tx // 150 * 12, "ev_tx": ev_tx,
       "ev_log": np.full(n, -1, np.int32), "ev_batch": np.full(n, -1, np.int32),
       "ev_lo": rng.integers(1, 10**18, n, dtype=np.int64).astype(np.uint64), "ev_hi": np.zeros(n, np.uint64),
       "ev_trace_ptr": np.zeros(n + 1, np.int64), "ev_trace": np.zeros(0, np.int32),
       "big_pos": np.zeros(0, np.int64), "big_raw": np.zeros((0, 32), np.uint8),
       "addr_bytes": rng.integers(0, 256, (n_addr, 20), np.uint8),
       "tx_hash": rng.integers(0, 256, (n_tx, 32), np.uint8),
       "tx_block": tx // 150, "tx_time": tx // 150 * 12}
if stage == "prepare":  # the event columns for BOUNDED, as files
    for k, v in out.items():
        np.save(Path(sys.argv[3]) / f"{k}.npy", v)
    raise SystemExit
t = time.perf_counter()
g = AccountGraph(chain="eth-synthetic", path=Path(), meta={"format": FORMAT, "in_memory": True}, arrays=_derive(out))
secs = time.perf_counter() - t
size = sum(a.nbytes for a in g.arrays.values())
if stage == "exposure":
    from fundtrail.risk.account_exposure import AccountExposureIndex
    cat = np.full(n_addr, -1, np.int16)
    tagged = rng.choice(n_addr, n_addr // 20, replace=False)
    cat[tagged] = rng.integers(0, 3, tagged.shape[0])
    t = time.perf_counter()
    idx = AccountExposureIndex.compute(g, ("exchange", "mixer", "scam"), cat)
    secs = time.perf_counter() - t
    size = sum(a.nbytes for a in idx.arrays.values())
print(json.dumps({"n": n, "seconds": secs, "bytes": size}))
"""

# The graph stage under a limit: the prepared columns placed by the Spill (copied from their files, so
# those that fit the budget are in memory, as the build's are), then the derived arrays made under it.
BOUNDED = """
import json, sys, time
from pathlib import Path
import numpy as np
from fundtrail.store.spill import Spill
from fundtrail.trace.account_graph_build import derive
from fundtrail.trace.graph_build import copy_chunked
work, limit = Path(sys.argv[1]), None if sys.argv[2] == "none" else int(sys.argv[2])
(work / "out").mkdir()
with Spill(work, limit, "bench-account-graph") as sp:
    def new(name, shape, dtype, fill=None):
        return sp.array(name, shape, dtype, fill, path=work / "out" / f"{name}.npy")
    out = {}
    for f in sorted((work / "in").glob("*.npy")):
        src = np.load(f, mmap_mode="r")
        out[f.stem] = new(f.stem, src.shape, src.dtype)
        copy_chunked(out[f.stem], src, sp.rows(src.nbytes // max(1, src.shape[0]) or 1))
        del src
    n = int(out["ev_from"].shape[0])
    t = time.perf_counter()
    got = derive(out, sp, new)
    secs = time.perf_counter() - t
    size = sum(got[k].nbytes for k in ("addr_key", "addr_key_ids", "addr_ptr", "addr_events", "tx_ev_start",
                                       "tx_ev_count", "tx_key", "tx_key_ids"))
    spilled = sorted(set(sp.spilled))
    if sys.argv[3] == "exposure":  # then the exposure index under the same limit (its own Spill)
        from fundtrail.risk.account_exposure import AccountExposureIndex
        from fundtrail.store import Store
        from fundtrail.trace.account_graph import AccountGraph, FORMAT
        g = AccountGraph(chain="eth-synthetic", path=Path(), meta={"format": FORMAT, "in_memory": True},
                         arrays=got)
        rng = np.random.default_rng(12)
        n_addr = g.n_addresses
        cat = np.full(n_addr, -1, np.int16)
        tagged = rng.choice(n_addr, n_addr // 20, replace=False)
        cat[tagged] = rng.integers(0, 3, tagged.shape[0])
        t = time.perf_counter()
        idx = AccountExposureIndex.compute(g, ("exchange", "mixer", "scam"), cat, memory_limit=limit,
                                           store=Store.open(work / "store"))
        secs = time.perf_counter() - t
        size = sum(a.nbytes for a in idx.arrays.values())
    print(json.dumps({"n": n, "seconds": secs, "bytes": size, "spilled": spilled}))
"""


def bounded(n: int, limits: list[str], stages: list[str]) -> None:
    """The three stages once per limit (module docstring): graph and exposure from columns prepared
    once, the book under the ingest's budget for that limit."""
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        (Path(tmp) / "in").mkdir()
        if set(stages) - {"book"}:
            subprocess.run([sys.executable, "-c", CHILD, str(n), "prepare", str(Path(tmp) / "in")], check=True)
        for text in limits:
            limit = "none" if text == "none" else str(parse_size(text))
            for stage in stages:
                work = Path(tmp) / f"run-{text}-{stage}"
                work.mkdir()
                (work / "in").symlink_to(Path(tmp) / "in")
                cmd = ([sys.executable, "-c", CHILD, str(n), "book", limit, str(work / "spill")] if stage == "book"
                       else [sys.executable, "-c", BOUNDED, str(work), limit, stage])
                r = measured(cmd, dict(os.environ), None, f"{stage}-{text}", timeout=None)
                shutil.rmtree(work)
                report(n, stage, r, f"under {text:>6}:")


def report(n: int, stage: str, r: dict, how: str = "") -> None:
    """One stage's line: the totals and the cost per million events (addresses for `book`)."""
    if r["rc"]:
        print(f"{n:,} {stage} {how} failed: {r['stderr']}", flush=True)
        return
    got = json.loads(r["stdout"].strip().splitlines()[-1])
    m = got["n"] / 1e6
    unit = "M addresses" if stage == "book" else "M events"
    extra = (f"in files: {', '.join(got['spilled']) or '-'}" if "spilled" in got
             else f"result arrays {got['bytes'] / 2**20:8.0f} MB")
    print(f"{n:>12,} events  {stage:8} {how} {got['n']:>12,} {unit.split()[1]:9} {got['seconds']:7.1f} s "
          f"({got['seconds'] / m:5.2f} s/{unit})  peak RssAnon {r['anon_mb']:7,} MB "
          f"({r['anon_mb'] / m:5.0f} MB/{unit})  {extra}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, action="append", help="events per chain (repeatable)")
    ap.add_argument("--limit", action="append", help="the stages as bounded under this memory limit "
                    "(\"256MB\", \"none\"; repeatable)")
    ap.add_argument("--stages", default="graph,exposure,book", help="which stages (comma-separated; "
                    "`book` alone for many addresses: --events 300000000 makes 10M addresses)")
    args = ap.parse_args()
    stages = [s for s in args.stages.split(",") if s]
    for n in args.events or [3_000_000, 12_000_000]:
        if args.limit:
            bounded(n, args.limit, stages)
            continue
        for stage in stages:
            r = measured([sys.executable, "-c", CHILD, str(n), stage], dict(os.environ), None, stage, timeout=None)
            report(n, stage, r)


if __name__ == "__main__":
    main()
