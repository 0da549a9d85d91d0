"""Reliability corpus: damaged stores (issue 13, items 5 and 6), and the cost of store integrity.

    .venv/bin/python benchmarks/reliability_stores.py            # the damage corpus, counted
    .venv/bin/python benchmarks/reliability_stores.py --measure STORE
                                                                 # fsck speed and checksum cost

The corpus (tests/support/store_damage.py) damages copies of a real store (mainnet blocks 0-599 in
four batches): the catalog deleted, truncated, garbage or bit-flipped; lake files bit-flipped (also
with their modification time kept: bit rot), truncated, swapped, replaced by another store's file,
deleted, joined by extra files, or unreadable; then runs status, export, trace, fsck, tags import
and ingest through the real CLI on each. Printed: inputs tried, clean one-line errors, accepted as
valid (same output as the undamaged store) or recovered, tracebacks, hangs (a command over 60 s),
data wrong (a read giving other output without an error) or lost (a command changed the store).

`--measure STORE` times `fsck` on an existing store (MB/s, files/s) and, over its lake files,
writing Parquet with and without page checksums, reading with and without verifying them, and
SHA-256 (what each write records and each fsck recomputes).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
DATA = Path(os.environ.get("FUNDTRAIL_TESTDATA", ROOT.parent / "shared" / "data"))
HANG_S = 60.0


def corpus(seed: int) -> int:
    from support import store_damage as sd

    base = Path(tempfile.mkdtemp(prefix="reliability-stores-"))
    try:
        pristine, other = sd.build_stores(DATA, base)
        cmds = sd.commands(DATA, base / "blocks")
        ref = {n: sd.normalized(sd.run(pristine, cmds[n])[1], pristine) for n in ("status", "export", "trace")}
        damages = sd.damages(other, seed=seed)
        tally: Counter[str] = Counter()
        notes: list[str] = []
        for d in damages:
            store = base / "case"
            shutil.rmtree(store, ignore_errors=True)
            shutil.copytree(pristine, store)
            d.apply(store)
            after = sd.state(store)
            for name, argv in cmds.items():
                before = after
                t = time.perf_counter()
                code, out, err = sd.run(store, argv)
                took = time.perf_counter() - t
                after = sd.state(store)
                outcome = sd.judge(code, sd.normalized(out, store), err, ref.get(name))
                if after != before:
                    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
                    debris = all(k.startswith("lake/") and k not in after and Path(k).name.startswith("batch-")
                                 for k in changed)
                    outcome = "recovered" if name == "ingest" and code == 0 and debris else "lost"
                if took > HANG_S:
                    outcome = "hang"
                tally[outcome] += 1
                if outcome in ("traceback", "lost", "hang", "wrong"):
                    notes.append(f"  {d.name} / {name}: {outcome}: {(err.strip().splitlines() or [''])[-1][:160]}")
            sd.restore_modes(store)
        n = sum(tally.values())
        print(f"store damage corpus, seed {seed}: {len(damages)} damaged stores x {len(cmds)} commands "
              f"= {n} runs ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})")
        print(f"  clean one-line errors: {tally['clean']}")
        print(f"  accepted as valid (output equal to the undamaged store's): {tally['ok']}")
        print(f"  recovered (debris removed by ingest): {tally['recovered']}")
        print(f"  tracebacks: {tally['traceback']}   hangs: {tally['hang']}")
        print(f"  data wrong (read without error, other output): {tally['wrong']}   lost: {tally['lost']}")
        for line in notes:
            print(line)
        return 1 if tally["traceback"] or tally["hang"] or tally["lost"] else 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def measure(store_dir: Path) -> None:
    from fundtrail.store import Store
    from fundtrail.store.fsck import fsck
    from fundtrail.store.integrity import sha256_file

    store = Store.open(store_dir, create=False)
    t = time.perf_counter()
    rep = fsck(store)
    took = time.perf_counter() - t
    print(f"fsck {store_dir}: {rep.files} files, {rep.bytes / 1e6:,.1f} MB in {took:.2f} s = "
          f"{rep.bytes / 1e6 / took:,.0f} MB/s, {rep.files / took:,.0f} files/s; "
          f"{len(rep.errors)} errors, {len(rep.findings) - len(rep.errors)} warnings")
    files = sorted(store.lake.rglob("*.parquet"))
    tables = [pq.read_table(f) for f in files]
    total = sum(f.stat().st_size for f in files)
    rows = sum(t.num_rows for t in tables)
    tmp = Path(tempfile.mkdtemp(prefix="checksum-cost-"))
    try:
        res = {}
        for crc in (False, True):
            t = time.perf_counter()
            for i, tab in enumerate(tables):
                pq.write_table(tab, tmp / f"{crc}-{i}.parquet", compression="zstd", compression_level=1,
                               write_page_checksum=crc)
            res[f"write crc={crc}"] = time.perf_counter() - t
        for verify in (False, True):
            t = time.perf_counter()
            for i in range(len(tables)):
                pq.read_table(tmp / f"True-{i}.parquet", page_checksum_verification=verify)
            res[f"read verify={verify}"] = time.perf_counter() - t
        t = time.perf_counter()
        for f in files:
            sha256_file(f)
        res["sha256"] = time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"lake: {len(files)} files, {total / 1e6:,.1f} MB, {rows:,} rows")
    for k, v in res.items():
        print(f"  {k}: {v:.3f} s ({total / 1e6 / v:,.0f} MB/s)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--measure", type=Path, help="time fsck and checksums on this store instead")
    args = ap.parse_args()
    if args.measure:
        measure(args.measure)
        return 0
    return corpus(args.seed)


if __name__ == "__main__":
    sys.exit(main())
