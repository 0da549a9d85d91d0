"""Late input resolution: link inputs stored unresolved to prevouts that arrived afterwards.

Parquet partitions are immutable, so a resolution is written as rows of `input_links` (and the
transactions whose fee became known as `tx_updates`) in a batch of their own; the public views fold
them in. Linked outputs are also removed from the in-memory unspent set.

A run that stores blocks from the middle of a chain leaves most inputs unresolved (their outputs
are older than the first block), and joining all of them against the run's transactions took a
tenth of such a run. So a run keeps the outpoint keys of the inputs it leaves unresolved
(`LateKeys`): an output that arrived after the input spending it is still in the unspent set at the
end (in a valid chain nothing else spends it), so when none of those keys is there, none of the
run's inputs can be linked and the join covers only the inputs stored before the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fundtrail.ingest.bitcoin.decode import outpoint_keys
from fundtrail.ingest.crash import crash_point
from fundtrail.store.spill import Spill, sweep_stale
from fundtrail.store.tables import UTXO_TABLES, hash32_numpy

if TYPE_CHECKING:
    from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest


class _Lookup(Protocol):
    def lookup(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class LateKeys:
    """The outpoint keys of the inputs stored unresolved from transaction id `start` on, kept in
    memory up to `max_bytes` (16 bytes per input; beyond that they are dropped and the join over
    the store decides, as without them)."""

    def __init__(self, start: int, max_bytes: int) -> None:
        self.start = start
        self.max_keys = max(0, max_bytes) // 16
        self.count = 0
        self.complete = True
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, ka: np.ndarray, kb: np.ndarray) -> None:
        """The keys of a committed batch's unresolved inputs."""
        if not self.complete:
            return
        self.count += len(ka)
        if self.count > self.max_keys:
            self._parts, self.complete = [], False
        elif len(ka):
            self._parts.append((ka, kb))

    def any_spendable(self, utxo: _Lookup) -> bool:
        """Whether an output one of these inputs spends is in the unspent set `utxo` now."""
        return any(bool(utxo.lookup(ka, kb)[1].any()) for ka, kb in self._parts)


@dataclass
class FoundLinks:
    """Links found by `find_links`, not yet stored. DuckDB sorted them (spilling as it needs) into
    Parquet files of a private spill directory, which `commit_links` reads a batch at a time: no
    number of links is held in memory whole. `discard` removes the files."""

    spill: Spill
    n_links: int

    @property
    def links_path(self) -> Path:
        return self.spill.directory() / "links.parquet"

    @property
    def updates_path(self) -> Path:
        return self.spill.directory() / "updates.parquet"

    def discard(self) -> None:
        self.spill.close()


#: rows per batch read back from the links files
BATCH_ROWS = 1 << 18


def find_links(ing: BitcoinIngest, since_tx_id: int = 0, late: LateKeys | None = None) -> FoundLinks | None:
    """The links of unresolved inputs to outputs that arrived since (None: there are none); reads
    the store and the unspent set, changes nothing but the spill files it returns.

    Only transactions with ids >= `since_tx_id` (those added since the last complete link pass)
    can resolve an input that earlier passes could not, so the join reads only their partitions.
    With `late` (complete) and none of its inputs' outputs unspent now, only the inputs stored
    before `late.start` can be linked, and with none stored before, nothing is read at all.
    """
    inputs_before = ""
    if late is not None and late.complete and not late.any_spendable(ing.state.utxo):
        if late.start <= 0:
            return None
        inputs_before = f"AND i.tx_id < {int(late.start)}"
    p = ing.chain.replace("-", "_")
    sweep_stale(ing.store.root, "links")
    found = FoundLinks(Spill(ing.store.root, None, "links"), 0)
    try:
        links, updates = found.links_path.as_posix(), found.updates_path.as_posix()
        with ing.store.query() as con:
            con.execute(f"""
                COPY (SELECT i.tx_id, i.n, o.output_id AS prev_output_id, o.value,
                             o.address_id, i.prev_txid, i.prev_vout
                      FROM {p}_inputs i
                      JOIN {p}__transactions t ON t.txid = i.prev_txid AND t.tx_id >= {int(since_tx_id)}
                      JOIN {p}__outputs o ON o.tx_id = t.tx_id AND o.n = i.prev_vout
                                         AND o.tx_id >= {int(since_tx_id)}
                      WHERE i.prev_output_id IS NULL {inputs_before}
                      ORDER BY i.tx_id, i.n)
                TO ? (FORMAT parquet)""", [links])
            found.n_links = pq.ParquetFile(links).metadata.num_rows
            if found.n_links == 0:
                found.discard()
                return None
            con.execute(f"""
                COPY (WITH new_links AS (SELECT tx_id, n, value FROM read_parquet(?)),
                      ins AS (
                        SELECT i.tx_id, coalesce(i.value, l.value) AS value
                        FROM {p}_inputs i LEFT JOIN new_links l ON i.tx_id = l.tx_id AND i.n = l.n
                        WHERE i.tx_id IN (SELECT tx_id FROM new_links))
                      SELECT t.tx_id, sum(ins.value)::BIGINT AS input_value,
                             (sum(ins.value) - t.output_value)::BIGINT AS fee
                      FROM ins JOIN {p}_transactions t USING (tx_id)
                      WHERE t.fee IS NULL
                      GROUP BY t.tx_id, t.output_value, t.input_count
                      HAVING count(ins.value) = t.input_count
                      ORDER BY t.tx_id)
                TO ? (FORMAT parquet)""", [links, updates])
    except BaseException:
        found.discard()
        raise
    return found


def _read(path: Path, schema: pa.Schema) -> pa.RecordBatchReader:
    """The file's columns of `schema`, cast to it, a batch at a time."""
    batches = pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=schema.names)
    return pa.RecordBatchReader.from_batches(schema, (b.cast(schema) for b in batches))


def commit_links(ing: BitcoinIngest, found: FoundLinks) -> int:
    """Store `found` as a batch of its own and drop the linked outputs from the unspent set;
    returns how many inputs were linked. The files are read a batch at a time."""
    batch_id = ing.next_batch
    name = f"batch-{batch_id:08d}.parquet"
    files = [ing.store.write_partition(ing.chain, "input_links", name,
                                       _read(found.links_path, UTXO_TABLES["input_links"]))]
    if pq.ParquetFile(found.updates_path).metadata.num_rows:
        files.append(ing.store.write_partition(ing.chain, "tx_updates", name,
                                               _read(found.updates_path, UTXO_TABLES["tx_updates"])))
    c = ing.state.counters
    row = {
        "batch_id": batch_id, "source": "late input resolution", "first_block_id": None,
        "last_block_id": None, "min_height": None, "max_height": None, "n_blocks": 0, "n_tx": 0,
        "n_inputs": found.n_links, "n_outputs": 0, "n_new_addresses": 0,
        "next_block_id": c.block_id, "next_tx_id": c.tx_id, "next_output_id": c.output_id,
        "next_address_id": c.address_id, "run_id": ing.run_id,
    }
    crash_point("link_before_commit")
    ing.store.commit_batch(ing.chain, row, files, [])
    crash_point("link_after_commit")
    ing.next_batch += 1
    for b in pq.ParquetFile(found.links_path).iter_batches(batch_size=BATCH_ROWS, columns=["prev_txid", "prev_vout"]):
        ka, kb = outpoint_keys(hash32_numpy(b.column("prev_txid")), b.column("prev_vout").to_numpy())
        ing.state.utxo.pop(ka, kb)
    return found.n_links
