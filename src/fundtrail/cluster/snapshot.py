"""A frozen view of one chain for a clustering run, without holding the store catalog open.

`Store.query()` keeps the catalog connection for as long as it is used; a clustering run of a
large chain lasts minutes, and a concurrent ingest must be able to commit meanwhile. So a run reads
the committed batch list once and opens a session of the process engine whose views list exactly
those Parquet files (same view names and SQL as `Store.query()`): the run sees one consistent
snapshot, and later batches are left for the next incremental run.

An incremental run reads only recent transactions, so its snapshot may be narrowed to a window:
the batches holding transactions from `tx_from` on and addresses from `address_from` on. Batches
are in chain-id order, and whatever refers to a transaction or output (its inputs, the inputs
spending it, late input links, fee updates) is committed in its batch or a later one, so a window
sees everything about the transactions in it. Opening a view over sixty partitions and filtering
by id cost more than the whole rest of a one-block update (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

from fundtrail.errors import FundtrailError, UsageError
from fundtrail.store import Store, engine, integrity


@dataclass(frozen=True)
class Batch:
    """One committed ingest batch as the snapshot saw it."""

    batch_id: int
    files: tuple[str, ...]
    next_tx_id: int
    next_address_id: int


@dataclass(frozen=True)
class Snapshot:
    """The chain as committed when the run started: its family, batches and tip block."""

    con: duckdb.DuckDBPyConnection
    chain: str
    family: str
    network: str
    batches: tuple[Batch, ...]
    tip_block_id: int
    tip_block_hash: bytes | None

    @property
    def prefix(self) -> str:
        return self.chain.replace("-", "_")

    @property
    def next_tx_id(self) -> int:
        return self.batches[-1].next_tx_id if self.batches else 0

    @property
    def n_addresses(self) -> int:
        return self.batches[-1].next_address_id if self.batches else 0

    @property
    def last_batch_id(self) -> int:
        return self.batches[-1].batch_id if self.batches else -1



def chain_family(store: Store, chain: str, cat: duckdb.DuckDBPyConnection | None = None) -> tuple[str, str]:
    """(family, network) of a stored chain; UsageError naming the stored chains otherwise."""
    if cat is None:
        if not store.catalog_path.exists():
            raise UsageError(f"chain {chain!r} is not in store {store.root} (stored chains: none yet)")
        with store.connect(read_only=True) as c:
            return chain_family(store, chain, c)
    rows = cat.execute("SELECT chain, family, network FROM chains ORDER BY chain").fetchall()
    chains = {r[0]: (r[1], r[2]) for r in rows}
    if chain not in chains:
        known = ", ".join(chains) or "none yet"
        raise UsageError(f"chain {chain!r} is not in store {store.root} (stored chains: {known})")
    return chains[chain]


def block_hash(cat: duckdb.DuckDBPyConnection, chain: str, block_id: int) -> bytes | None:
    """Hash of a stored block by id, or None when no such block is stored (rolled back)."""
    row = cat.execute("SELECT hash FROM block_index WHERE chain = ? AND block_id = ?",
                      [chain, block_id]).fetchall()
    return bytes(row[0][0]) if row else None


@dataclass(frozen=True)
class Capture:
    """What a snapshot needs from the catalog, read inside the caller's catalog connection."""

    chain: str
    family: str
    network: str
    batches: tuple[Batch, ...]
    tip_block_id: int
    tip_block_hash: bytes | None


def capture(store: Store, chain: str, cat: duckdb.DuckDBPyConnection) -> Capture:
    """Read the committed batches and tip of `chain` through an open catalog connection."""
    family, network = chain_family(store, chain, cat)
    rows = cat.execute("SELECT batch_id, files, next_tx_id, next_address_id FROM batches "
                       "WHERE chain = ? ORDER BY batch_id", [chain]).fetchall()
    batches = tuple(Batch(int(b), tuple(f), int(t or 0), int(a or 0)) for b, f, t, a in rows)
    row = cat.execute("SELECT block_id, hash FROM block_index WHERE chain = ? "
                      "ORDER BY block_id DESC LIMIT 1", [chain]).fetchall()
    tip_id, tip = (int(row[0][0]), bytes(row[0][1])) if row else (-1, None)
    return Capture(chain, family, network, batches, tip_id, tip)


def read_failure(store: Store, chain: str, files: list[str], exc: Exception) -> Exception:
    """What to raise for an error met while using a snapshot: the one-line StoreError naming the
    damaged lake file when there is one, else the error itself (a bug, not damage).

    The files were checked when the views were made (size and time, cheaply), but bit rot leaves
    both alone, and a file may be damaged or removed while a long run reads it. DuckDB does not
    verify page checksums: damage shows as a decoding error that often names no file
    ("TProtocolException: Invalid data", "Out of buffer"), or as values no store holds (an address
    id beyond the last) that fail later in our own code. So on any error the snapshot's files are
    hashed against the catalog to find a damaged one (only on this error path)."""
    err = integrity.read_error(exc, store.lake, store.catalog_path) if isinstance(exc, duckdb.Error) else None
    with store.connect(read_only=True) as cat:
        records = integrity.load_records(cat, chain)
    found = integrity.find_damaged(store.lake, records, [(chain, rel) for rel in files])
    return found or err or exc


def window_files(cap: Capture, table: str, tx_from: int = 0, address_from: int = 0) -> list[str]:
    """Lake files (relative to the chain's lake directory) of `table` in the batches a window needs:
    from the first batch that holds ids at or above the window's start, to the last."""
    key, start = ("next_address_id", address_from) if table == "addresses" else ("next_tx_id", tx_from)
    first = 0
    if start > 0:
        first = next((i for i, b in enumerate(cap.batches) if getattr(b, key) > start), len(cap.batches))
    return [f for b in cap.batches[first:] for f in b.files if f.startswith(f"{table}/")]


@contextlib.contextmanager
def open_snapshot(store: Store, chain: str, cap: Capture | None = None, *, tx_from: int = 0,
                  address_from: int = 0) -> Iterator[Snapshot]:
    """The committed state of `chain` (or of an earlier `capture`) with `Store.query()`-style views,
    over all of it or over the window from `tx_from` / `address_from` on (module docstring)."""
    if cap is None:
        if not store.catalog_path.exists():
            raise UsageError(f"chain {chain!r} is not in store {store.root} (stored chains: none yet)")
        with store.connect(read_only=True) as cat:
            cap = capture(store, chain, cat)
    con = engine.session()
    read: list[str] = []
    try:
        def files(table: str) -> list[str]:
            read.extend(listed := window_files(cap, table, tx_from, address_from))
            return listed

        window = store.view_statements(con, chain, cap.family, files)
        con.execute(";\n".join(["SET TimeZone = 'UTC'", *window]))  # one round trip: a third less time
        yield Snapshot(con, chain, cap.family, cap.network, cap.batches, cap.tip_block_id, cap.tip_block_hash)
    except FundtrailError:
        raise
    except Exception as exc:  # noqa: BLE001 (re-raised unless a file it read is found damaged)
        raise read_failure(store, chain, read, exc) from None
    finally:
        con.close()
