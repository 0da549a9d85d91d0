"""Block-data reliability corpus: seeded mutations of real blocks, each ingested into a real store.

    .venv/bin/python benchmarks/reliability_blocks.py [--cases 1000] [--seed 13] [--data ../shared/data]

Every case mutates real mainnet blocks (blk records of blocks 20-59 on top of a store holding 0-19,
or the busy blocks 169482 / 227835): bit flips, truncations, insertions, zeroed ranges, length-field
changes, CompactSize re-encodings, duplicated transactions, swapped blocks. It then ingests the
result with `ingest_raw_files` and classifies the outcome:

- clean error: a FundtrailError (one line, exit code from the tree); the store either equals the
  store before (catalog rows and lake files) or holds only real blocks more (the documented
  recovery: good blocks of a damaged input are stored, the damage reported);
- accepted: no error (the mutation kept the data valid, e.g. swapped blocks); the store holds only
  real blocks at their real heights;
- traceback: any other exception; hang: a case over 20 s; wrong or lost: a stored block that is
  not a real block, a real block at a wrong height or with a wrong transaction count, or a block
  stored before that is gone.

`tests/ingest/bitcoin/test_fuzz_blocks.py` runs a few hundred cases of the same corpus.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from fundtrail.errors import FundtrailError
from fundtrail.ingest.bitcoin.jobs import ingest_raw_files
from fundtrail.store import Store

BASE_BLOCKS = 20
STREAM_BLOCKS = 40
MUTATIONS = ("bit_flip", "header_bit_flip", "truncate", "insert", "zero_range", "length_field",
             "compact_size", "duplicate_tx", "duplicate_last_txs", "swap_blocks", "drop_bytes")


def _sha256d(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def _records(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos + 8 <= len(data):
        n = int.from_bytes(data[pos + 4:pos + 8], "little")
        out.append(data[pos + 8:pos + 8 + n])
        pos += 8 + n
    return out


def _varint(b: bytes, pos: int) -> tuple[int, int]:
    first = b[pos]
    if first < 0xFD:
        return first, pos + 1
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    return int.from_bytes(b[pos + 1:pos + 1 + width], "little"), pos + 1 + width


def _tx_bounds(raw: bytes) -> list[tuple[int, int]]:
    """(start, end) of each transaction of a block without witnesses (the old blocks used here)."""
    n, pos = _varint(raw, 80)
    out = []
    for _ in range(n):
        start = pos
        pos += 4
        if raw[pos] == 0:
            return []  # segwit: not used by the duplicate mutations
        k, pos = _varint(raw, pos)
        for _ in range(k):
            ln, pos = _varint(raw, pos + 36)
            pos += ln + 4
        k, pos = _varint(raw, pos)
        for _ in range(k):
            ln, pos = _varint(raw, pos + 8)
            pos += ln
        pos += 4
        out.append((start, pos))
    return out


def _compact(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    return b"\xfe" + n.to_bytes(4, "little")


class Corpus:
    """The real blocks the mutations start from, and what a store may hold of them."""

    def __init__(self, data: Path) -> None:
        btc = data / "btc-raw-blocks"
        self.blk0 = (btc / "nbitcoin" / "blk00000.dat").read_bytes()
        recs = _records(self.blk0)
        self.base = recs[:BASE_BLOCKS]
        self.stream = recs[BASE_BLOCKS:BASE_BLOCKS + STREAM_BLOCKS]
        self.busy = {169482: (btc / "bitcoinj" / "block169482.dat").read_bytes(),
                     227835: (btc / "bitcoinj" / "block227835.dat").read_bytes()}
        self.real: dict[bytes, tuple[int, int]] = {}  # hash -> (height, tx count)
        for h, raw in enumerate(recs):
            self.real[_sha256d(raw[:80])] = (h, _varint(raw, 80)[0])
        for h, raw in self.busy.items():
            self.real[_sha256d(raw[:80])] = (h, _varint(raw, 80)[0])

    @staticmethod
    def frame(raws: list[bytes]) -> bytes:
        return b"".join(b"\xf9\xbe\xb4\xd9" + len(r).to_bytes(4, "little") + r for r in raws)

    def mutate(self, rng: random.Random, kind: str) -> bytes:
        """One mutated input file's bytes."""
        if kind in ("duplicate_tx", "duplicate_last_txs", "compact_size"):
            raw = self.busy[rng.choice(list(self.busy))]
            txs = _tx_bounds(raw)
            n = len(txs)
            if kind == "compact_size":  # the tx count in a longer, non-canonical encoding
                return raw[:80] + b"\xfe" + n.to_bytes(4, "little") + raw[81:]
            if kind == "duplicate_last_txs":
                k = 2 if n % 2 == 0 else 1
                tail = raw[txs[n - k][0]:txs[-1][1]]
                return raw[:80] + _compact(n + k) + raw[txs[0][0]:] + tail
            i = rng.randrange(1, n)
            s, e = txs[i]
            return raw[:80] + _compact(n + 1) + raw[txs[0][0]:e] + raw[s:e] + raw[e:]
        data = bytearray(self.frame(self.stream))
        if kind == "swap_blocks":
            recs = list(self.stream)
            i, j = rng.sample(range(len(recs)), 2)
            recs[i], recs[j] = recs[j], recs[i]
            return self.frame(recs)
        offsets, pos = [], 0
        for r in self.stream:
            offsets.append(pos)
            pos += 8 + len(r)
        if kind == "bit_flip":
            at = rng.randrange(len(data))
            data[at] ^= 1 << rng.randrange(8)
        elif kind == "header_bit_flip":
            at = rng.choice(offsets) + 8 + rng.randrange(80)
            data[at] ^= 1 << rng.randrange(8)
        elif kind == "truncate":
            del data[rng.randrange(1, len(data)):]
        elif kind == "insert":
            at = rng.randrange(len(data))
            data[at:at] = rng.randbytes(rng.randrange(1, 300))
        elif kind == "drop_bytes":
            at = rng.randrange(len(data))
            del data[at:at + rng.randrange(1, 300)]
        elif kind == "zero_range":
            at = rng.randrange(len(data))
            n = rng.randrange(1, 2000)
            data[at:at + n] = bytes(len(data[at:at + n]))
        elif kind == "length_field":
            at = rng.choice(offsets) + 4
            old = int.from_bytes(data[at:at + 4], "little")
            new = rng.choice([0, 80, old - 1, old + 1, old + rng.randrange(1, 5000), 0xFFFFFFFF,
                              rng.randrange(1 << 32)])
            data[at:at + 4] = (new & 0xFFFFFFFF).to_bytes(4, "little")
        return bytes(data)


def _snapshot(root: Path) -> tuple:
    with Store(root).connect(read_only=True) as con:
        batches = con.execute("SELECT batch_id, n_blocks, n_tx, files FROM batches ORDER BY ALL").fetchall()
        index = con.execute("SELECT block_id, hash, height FROM block_index ORDER BY ALL").fetchall()
    files = sorted((str(p.relative_to(root)), p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
                   for p in (root / "lake").rglob("*") if p.is_file())
    return batches, index, files


def _stored(root: Path) -> list[tuple[bytes, int | None, int]]:
    with Store(root).query() as con:
        rows = con.execute("SELECT hash, height, tx_count FROM btc_blocks").fetchall()
    return [(bytes(h), ht, n) for h, ht, n in rows]


class _Timeout(Exception):
    pass


def _alarm(*_: object) -> None:
    raise _Timeout()


def run_case(corpus: Corpus, base_store: Path, work: Path, rng: random.Random, kind: str,
             timeout: int = 20) -> tuple[str, str]:
    """Mutate, ingest, classify: returns (outcome, detail)."""
    root = work / "store"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(base_store, root)
    path = work / "input.dat"
    path.write_bytes(corpus.mutate(rng, kind))
    before = _snapshot(root)
    before_blocks = {h for h, _, _ in _stored(root)}
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    error: FundtrailError | None = None
    try:
        ingest_raw_files(Store.open(root), [path])
    except FundtrailError as exc:
        error = exc
    except _Timeout:
        return "hang", kind
    except Exception as exc:  # noqa: BLE001 - the corpus counts these
        return "traceback", f"{kind}: {type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    stored = _stored(root)
    have = {h for h, _, _ in stored}
    if not before_blocks <= have:
        return "lost", kind
    for h, height, n in stored:
        real = corpus.real.get(h)
        if real is None or (height is not None and height != real[0]) or n != real[1]:
            return "wrong", f"{kind}: block {h[::-1].hex()} height {height} txs {n}"
    if error is not None:
        line = error.one_line()
        if "\n" in line or error.exit_code not in (2, 3, 4, 5, 6):
            return "traceback", f"{kind}: not one line / bad exit code: {line!r}"
        if have == before_blocks and _snapshot(root) != before:
            return "wrong", f"{kind}: rejected but the store changed"
        return ("clean_error" if have == before_blocks else "recovered"), line
    return "accepted", kind


def build_base(corpus: Corpus, where: Path) -> Path:
    base = where / "base"
    src = where / "base.dat"
    src.write_bytes(corpus.frame(corpus.base))
    ingest_raw_files(Store.open(base), [src])
    return base


def run(cases: int, seed: int, data: Path) -> Counter:
    corpus = Corpus(data)
    rng = random.Random(seed)
    out: Counter = Counter()
    examples: dict[str, str] = {}
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="ft-relblocks-", dir=shm) as tmp:  # tmpfs: fsync is free
        work = Path(tmp)
        base = build_base(corpus, work)
        for i in range(cases):
            kind = MUTATIONS[i % len(MUTATIONS)]
            outcome, detail = run_case(corpus, base, work, rng, kind)
            out[outcome] += 1
            out[f"{outcome}:{kind}"] += 1
            if outcome in ("traceback", "hang", "wrong", "lost"):
                examples.setdefault(outcome, detail)
    out["_examples"] = examples  # type: ignore[assignment]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1100)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("FUNDTRAIL_TESTDATA", "../shared/data")))
    args = ap.parse_args()
    t0 = time.perf_counter()
    c = run(args.cases, args.seed, args.data)
    secs = time.perf_counter() - t0
    print(f"block-data reliability corpus: seed {args.seed}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, python {sys.version.split()[0]}, {secs:.0f}s")
    print(f"inputs tried         {args.cases}")
    print(f"clean errors         {c['clean_error']}")
    print(f"recovered/accepted   {c['recovered']} / {c['accepted']}")
    print(f"tracebacks           {c['traceback']}")
    print(f"hangs                {c['hang']}")
    print(f"data wrong or lost   {c['wrong'] + c['lost']}")
    for kind in MUTATIONS:
        parts = [f"{o}={c[f'{o}:{kind}']}" for o in ("clean_error", "recovered", "accepted", "traceback",
                                                     "hang", "wrong", "lost") if c[f"{o}:{kind}"]]
        print(f"  {kind:20s} {' '.join(parts)}")
    for outcome, detail in c["_examples"].items():  # type: ignore[union-attr]
        print(f"  first {outcome}: {detail}")


if __name__ == "__main__":
    main()
