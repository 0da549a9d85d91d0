"""`fundtrail fsck`: check every lake file against the catalog and the invariants that are cheap to
state, so that damage is found before a result resting on it is used as evidence.

Checks, per chain: every file a batch references exists, is readable, and has the size, row count
(Parquet footer) and SHA-256 recorded when it was written; ids are dense and in batch order
(`tx_id`, `output_id`, `transfer_id`: every file holds a run of ids, the runs of a table follow
each other without gap or overlap from 0, and end below the batch counters); block ids likewise;
block links (each stored height's `prev_hash` is the hash stored at the height below); the blocks
in the lake are the blocks in the catalog's index; for UTXO chains the outputs' values add up to
the transactions' output values; no file in the lake that no batch references. The catalog itself
is read in full (DuckDB verifies its block checksums on read). Read-only: fsck repairs nothing.
"""

from __future__ import annotations

import os
import stat as _stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import pyarrow.parquet as pq

from fundtrail.errors import StoreError
from fundtrail.model.chains import CHAIN_NAME_PATTERN
from fundtrail.store import integrity
from fundtrail.store.lake import Store
from fundtrail.store.sql import scalar

#: table -> dense id column checked for runs without gap or overlap, and its batch counter
DENSE_IDS: dict[str, dict[str, tuple[str, str | None]]] = {
    "utxo": {"blocks": ("block_id", "next_block_id"), "transactions": ("tx_id", "next_tx_id"),
             "outputs": ("output_id", "next_output_id")},
    "account": {"transactions": ("tx_id", "next_tx_id"), "transfers": ("transfer_id", "next_transfer_id")},
}


@dataclass
class Finding:
    """One problem (`error`: exit 4) or remark (`warning`) about the store."""

    severity: str
    check: str
    message: str
    chain: str | None = None
    path: str | None = None


@dataclass
class FsckReport:
    store: str
    chains: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def as_dict(self) -> dict[str, Any]:
        return {"store": self.store, "chains": self.chains, "files": self.files, "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "ok": not self.errors,
                "errors": len(self.errors), "warnings": len(self.findings) - len(self.errors),
                "findings": [asdict(f) for f in self.findings]}


#: (stage, done, total): stage `fsck <chain>`, files checked of the chain's files
Progress = Callable[[str, int, int], None]


def _silent(stage: str, done: int, total: int) -> None:
    """No progress shown."""


def fsck(store: Store, chain: str | None = None, progress: Progress | None = None) -> FsckReport:
    """Check `store` (or one chain of it); the report lists every finding."""
    t0 = time.perf_counter()
    say = progress or _silent
    rep = FsckReport(str(store.root))
    with store.connect(read_only=True) as con:
        _check_catalog(con, rep)
        chains = con.execute("SELECT chain, family FROM chains ORDER BY chain").fetchall()
        if chain is not None:
            chains = [c for c in chains if c[0] == chain]
            if not chains:
                rep.findings.append(Finding("error", "chains", f"chain {chain} is not in the store", chain))
        batches = {c: con.execute("SELECT * FROM batches WHERE chain = ? ORDER BY batch_id", [c]).fetchall()
                   for c, _ in chains}
        cols = [d[0] for d in con.description] if chains else []
        records = Store._load_records(con)
        index = {c: con.execute("SELECT block_id, hash, prev_hash, height FROM block_index WHERE chain = ? "
                                "ORDER BY block_id", [c]).fetchall() for c, _ in chains}
    for name, family in chains:
        rep.chains.append(name)
        if CHAIN_NAME_PATTERN.fullmatch(name) is None:
            rep.findings.append(Finding("error", "chains", f"chain name {name!r} is not valid", name))
            continue
        rows = [dict(zip(cols, r)) for r in batches[name]]
        good = _check_files(store, name, rows, records, rep, say)
        _check_ids(store, name, family, rows, good, rep)
        _check_blocks(store, name, family, rows, good, index[name], rep)
        if family == "utxo":
            _check_values(store, name, rows, good, rep)
    _check_strays(store, {c for c, _ in chains}, rep, only=chain)
    _check_modes(store, rep)
    rep.seconds = time.perf_counter() - t0
    return rep


def _check_catalog(con: duckdb.DuckDBPyConnection, rep: FsckReport) -> None:
    """Read every catalog table in full: DuckDB checks each block's checksum as it reads it."""
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
                         ).fetchall()
    for (t,) in tables:
        con.execute(f'SELECT max(hash(t)) FROM "{t}" t').fetchone()  # every column: every block
    if not any(t == "lake_files" for (t,) in tables):
        rep.findings.append(Finding("warning", "catalog", "the catalog predates file checksums "
                                    "(schema < 5); the next ingest migrates it and records them"))


def _check_files(store: Store, chain: str, rows: list[dict], records: dict, rep: FsckReport,
                 say: Progress) -> set[str]:
    """Existence, size, rows and SHA-256 of each referenced file; returns the files that passed."""
    good: set[str] = set()
    files = [f for r in rows for f in r["files"]]
    last = time.monotonic()
    for i, rel in enumerate(files):
        path = store.lake / chain / rel
        rec = records.get((chain, rel))
        try:
            integrity.check_file(path, None)  # exists, regular, readable
            size = path.stat().st_size
            digest = integrity.sha256_file(path)
            nrows = pq.ParquetFile(path).metadata.num_rows
        except StoreError as exc:
            rep.findings.append(Finding("error", "files", exc.message, chain, rel))
            continue
        except Exception as exc:  # noqa: BLE001 (pyarrow: not a Parquet file, footer unreadable)
            rep.findings.append(Finding("error", "files", f"lake file {path} is not a readable Parquet "
                                        f"file: {str(exc).splitlines()[0]}", chain, rel))
            continue
        rep.files += 1
        rep.bytes += size
        if rec is None:
            rep.findings.append(Finding("warning", "files", f"lake file {path} has no recorded checksum "
                                        "(written before schema 5; recorded at the chain's next ingest)",
                                        chain, rel))
        elif (size, digest, nrows) != (rec.bytes, rec.sha256, rec.rows):
            what = ("size" if size != rec.bytes else "SHA-256" if digest != rec.sha256 else "row count")
            rep.findings.append(Finding("error", "files", f"lake file {path} is not the file committed: "
                                        f"its {what} differs from the catalog's", chain, rel))
            continue
        good.add(rel)
        if time.monotonic() - last > 1.0:
            say(f"fsck {chain}", i + 1, len(files))
            last = time.monotonic()
    say(f"fsck {chain}", len(files), len(files))
    return good


def _id_runs(store: Store, chain: str, rows: list[dict], table: str, col: str, good: set[str],
             ) -> list[tuple[int, int, int, str, int]] | None:
    """(min, max, rows, file, batch) of `col` in each file of `table`, from Parquet statistics."""
    runs = []
    for r in rows:
        for rel in r["files"]:
            if not rel.startswith(f"{table}/"):
                continue
            if rel not in good:
                return None
            md = pq.ParquetFile(store.lake / chain / rel).metadata
            idx = md.schema.names.index(col)
            lo = hi = None
            for g in range(md.num_row_groups):
                st = md.row_group(g).column(idx).statistics
                if st is None or not st.has_min_max:
                    return None
                lo = st.min if lo is None else min(lo, st.min)
                hi = st.max if hi is None else max(hi, st.max)
            if md.num_rows and lo is not None and hi is not None:  # rows: some row group set both
                runs.append((int(lo), int(hi), md.num_rows, rel, int(r["batch_id"])))
    return runs


def _check_ids(store: Store, chain: str, family: str, rows: list[dict], good: set[str],
               rep: FsckReport) -> None:
    for table, (col, counter) in DENSE_IDS[family].items():
        runs = _id_runs(store, chain, rows, table, col, good)
        if runs is None:
            continue
        expect = 0
        for lo, hi, n, rel, batch in sorted(runs):
            if hi - lo + 1 != n or lo != expect:
                rep.findings.append(Finding(
                    "error", "ids", f"{table}.{col} in {rel} (batch {batch}) holds {lo}..{hi} in {n:,} rows; "
                    f"expected a run starting at {expect}", chain, rel))
                return
            expect = hi + 1
        top = max((r[counter] for r in rows if r.get(counter) is not None), default=None)
        if top is not None and expect > top:
            rep.findings.append(Finding("error", "ids", f"{table}.{col} reaches {expect - 1} but the "
                                        f"batches' {counter} is {top}", chain))


def _paths(store: Store, chain: str, rows: list[dict], table: str) -> list[str]:
    return [(store.lake / chain / f).as_posix() for r in rows for f in r["files"] if f.startswith(f"{table}/")]


def _check_blocks(store: Store, chain: str, family: str, rows: list[dict], good: set[str],
                  index: list[tuple], rep: FsckReport) -> None:
    """Block links by height, and the lake's blocks equal to the catalog's block index."""
    by_height: dict[int, bytes] = {}
    for _, h, _, height in index:
        if height is not None:
            if height in by_height:
                rep.findings.append(Finding("error", "blocks", f"two blocks at height {height}", chain))
            by_height[int(height)] = bytes(h)
    for _, _h, prev, height in index:
        if height is not None and height - 1 in by_height and by_height[height - 1] != bytes(prev):
            rep.findings.append(Finding("error", "blocks", f"block at height {height} does not link to the "
                                        f"block stored at height {height - 1}", chain))
    paths = _paths(store, chain, rows, "blocks")
    if any(p.split(f"/{chain}/", 1)[1] not in good for p in paths):
        return
    lake_hashes: set[bytes] = set()
    if paths:
        con = duckdb.connect()
        try:
            lake_hashes = {bytes(h) for (h,) in con.execute(
                "SELECT hash FROM read_parquet(?)", [paths]).fetchall()}
        finally:
            con.close()
    index_hashes = {bytes(h) for _, h, _, _ in index}
    if lake_hashes != index_hashes:
        rep.findings.append(Finding("error", "blocks", f"the lake holds {len(lake_hashes - index_hashes)} "
                                    f"block(s) the block index does not, and lacks "
                                    f"{len(index_hashes - lake_hashes)} it lists", chain))


def _check_values(store: Store, chain: str, rows: list[dict], good: set[str], rep: FsckReport) -> None:
    """UTXO: the outputs' values add up to the transactions' output values."""
    outs, txs = _paths(store, chain, rows, "outputs"), _paths(store, chain, rows, "transactions")
    if not outs or any(p.split(f"/{chain}/", 1)[1] not in good for p in outs + txs):
        return
    con = duckdb.connect()
    try:
        a = scalar(con.execute("SELECT coalesce(sum(value), 0) FROM read_parquet(?)", [outs]))
        b = scalar(con.execute("SELECT coalesce(sum(output_value), 0) FROM read_parquet(?)", [txs]))
    finally:
        con.close()
    if int(a) != int(b):
        rep.findings.append(Finding("error", "values", f"outputs add up to {int(a):,} sat but transactions "
                                    f"to {int(b):,} sat", chain))


def _check_strays(store: Store, chains: set[str], rep: FsckReport, only: str | None = None) -> None:
    """Files in the lake (or in chain `only`'s part of it) that no committed batch references."""
    if not store.lake.is_dir():
        return
    with store.connect(read_only=True) as con:
        known = {(c, f) for c, files in con.execute("SELECT chain, files FROM batches").fetchall()
                 for f in files}
    for path in sorted(store.lake.rglob("*")):
        if not path.is_file():
            continue
        parts = path.relative_to(store.lake).parts
        if only is not None and parts[0] != only:
            continue
        key = (parts[0], "/".join(parts[1:])) if len(parts) > 1 else ("", parts[0])
        if key not in known:
            why = ("left by an interrupted run; the chain's next ingest removes it"
                   if parts[0] in chains and path.name.startswith((".tmp-", "batch-")) else
                   "not written by fundtrail here")
            rep.findings.append(Finding("error", "strays", f"lake file {path} is not referenced by the "
                                        f"catalog ({why})", parts[0] if len(parts) > 1 else None,
                                        "/".join(parts[1:])))


def _check_modes(store: Store, rep: FsckReport) -> None:
    """Warn when the store's directory or catalog can be read by other users (it holds case data)."""
    for path in (store.root, store.catalog_path, store.lake):
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if mode & (_stat.S_IRWXG | _stat.S_IRWXO):
            rep.findings.append(Finding("warning", "modes", f"{path} is accessible to other users "
                                        f"(mode {_stat.S_IMODE(mode):o}); `chmod -R go-rwx {store.root}` "
                                        "makes it private"))
            return


def report_lines(rep: FsckReport) -> list[str]:
    """The report in words, one finding a line."""
    lines = [f"{f.severity}: {f.message}" for f in rep.findings]
    verdict = "ok" if not rep.errors else f"{len(rep.errors)} problem(s)"
    mb = rep.bytes / 1e6
    lines.append(f"fsck {rep.store}: {', '.join(rep.chains) or 'no chains'}; {rep.files:,} files, "
                 f"{mb:,.1f} MB checked in {rep.seconds:.2f} s: {verdict}")
    return lines
