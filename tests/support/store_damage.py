"""The store-damage corpus (issue 13, items 5 and 6): ways a store directory gets damaged, the
commands a user then runs, and how each outcome is judged. Shared by tests/store/test_damage*.py
and benchmarks/reliability_stores.py.

Every command runs through the real CLI (`fundtrail.cli.main.main`) on a copy of a real store
(mainnet blocks 0-599 in four batches). An outcome is one of: `clean` (a one-line error with an
exit code from the error tree), `ok` (exit 0 and, for reads, the same output as the undamaged
store), `wrong` (exit 0 but output that differs from the undamaged store's), `traceback`, or `lost`
(the command changed what the store holds: lake files or catalog rows).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from fundtrail.cli.main import main
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.store import Store

CATALOG_TABLES = ("chains", "batches", "block_index", "lake_files", "ingest_runs", "schema_migrations")
TRACE_TXID = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"  # block 170: first payment
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


@dataclass(frozen=True)
class Damage:
    name: str
    kind: str  # "catalog" or "lake"
    apply: Callable[[Path], None]
    #: reads cannot see it (size and time unchanged: bit rot); only fsck can
    silent_at_read: bool = False


def build_stores(testdata: Path, base: Path) -> tuple[Path, Path]:
    """(pristine store, another store of the same blocks cut into other batches)."""
    bdir = base / "blocks"
    bdir.mkdir(parents=True, exist_ok=True)
    for name in ("blk00000.dat", "blk00001.dat"):
        shutil.copy(testdata / "btc-raw-blocks" / "nbitcoin" / name, bdir / name)
    ingest_blocks_dir(Store.open(base / "pristine"), bdir, batch_blocks=150)
    ingest_blocks_dir(Store.open(base / "other"), bdir, batch_blocks=200)
    return base / "pristine", base / "other"


def lake_files(store: Path) -> list[Path]:
    return sorted(p for p in (store / "lake").rglob("*.parquet"))


# --- damages -----------------------------------------------------------------------------------

def _flip(path: Path, rng: random.Random, keep_time: bool = False) -> None:
    st = path.stat()
    data = bytearray(path.read_bytes())
    footer = pq.ParquetFile(path).metadata.serialized_size + 8
    pos = rng.randrange(4, max(5, len(data) - footer))
    data[pos] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    if keep_time:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _pick(store: Path, rng: random.Random, table: str | None = None) -> Path:
    files = [p for p in lake_files(store) if table is None or p.parent.name == table]
    return rng.choice(files)


def damages(other: Path, seed: int = 13, flips: int = 24, rot: int = 6, catalog_flips: int = 6,
            tables: tuple[str, ...] = ("blocks", "transactions", "outputs", "inputs", "addresses"),
            ) -> list[Damage]:
    """The corpus: catalog damage, then lake damage (bit flips, truncation, swaps, deletions,
    extra files, unreadable files), each a function applied to a copy of the pristine store."""
    out: list[Damage] = []
    cat = "catalog.duckdb"

    def catalog(name: str, fn: Callable[[Path], None]) -> None:
        out.append(Damage(f"catalog-{name}", "catalog", fn))

    catalog("deleted", lambda s: (s / cat).unlink())
    catalog("deleted-wal-left", lambda s: ((s / cat).rename(s / f"{cat}.wal")))
    catalog("empty", lambda s: (s / cat).write_bytes(b""))
    catalog("truncated-4k", lambda s: (s / cat).write_bytes((s / cat).read_bytes()[:4096]))
    catalog("truncated-half", lambda s: (s / cat).write_bytes((s / cat).read_bytes()[: (s / cat).stat().st_size // 2]))
    catalog("garbage", lambda s: (s / cat).write_bytes(random.Random(seed).randbytes((s / cat).stat().st_size)))
    catalog("directory", lambda s: ((s / cat).unlink(), (s / cat).mkdir()))
    for i in range(catalog_flips):
        def flip_catalog(s: Path, i: int = i) -> None:
            p = s / cat
            data = bytearray(p.read_bytes())
            r = random.Random(seed * 1000 + i)
            data[r.randrange(4096 * 3, len(data))] ^= 1 << r.randrange(8)  # past the headers: data blocks
            p.write_bytes(bytes(data))
        catalog(f"bitflip-{i}", flip_catalog)

    def lake(name: str, fn: Callable[[Path], None], silent: bool = False) -> None:
        out.append(Damage(f"lake-{name}", "lake", fn, silent))

    for i in range(flips):
        lake(f"bitflip-{i}", lambda s, i=i: _flip(_pick(s, random.Random(seed + i)), random.Random(seed + i)))
    for i in range(rot):
        lake(f"bitrot-{i}", lambda s, i=i: _flip(_pick(s, random.Random(-seed - i)), random.Random(-seed - i),
                                                keep_time=True), silent=True)
    for table in tables:
        lake(f"truncated-half-{table}", lambda s, t=table: _truncate(_pick(s, random.Random(seed), t), 0.5))
        lake(f"truncated-empty-{table}", lambda s, t=table: _truncate(_pick(s, random.Random(seed), t), 0.0))
        lake(f"deleted-{table}", lambda s, t=table: _pick(s, random.Random(seed), t).unlink())
        lake(f"swapped-{table}", lambda s, t=table: _swap(s / "lake" / "btc" / t))
        lake(f"foreign-{table}", lambda s, t=table: shutil.copy(
            other / "lake" / "btc" / t / "batch-00000001.parquet", s / "lake" / "btc" / t / "batch-00000001.parquet"))
    lake("extra-partition", lambda s: shutil.copy(s / "lake/btc/outputs/batch-00000000.parquet",
                                                  s / "lake/btc/outputs/batch-00000099.parquet"))
    lake("extra-file", lambda s: (s / "lake/btc/notes.txt").write_text("analyst notes\n"))
    lake("extra-chain-dir", lambda s: ((s / "lake/btc-x/outputs").mkdir(parents=True),
                                       (s / "lake/btc-x/outputs/batch-00000000.parquet").write_bytes(b"x")))
    lake("partition-is-directory", lambda s: (_second(s, "inputs").unlink(), _second(s, "inputs").mkdir()))
    if not ROOT:  # root reads files whatever their mode
        lake("unreadable-partition", lambda s: os.chmod(_second(s, "outputs"), 0))
        lake("unreadable-table-dir", lambda s: os.chmod(s / "lake/btc/transactions", 0))
    return out


def _second(store: Path, table: str) -> Path:
    return store / "lake" / "btc" / table / "batch-00000001.parquet"


def _truncate(path: Path, share: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])


def _swap(folder: Path) -> None:
    a, b = sorted(folder.glob("batch-*.parquet"))[:2]
    tmp = folder / "swap.tmp"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def restore_modes(store: Path) -> None:
    """Undo chmod damage so that the copy can be compared and deleted."""
    for p in [store, *store.rglob("*")]:
        with contextlib.suppress(OSError):
            os.chmod(p, stat.S_IMODE(p.stat().st_mode) | (0o700 if p.is_dir() else 0o600))


# --- commands and outcomes -------------------------------------------------------------------

def commands(testdata: Path, blocks: Path) -> dict[str, list[str]]:
    ofac = testdata / "sanctions" / "ofac-0xB10C" / "sanctioned_addresses_XBT.txt"
    return {
        "status": ["status"],
        "export": ["export", "transactions"],
        "trace": ["trace", TRACE_TXID],
        "fsck": ["fsck"],
        "ingest": ["ingest", "bitcoin", "--blocks-dir", str(blocks)],
        "tags-import": ["tags", "import", "--format", "ofac", "--currency", "BTC", str(ofac)],
    }


def run(store: Path, argv: list[str]) -> tuple[int, str, str]:
    """The CLI in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["--store", str(store), "-q", *argv])
        except BaseException as exc:  # noqa: BLE001 (a traceback of the CLI itself)
            import traceback

            err.write("Traceback (most recent call last):\n" + "".join(traceback.format_exception(exc)))
            code = 1
    return code, out.getvalue(), err.getvalue()


def state(store: Path) -> dict[str, object]:
    """What the store holds: every lake file's SHA-256 and the catalog's chain rows (or the
    catalog file's bytes when it cannot be opened)."""
    got: dict[str, object] = {}
    for p in sorted((store / "lake").rglob("*")) if (store / "lake").exists() else []:
        rel = str(p.relative_to(store))
        try:
            got[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        except OSError as exc:
            got[rel] = f"unreadable {exc.errno}"
    cat = store / "catalog.duckdb"
    if cat.is_file():
        try:
            con = duckdb.connect(str(cat), read_only=True)
            try:
                for t in CATALOG_TABLES[:4]:
                    got[f"catalog:{t}"] = con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            finally:
                con.close()
        except duckdb.Error:
            got["catalog:bytes"] = hashlib.sha256(cat.read_bytes()).hexdigest()
    else:
        got["catalog"] = "absent" if not cat.exists() else "not a file"
    return got


def normalized(out: str, store: Path) -> str:
    """Output comparable between copies of a store: no store path, no timings."""
    out = out.replace(str(store), "<store>")
    return re.sub(r" in [0-9.,]+ (ms|s)\b", " in <t>", out)


def judge(code: int, out: str, err: str, reference_out: str | None) -> str:
    """The outcome of one command (module docstring); `out` normalized."""
    if "Traceback" in err:
        return "traceback"
    if code == 0:
        if reference_out is not None and out != reference_out:
            return "wrong"
        return "ok"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if code in (2, 3, 4, 5, 6) and lines and lines[-1].startswith("fundtrail: error:") and \
            all(ln.startswith(("fundtrail: error:", "fsck ", "error: ", "warning: ")) for ln in lines):
        return "clean"
    return "traceback"
