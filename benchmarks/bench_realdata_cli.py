"""Benchmark: the commands a new user ran on real data (issue 12), as separate CLI processes.

    python benchmarks/bench_realdata_cli.py [--data ../shared/data] [--work DIR]

Builds a store of real mainnet blocks 0-599 plus the busy block 574200, imports every shared label
source (tagpacks, sanctions, labels, ransomware: ~700k tags), then times each command in its own
process and reports wall time and the process's peak RSS:

- `cluster run` with all tags imported (issue 12 item 4: over 12 minutes before the fix);
- `risk not-an-address` (item 10: 3-13 s and ~1 GB before);
- the first `risk ADDRESS` after the import (item 17: 47 s of silent index building before);
- `trace 12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S` (item 1) and the sanctioned transaction `41f366c2…` (item 2).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BLOCK_574200 = "btcd/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk"
SANCTIONED_TX = "41f366c2afcc222fe45398b6dc13dcca8874ca6ed288420700575495d03f8dad"


def run(store: Path, *args: str) -> tuple[float, float, int]:
    """(seconds, peak RSS MB of that process, exit code) of one `fundtrail` command."""
    exe = Path(sys.executable).with_name("fundtrail")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(exe), "--store", str(store), "-q", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not the running maximum
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--work", type=Path, default=None)
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="bench-realdata-"))
    blocks = work / "blocks"
    blocks.mkdir(parents=True, exist_ok=True)
    for name in ("blk00000.dat", "blk00001.dat"):
        shutil.copy(a.data / "btc-raw-blocks" / "nbitcoin" / name, blocks / name)
    store = work / "store"
    print(f"machine: {os.cpu_count()} cores; work dir {work}")
    steps = [
        ("ingest blocks 0-599", ("ingest", "bitcoin", "--blocks-dir", str(blocks))),
        ("ingest block 574200", ("ingest", "bitcoin", "--raw", str(a.data / "btc-raw-blocks" / BLOCK_574200))),
        ("tags import (all shared sources)", ("tags", "import", *(str(a.data / d) for d in
                                                                   ("tagpacks", "sanctions", "labels", "ransomware")))),
        ("cluster run with all tags", ("cluster", "run")),
        ("risk not-an-address (rejected)", ("risk", "not-an-address")),
        ("first risk after import (cold indexes)", ("risk", "1NpHuti9NSM9fVTXLkvSDU4AnhqGQ5N53d")),
        ("risk again (warm)", ("risk", "1NpHuti9NSM9fVTXLkvSDU4AnhqGQ5N53d")),
        ("risk of the sanctioned transaction", ("risk", SANCTIONED_TX)),
        ("trace 12cbQ… (address seed)", ("trace", "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S", "--json")),
    ]
    print(f"{'step':42s} {'seconds':>8s} {'peak RSS MB':>12s} exit")
    for label, args in steps:
        seconds, peak, code = run(store, *args)
        print(f"{label:42s} {seconds:8.2f} {peak:12.0f} {code}")
    if a.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
