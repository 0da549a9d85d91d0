"""Benchmark / review: the heuristics' verdicts on real busy mainnet blocks (2012-2026).

    .venv/bin/python benchmarks/bench_heuristics_realblocks.py [--data DIR] [--all] [--json]

Ingests the real blocks of `<data>/btc-raw-blocks` (see its MANIFEST.md; block 300025 with its
undo data, so its inputs are resolved) into a temporary store, runs the CoinJoin detectors and the
change consensus, and lists every transaction flagged as a CoinJoin (`--all`: every transaction)
with protocol, confidence, change output and votes, for a human to review; then a per-block summary
and the time the heuristics took. Isolated blocks have unresolved inputs: rules that need input
values or scripts abstain there, which the summary shows.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from fundtrail.cluster import change, coinjoin
from fundtrail.cluster.quality import review_rows
from fundtrail.cluster.txview import load_txview
from fundtrail.ingest.bitcoin.jobs import ingest_raw_files
from fundtrail.store import Store

BLOCKS = [
    "bitcoinj/block169482.dat", "bitcoinj/block227835.dat", "bitcoinj/block227836.dat",
    "btcd/277647.dat.bz2", "bitcoinj/block363703.dat", "bitcoinj/block370661.dat",
    "bitcoinj/block383616.dat", "bcoin/block426884.raw", "bitcoinj/block481815.dat",
    "bitcoinj/block481829.dat", "bcoin/block482683.raw",
    "btcd/block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk",
    "btcd/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk",
    "electrumx/block951658.hex",
]
WITH_UNDO = ("bcoin/block300025.raw", "bcoin/block300025-undo.raw")


def ingest(store: Store, data: Path) -> None:
    """The real blocks into `store` (block 300025 with its undo data)."""
    raw = data / "btc-raw-blocks"
    ingest_raw_files(store, [raw / b for b in BLOCKS])
    ingest_raw_files(store, [raw / WITH_UNDO[0]], undo_files=[raw / WITH_UNDO[1]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("FUNDTRAIL_TESTDATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--data", type=Path, default=default)
    ap.add_argument("--all", action="store_true", help="list every transaction, not only CoinJoins")
    ap.add_argument("--json", action="store_true", help="one JSON object per transaction")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fundtrail-realblocks-") as tmp:
        store = Store.open(Path(tmp) / "store")
        print("ingesting real blocks ...", file=sys.stderr)
        ingest(store, args.data)
        with store.query() as con:
            hi = con.sql("SELECT max(tx_id) + 1 FROM btc_transactions").fetchall()[0][0]
            view = load_txview(con, "btc", 0, int(hi))
            coinjoin.detect(view), change.consensus(view)  # compile the kernels before timing
            t = time.perf_counter()
            coinjoin.detect(view)
            change.consensus(view)
            seconds = time.perf_counter() - t
            rows = review_rows(con, "btc", view)
    per = collections.defaultdict(collections.Counter)
    for r in rows:
        c = per[r["height"]]
        c["tx"] += 1
        c[r["coinjoin"]] += r["coinjoin"] != "none"
        c["change"] += r["change_n"] is not None
        c["change>=0.9"] += r["change_confidence"] >= 0.9
        if args.all or r["coinjoin"] != "none":
            print(json.dumps(r) if args.json else
                  f"{r['height']:>7} {r['txid']} in={r['inputs']:<4} out={r['outputs']:<4} "
                  f"{r['coinjoin']}@{r['coinjoin_confidence']} change={r['change_n']}"
                  f"@{r['change_confidence']} {','.join(r['change_votes'])}")
    print("\n| height | txs | CoinJoins (protocol: count) | change found | change >= 0.9 |")
    print("|---|---|---|---|---|")
    for h in sorted(per):
        c = per[h]
        cjs = ", ".join(f"{k} {v}" for k, v in sorted(c.items())
                        if k in coinjoin.PROTOCOL_NAMES.values() and v) or "-"
        print(f"| {h if h >= 0 else 'unknown (169482)'} | {c['tx']} | {cjs} | {c['change']} | {c['change>=0.9']} |")
    print(f"\n{len(view):,} transactions: detectors + consensus in {seconds:.3f} s "
          f"({len(view) / seconds:,.0f} tx/s)")


if __name__ == "__main__":
    main()
