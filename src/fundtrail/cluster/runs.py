"""Cluster runs in the catalog and their files in the store: the commit protocol of a clustering run.

Each completed run owns a directory `clusters/<chain>/run-NNNNNNNN/` holding
- `evidence.parquet`: the unions the run made (evidence forest edges; the merged-into records);
- `unions.npy` (runs that are not checkpoints): the same unions' endpoints as a (2, n) array, what
  the next runs replay (a thousandth of a millisecond per run to load against a millisecond for the
  Parquet file, which matters with 60 journal runs to replay on every update; without it the
  evidence file is read);
- `facts_new.npy` (the same runs): the address facts of the addresses the run read from the lake,
  so that the next run reads from the lake only the addresses added since the last run: a (2, 1+m)
  int64 array whose first column is (first address id, first address id) and whose rows are then
  the script types and first transactions of the m addresses (one plain array loads ten times
  faster than an .npz archive, which mattered with 62 of them to load),
and, when the run is a checkpoint (every full run, and an incremental run once the journal since
the last checkpoint is long or the arrays had to grow):
- `parent.npy`, `size.npy`: the union-find state (cluster id and set size per address id, with
  spare capacity), memory-mapped copy-on-write by the next run, so that it is never rewritten;
- `facts_script.npy`, `facts_first.npy` (UTXO chains): the address facts heuristics read (script
  type, first transaction), so that an incremental run reads only the new addresses;
- `mapping.parquet`: address -> cluster id for every address in a multi-address cluster, with the
  analyst overrides of that moment applied;
- `forest.parquet` (incremental checkpoints): the whole evidence forest so far, compacted, so that
  explanations read one file plus the journal, however many runs came before.
An incremental run that is not a checkpoint starts from the last checkpoint and replays the
evidence of the runs since (the journal): a one-block update writes one small file.

A run writes its directory under a temporary name, fsyncs and renames it, then marks its catalog
row completed: the commit point. A directory no completed run names is debris of a killed run and
is deleted by the next run, so a kill at any moment followed by a rerun gives what an
uninterrupted run gives. Runs chain by `parent_run` back to their full run: that lineage is the
current clustering, and its evidence files together are the forest.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fundtrail.errors import StoreError
from fundtrail.store import Store, engine
from fundtrail.store.lake import fsync_path
from fundtrail.store.partitions import FILE_MODE, make_private_dir

try:
    import fcntl
except ImportError:  # not POSIX: no run lock
    fcntl = None  # type: ignore[assignment]

PARENT, SIZE, EVIDENCE, MAPPING, FOREST = ("parent.npy", "size.npy", "evidence.parquet", "mapping.parquet",
                                          "forest.parquet")
UNIONS = "unions.npy"
MAPPING_SCHEMA = pa.schema([("address_id", pa.int64()), ("cluster_id", pa.int64())])
#: Journal runs: the address facts of the addresses they added (lo, script, first).
NEW_FACTS = "facts_new.npy"
#: Address facts cached with a checkpoint (script type, first transaction per address id).
FACT_SCRIPT, FACT_FIRST = "facts_script.npy", "facts_first.npy"
ARRAYS = (PARENT, SIZE, FACT_SCRIPT, FACT_FIRST)


@dataclass(frozen=True)
class RunRecord:
    """A row of `cluster_runs` (docs/clustering.md lists the columns)."""

    run_id: int
    chain: str
    mode: str
    reason: str | None
    parent_run: int | None
    heuristics: str
    change_floor: float | None
    coinjoin_floor: float | None
    tx_lo: int | None
    tx_hi: int | None
    last_batch_id: int | None
    last_block_id: int | None
    last_block_hash: bytes | None
    n_addresses: int | None
    n_tx: int | None
    n_links: int | None
    n_unions: int | None
    n_clusters: int | None
    largest: int | None
    status: str
    message: str | None
    path: str | None
    checkpoint: bool | None
    suspects: str | None
    overrides_applied: int | None

    def params(self) -> tuple[str, float | None, float | None]:
        """What must match for an incremental run on top of this one."""
        return self.heuristics, self.change_floor, self.coinjoin_floor

    def to_json(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["last_block_hash"] = self.last_block_hash[::-1].hex() if self.last_block_hash else None
        d["suspects"] = json.loads(self.suspects) if self.suspects else []
        return d


_COLS = ", ".join(f.name for f in fields(RunRecord))


def _record(row: tuple) -> RunRecord:
    rec = RunRecord(*row)
    if rec.last_block_hash is not None:
        rec = RunRecord(**{**rec.__dict__, "last_block_hash": bytes(rec.last_block_hash)})
    return rec


def cluster_root(store: Store, chain: str) -> Path:
    return store.root / "clusters" / chain


def run_dir(store: Store, rec: RunRecord) -> Path:
    if not rec.path:
        raise StoreError(f"cluster run {rec.run_id} has no files (status {rec.status})")
    return cluster_root(store, rec.chain) / rec.path


@contextlib.contextmanager
def run_lock(store: Store, chain: str) -> Iterator[None]:
    """One clustering run per chain and store at a time (the kernel drops it if the process dies)."""
    path = store.root / f".cluster-{chain}.lock"
    fh = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, FILE_MODE), "a+b")
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise StoreError(f"another fundtrail process is clustering {chain} in {store.root}",
                                 hint="wait for it to finish") from None
        yield
    finally:
        fh.close()


def latest_run(store: Store, chain: str, con: duckdb.DuckDBPyConnection | None = None) -> RunRecord | None:
    """The newest completed run of `chain`: the current clustering."""
    if con is None:
        with store.connect(read_only=True) as c:
            return latest_run(store, chain, c)
    rows = con.execute(f"SELECT {_COLS} FROM cluster_runs WHERE chain = ? AND status = 'completed' "
                       "ORDER BY run_id DESC LIMIT 1", [chain]).fetchall()
    return _record(rows[0]) if rows else None


def get_run(store: Store, run_id: int) -> RunRecord | None:
    with store.connect(read_only=True) as con:
        rows = con.execute(f"SELECT {_COLS} FROM cluster_runs WHERE run_id = ?", [run_id]).fetchall()
    return _record(rows[0]) if rows else None


def list_runs(store: Store, chain: str | None = None, limit: int = 20) -> list[RunRecord]:
    with store.connect(read_only=True) as con:
        rows = con.execute(f"SELECT {_COLS} FROM cluster_runs WHERE ? IS NULL OR chain = ? "
                           "ORDER BY run_id DESC LIMIT ?", [chain, chain, limit]).fetchall()
    return [_record(r) for r in rows]


def lineage(store: Store, rec: RunRecord, con: duckdb.DuckDBPyConnection | None = None) -> list[RunRecord]:
    """The runs whose evidence makes up `rec`'s clustering: its full run up to `rec`, in order."""
    if con is None:
        with store.connect(read_only=True) as c:
            return lineage(store, rec, c)
    rows = con.execute(f"SELECT {_COLS} FROM cluster_runs WHERE chain = ? AND status = 'completed' "
                       "AND run_id <= ?", [rec.chain, rec.run_id]).fetchall()
    by_id = {r[0]: _record(r) for r in rows}
    out: list[RunRecord] = []
    cur: RunRecord | None = rec
    while cur is not None:
        out.append(cur)
        cur = by_id.get(cur.parent_run) if cur.parent_run is not None else None
    return out[::-1]


def since_checkpoint(runs_: list[RunRecord]) -> tuple[RunRecord, list[RunRecord]]:
    """Split a lineage into its last checkpoint and the runs after it (the journal to replay)."""
    for i in range(len(runs_) - 1, -1, -1):
        if runs_[i].checkpoint:
            return runs_[i], runs_[i + 1:]
    raise StoreError(f"cluster run {runs_[-1].run_id} has no checkpoint in its lineage",
                     hint="run `fundtrail cluster run --full`")


def recover(store: Store, chain: str, con: duckdb.DuckDBPyConnection) -> None:
    """Under the run lock: mark runs left 'running' as interrupted and delete their debris."""
    con.execute("UPDATE cluster_runs SET status = 'interrupted', "
                "message = 'process ended before the run finished' "
                "WHERE chain = ? AND status = 'running'", [chain])
    kept = {p for (p,) in con.execute("SELECT path FROM cluster_runs WHERE chain = ? AND "
                                      "status = 'completed' AND path IS NOT NULL", [chain]).fetchall()}
    root = cluster_root(store, chain)
    if root.exists():
        for entry in root.iterdir():
            if entry.name not in kept:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def begin(con: duckdb.DuckDBPyConnection, chain: str, mode: str, reason: str, parent: int | None,
          heuristics: str, change_floor: float | None, coinjoin_floor: float) -> int:
    """Record a starting run ('running'); returns its id."""
    run_id = int(con.execute("SELECT coalesce(max(run_id), -1) + 1 FROM cluster_runs").fetchall()[0][0])
    con.execute("INSERT INTO cluster_runs (run_id, chain, mode, reason, parent_run, heuristics, "
                "change_floor, coinjoin_floor, started_at, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, now(), 'running')",
                [run_id, chain, mode, reason, parent, heuristics, change_floor, coinjoin_floor])
    return run_id


def complete(store: Store, run_id: int, values: dict) -> None:
    """Mark a run completed with its counts and files: the commit point."""
    cols = list(values)
    with store.connect() as con:
        con.execute(f"UPDATE cluster_runs SET {', '.join(f'{c} = ?' for c in cols)}, "
                    "finished_at = now(), status = 'completed' WHERE run_id = ?",
                    [*[values[c] for c in cols], run_id])


def fail(store: Store, run_id: int, status: str, message: str) -> None:
    with store.connect() as con:
        con.execute("UPDATE cluster_runs SET status = ?, message = ?, finished_at = now() WHERE run_id = ?",
                    [status, message, run_id])


def forest_files(store: Store, lin: list[RunRecord]) -> list[Path]:
    """The files holding the evidence forest of a lineage: the last checkpoint's compacted forest
    (its evidence, for a full run) and the evidence of the runs after it."""
    ckpt, journal = since_checkpoint(lin)
    base = run_dir(store, ckpt) / FOREST
    return [base if base.exists() else run_dir(store, ckpt) / EVIDENCE,
            *(run_dir(store, r) / EVIDENCE for r in journal)]


def new_run_dir(store: Store, chain: str, run_id: int) -> Path:
    """The temporary directory a run writes its files into (emptied if a killed run left it)."""
    tmp = cluster_root(store, chain) / f".tmp-run-{run_id:08d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    make_private_dir(tmp)  # a store holds case data: 0700 directories (parents too), 0600 files
    return tmp


def finish_run_dir(store: Store, chain: str, run_id: int, tmp: Path,
                   checkpoint: tuple[dict[str, np.ndarray], pa.Table | Iterable[pa.Table]] | None,
                   forest_before: list[Path] | None = None,
                   new_facts: tuple[int, np.ndarray, np.ndarray] | None = None,
                   unions: np.ndarray | None = None) -> str:
    """Complete a run's directory (its evidence is already in `tmp`) and put it in place durably
    (fsync, rename); returns its name.

    `checkpoint` is (arrays by file name, mapping: one table or its parts) for a checkpoint run,
    else None; an incremental checkpoint also gets the forest compacted from `forest_before` and
    its own evidence. A journal run gets its `unions` as an array (without it, the next runs read its evidence) and
    `new_facts` (first address id, script types, first txs)."""
    root = cluster_root(store, chain)
    name = f"run-{run_id:08d}"
    written = [EVIDENCE]
    if checkpoint is None:  # a journal run: what the next runs replay, in the fastest form to load
        if unions is not None:
            np.save(tmp / UNIONS, unions)
            written.append(UNIONS)
        if new_facts is not None:
            lo, script, first = new_facts
            np.save(tmp / NEW_FACTS, np.stack([np.concatenate([[lo], script.astype(np.int64)]),
                                               np.concatenate([[lo], first.astype(np.int64)])]))
            written.append(NEW_FACTS)
    else:
        arrays, mapping = checkpoint
        for fname, arr in arrays.items():
            np.save(tmp / fname, arr)
            written.append(fname)
        if isinstance(mapping, pa.Table):
            pq.write_table(mapping, tmp / MAPPING, compression="zstd")
        else:  # made a range at a time: never whole in memory
            with pq.ParquetWriter(tmp / MAPPING, MAPPING_SCHEMA, compression="zstd") as wr:
                for part in mapping:
                    wr.write_table(part)
        written.append(MAPPING)
        if forest_before:
            paths = [p.as_posix() for p in [*forest_before, tmp / EVIDENCE]]
            con = engine.session()
            try:  # paths as parameters: a store path may hold any character, a quote included
                con.execute("COPY (SELECT * FROM read_parquet(?, union_by_name = true)) "
                            "TO ? (FORMAT parquet, COMPRESSION zstd)", [paths, (tmp / FOREST).as_posix()])
            finally:
                con.close()
            written.append(FOREST)
    for f in written:
        os.chmod(tmp / f, FILE_MODE)  # unreadable to others meanwhile: the directory is 0700
        fsync_path(tmp / f)
    fsync_path(tmp)
    os.replace(tmp, root / name)
    fsync_path(root)
    return name


def load_array(store: Store, rec: RunRecord, name: str, mode: Literal["c", "r"] = "c") -> np.ndarray:
    """A checkpoint array of run `rec`, memory-mapped copy-on-write (changes stay in memory), or
    read-only with `mode` "r"."""
    path = run_dir(store, rec) / name
    try:
        return np.load(path, mmap_mode=mode)
    except FileNotFoundError:
        raise StoreError(f"cluster state file {path} is missing", hint="run `fundtrail cluster run --full`") from None


def load_new_facts(store: Store, rec: RunRecord) -> tuple[int, np.ndarray, np.ndarray] | None:
    """(first address id, script types, first txs) of the addresses journal run `rec` added, or
    None when it left no such file."""
    path = run_dir(store, rec) / NEW_FACTS
    if not path.exists():
        return None
    arr = np.load(path)
    return int(arr[0, 0]), arr[0, 1:].astype(np.uint8), arr[1, 1:]


def load_journal(store: Store, journal: list[RunRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Evidence endpoints (a, b) of the runs after a checkpoint, in run order."""
    a, b = [], []
    for r in journal:
        fast = run_dir(store, r) / UNIONS
        if fast.exists():
            ab = np.load(fast)
            a.append(ab[0])
            b.append(ab[1])
            continue
        t = pq.read_table(run_dir(store, r) / EVIDENCE, columns=["a", "b"])
        a.append(t.column("a").to_numpy())
        b.append(t.column("b").to_numpy())
    if not a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(a).astype(np.int64), np.concatenate(b).astype(np.int64)


def drop_superseded_state(store: Store, chain: str, keep: str) -> None:
    """Delete the state arrays of checkpoints and the union arrays of journal runs older than `keep`
    (caches once a newer checkpoint exists); evidence and mapping files stay, as the record of each
    run."""
    for entry in cluster_root(store, chain).glob("run-*"):
        if entry.name < keep:
            for name in (*ARRAYS, FOREST, UNIONS, NEW_FACTS):
                (entry / name).unlink(missing_ok=True)
