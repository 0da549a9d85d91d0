"""Benchmark: time and memory per transfer of the account-chain stages, for the Ethereum part of
the cost model (issue 19, docs/scale.md).

    .venv/bin/python benchmarks/bench_account_scale.py [--events 3000000 --events 12000000]

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
- `book`: the EVM ingest's address book (`ingest.ethereum.rows.AddressBook`: a dict of 20-byte
  addresses to ids), filled with the chain's addresses.

It prints per stage the totals and the cost per million events (per million addresses for `book`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_bounded import measured

CHILD = """
import json, sys, time
import numpy as np
n_ev, stage = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(11)
n_tx, n_addr = n_ev // 3, max(1000, n_ev // 30)
if stage == "book":
    from fundtrail.ingest.ethereum.rows import AddressBook
    keys = rng.integers(0, 256, (n_addr, 20), np.uint8)
    t = time.perf_counter()
    book = AddressBook({}, 0)
    for i in range(n_addr):
        book.id(keys[i].tobytes(), 0)
    book.new.clear()
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, action="append", help="events per chain (repeatable)")
    args = ap.parse_args()
    for n in args.events or [3_000_000, 12_000_000]:
        for stage in ("graph", "exposure", "book"):
            r = measured([sys.executable, "-c", CHILD, str(n), stage], dict(os.environ), None, stage, timeout=None)
            if r["rc"]:
                print(f"{n:,} {stage}: failed: {r['stderr']}", flush=True)
                continue
            got = json.loads(r["stdout"].strip().splitlines()[-1])
            m = got["n"] / 1e6
            unit = "M addresses" if stage == "book" else "M events"
            print(f"{n:>12,} events  {stage:8} {got['n']:>12,} {unit.split()[1]:9} {got['seconds']:7.1f} s "
                  f"({got['seconds'] / m:5.2f} s/{unit})  result arrays {got['bytes'] / 2**20:8.0f} MB  "
                  f"peak RssAnon {r['anon_mb']:7,} MB ({r['anon_mb'] / m:5.0f} MB/{unit})", flush=True)


if __name__ == "__main__":
    main()
