"""Benchmark: Bitcoin ingest end to end on real busy mainnet blocks, against embit's parse alone.

    .venv/bin/python benchmarks/bench_ingest_bitcoin.py [--min-tx 300000] [--runs 2] [--one-core]

The busy real blocks of ../shared/data (14 blocks, 2012-2026) are repeated until at least --min-tx
transactions. Each copy after the first gets unique txids (every transaction's locktime is changed,
spends of same-block parents are re-pointed, merkle roots and headers are recomputed) and unique
addresses (payload bytes of standard outputs changed), so the store really holds that many distinct
transactions and addresses rather than skipping duplicates.

Measured: parse, txid, merkle check, script classification, address ids, input resolution against
the unspent set, and the Parquet write with catalog commit, through `BitcoinIngest` (the code
`fundtrail ingest bitcoin` runs). By default on every core the machine gives (`ingest/bitcoin/
overlap.py`: batch N+1 parsed, hashed and decoded by a worker while batch N is resolved, written
and committed); --one-core pins the process to one core and stores one batch at a time, as before.
Then embit parses the same blocks (transactions only, nothing stored) in the same run, for the
ratio of the times. Prints figures and peak memory. One-time process costs (numba's compiled-code
cache, pyarrow's lazy import of pandas on its first `pa.array`) are paid before the timed region.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import io
import os
import platform
import resource
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("FUNDTRAIL_TESTDATA", ROOT.parent / "shared" / "data")) / "btc-raw-blocks"
BUSY = [
    "bitcoinj/block169482.dat", "bitcoinj/block227835.dat", "bitcoinj/block227836.dat",
    "bitcoinj/block363703.dat", "bitcoinj/block370661.dat", "bitcoinj/block383616.dat",
    "bitcoinj/block481815.dat", "bitcoinj/block481829.dat", "bcoin/block300025.raw",
    "bcoin/block426884.raw", "bcoin/block482683.raw",
    "btcd/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk",
    "btcd/block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk",
    "electrumx/block951658.hex",
]


def load_busy() -> list[bytes]:
    out = []
    for rel in BUSY:
        data = (DATA / rel).read_bytes()
        out.append(bytes.fromhex(data.decode().strip()) if rel.endswith(".hex") else data)
    return out


def sha256d(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def compact(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    return b"\xfd" + struct.pack("<H", n) if n <= 0xFFFF else b"\xfe" + struct.pack("<I", n)


def uniquify(raw: bytes, k: int) -> bytes:
    """Copy `raw` with new txids (locktime ^= k) and new addresses (payload bytes ^ k), parents
    re-pointed, merkle root recomputed: a distinct block with the same shape."""
    from fundtrail.chains.bitcoin.parser import parse_batch

    pb = parse_batch([raw], ["copy"])
    new_ids: dict[bytes, bytes] = {}
    txs, txids = [], []
    for t in range(pb.n_tx):
        s, e = int(pb.tx_start[t]), int(pb.tx_end[t])
        tx = bytearray(raw[s:e])
        lock = struct.unpack_from("<I", tx, len(tx) - 4)[0] ^ (0x5A000000 | k)
        struct.pack_into("<I", tx, len(tx) - 4, lock)
        for i in range(int(pb.tx_first_in[t]), int(pb.tx_first_in[t]) + int(pb.tx_nin[t])):
            off = int(pb.in_prev[i]) - s
            prev = bytes(tx[off:off + 32])
            if prev in new_ids:
                tx[off:off + 32] = new_ids[prev]
        for o in range(int(pb.tx_first_out[t]), int(pb.tx_first_out[t]) + int(pb.tx_nout[t])):
            if pb.out_type[o] in (1, 2, 3, 4, 5, 6):  # give each copy its own addresses too
                off = int(pb.out_pay_off[o]) - s + 1
                tx[off:off + 4] = bytes(x ^ y for x, y in zip(tx[off:off + 4], struct.pack("<I", k)))
        io_s, io_e = int(pb.tx_io_start[t]) - s, int(pb.tx_io_end[t]) - s
        stripped = bytes(tx[:4]) + bytes(tx[io_s:io_e]) + bytes(tx[-4:])
        old = sha256d(raw[s:s + 4] + raw[int(pb.tx_io_start[t]):int(pb.tx_io_end[t])] + raw[e - 4:e])
        new_ids[old] = sha256d(stripped)
        txids.append(new_ids[old])
        txs.append(bytes(tx))
    level = txids[:]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    header = bytearray(raw[:80])
    header[36:68] = level[0]
    return bytes(header) + compact(len(txs)) + b"".join(txs)


def embit_parse(blocks: list[bytes]) -> int:
    from embit.transaction import Transaction

    n = 0
    for raw in blocks:
        s = io.BytesIO(raw)
        s.read(80)
        first = s.read(1)[0]
        count = first if first < 0xFD else int.from_bytes(s.read({0xFD: 2, 0xFE: 4, 0xFF: 8}[first]), "little")
        for _ in range(count):
            Transaction.read_from(s)
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-tx", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=1, help="ingest runs (each into a new store)")
    ap.add_argument("--one-core", action="store_true",
                    help="pin to one core and store one batch at a time (no worker thread)")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark store")
    ap.add_argument("--batch-mb", type=int, default=None,
                    help="ingest batch size in MB of block data (default: the ingest's default, 64)")
    ap.add_argument("--no-validation", action="store_true",
                    help="turn off the header checks (proof of work, difficulty, merkle malleation) "
                         "to measure what they cost")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA} (set FUNDTRAIL_TESTDATA)")
    if args.one_core:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        pa.set_cpu_count(1)
        pa.set_io_thread_count(1)
    cores = len(os.sched_getaffinity(0))

    from fundtrail.chains.bitcoin.params import MAINNET
    from fundtrail.chains.bitcoin.parser import parse_batch
    from fundtrail.ingest.bitcoin import validate

    if args.no_validation:
        validate.VALIDATE = False
    else:
        # The copies' headers cannot carry mainnet proof of work (their merkle roots changed): the
        # check is computed for every block as in a real run, and its verdict ignored.
        checked = validate.own_pow_error
        validate.own_pow_error = lambda *a: (checked(*a), None)[1]
    from fundtrail.ingest.bitcoin.decode import BlockMeta
    from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest
    from fundtrail.store import Store

    base = load_busy()
    per_copy = parse_batch(base, ["b"] * len(base)).n_tx
    copies = -(-args.min_tx // per_copy)
    t = time.perf_counter()
    blocks = list(base) + [uniquify(b, k) for k in range(1, copies) for b in base]
    prep = time.perf_counter() - t
    total_bytes = sum(map(len, blocks))
    # one-time process costs outside the timed region: numba's caches, pyarrow's pandas import
    parse_batch(base[:1], ["warm"])
    t = time.perf_counter()
    pa.array([0])
    warm_s = time.perf_counter() - t

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for run in range(args.runs):
        work = Path(tempfile.mkdtemp(prefix="fundtrail-bench-"))
        store = Store.open(work / "store")
        gc.collect()
        t0 = time.perf_counter()
        sized = {"batch_bytes": args.batch_mb << 20} if args.batch_mb else {}
        ing = BitcoinIngest(store, MAINNET, overlap=not args.one_core, **sized)
        ing.ingest(((b, BlockMeta(None, f"copy{i}")) for i, b in enumerate(blocks)), "benchmark")
        report = ing.finish()
        elapsed = time.perf_counter() - t0
        times.append(elapsed)
        lake_bytes = sum(p.stat().st_size for p in (work / "store" / "lake").rglob("*.parquet"))
        utxo, addr = ing.state.utxo, ing.state.addresses
        ing.close()
        print(f"run {run + 1}: ingest end to end: {report.transactions:,} tx, {report.inputs:,} inputs, "
              f"{report.outputs:,} outputs in {elapsed:.2f}s = {report.transactions / elapsed:,.0f} tx/s "
              f"({total_bytes / 1e6 / elapsed:.1f} MB/s), {report.batches} batches", flush=True)
        if args.keep and run == args.runs - 1:
            print(f"store kept at {work}")
        else:
            shutil.rmtree(work)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    # the parse stage alone, plus txids, in 64 MB batches
    from fundtrail.chains.bitcoin.txid import compute_txids

    t = time.perf_counter()
    n_parsed, chunk, size = 0, [], 0
    for b in blocks + [b""]:
        if b:
            chunk.append(b)
            size += len(b)
        if chunk and (size >= 64 << 20 or not b):
            pb = parse_batch(chunk, ["b"] * len(chunk))
            n_parsed += pb.n_tx
            chunk, size = [], 0
    parse_s = time.perf_counter() - t
    t = time.perf_counter()
    pb = parse_batch(blocks[:len(base) * 4], ["b"] * len(base) * 4)
    compute_txids(pb)
    txid_rate = pb.n_tx / (time.perf_counter() - t)

    t = time.perf_counter()
    n_embit = embit_parse(blocks)
    embit_s = time.perf_counter() - t
    best = min(times)
    theirs = n_embit / embit_s

    mode = ("pinned to 1 core, one batch at a time" if args.one_core
            else f"{cores} cores, batch N+1 prepared in a worker thread while batch N is stored")
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}; {mode}; header validation {'off' if args.no_validation else 'on'}")
    print(f"input: {len(base)} busy mainnet blocks x {copies} copies = {len(blocks)} blocks, "
          f"{total_bytes / 1e6:.1f} MB (copies prepared in {prep:.1f}s, not timed; one-time pyarrow "
          f"import {warm_s:.2f}s, not timed)")
    print(f"ingest end to end, best of {len(times)}: {best:.2f}s = {report.transactions / best:,.0f} tx/s "
          f"(runs: {', '.join(f'{x:.2f}s' for x in times)})")
    print(f"fundtrail parse stage alone: {n_parsed / parse_s:,.0f} tx/s "
          f"({n_parsed / parse_s / theirs:.1f}x embit); parse + txids: {txid_rate:,.0f} tx/s")
    print(f"embit parse only, the same {len(blocks)} blocks: {n_embit:,} tx in {embit_s:.2f}s = "
          f"{theirs:,.0f} tx/s")
    print(f"ratio of times, fundtrail ingest end to end / embit parse alone: best {best / embit_s:.2f} "
          f"(runs: {', '.join(f'{x / embit_s:.2f}' for x in times)}); goal <= 0.4")
    print(f"store: {lake_bytes / 1e6:.1f} MB of Parquet ({lake_bytes / report.transactions:.0f} B/tx)")
    print(f"unspent set: {utxo.count:,} entries in {utxo.nbytes / 1e6:.1f} MB "
          f"({utxo.nbytes / max(utxo.count, 1):.0f} B/entry at load {utxo.count / utxo.capacity:.2f}); "
          f"address index: {addr.count:,} in {addr.nbytes / 1e6:.1f} MB")
    print(f"peak RSS: {rss1 / 1024:.0f} MB (before ingest {rss0 / 1024:.0f} MB, the input held in memory)")


if __name__ == "__main__":
    main()
