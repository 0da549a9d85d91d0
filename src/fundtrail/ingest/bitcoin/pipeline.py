"""The Bitcoin ingest pipeline: batch blocks, decode them, commit each batch atomically.

Batch boundaries depend only on the blocks (a byte and block budget counted from the last commit),
so a run that is killed and rerun cuts the same batches and assigns the same ids as one that was
never interrupted.

On two cores (`overlap=True`, the default) a worker thread parses, hashes and checks batch N+1 and
decodes what needs no state while this thread stores batch N (`overlap.run_overlapped`); commits
stay in order, the same batches, ids and files as one batch at a time (`overlap=False`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from fundtrail.chains.bitcoin.header import Header
from fundtrail.chains.bitcoin.params import Network
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin import validate
from fundtrail.ingest.bitcoin.batches import BatchCutter, Items, Staged, prepare_batch
from fundtrail.ingest.bitcoin.decode import BlockMeta, ChainState, decode_state
from fundtrail.ingest.bitcoin.decode_free import FreeDecode
from fundtrail.ingest.bitcoin.links import LateKeys, commit_links, find_links
from fundtrail.ingest.bitcoin.overlap import run_overlapped
from fundtrail.ingest.bitcoin.state import load_state, snapshot_is_current, write_snapshot
from fundtrail.ingest.crash import crash_point
from fundtrail.ingest.hooks import BatchHook, hook_for
from fundtrail.ingest.runs import ChainWriter
from fundtrail.model.chains import bitcoin_chain_name
from fundtrail.store import Store
from fundtrail.store.sql import scalar

log = logging.getLogger(__name__)

DEFAULT_BATCH_BYTES = 64 << 20
DEFAULT_BATCH_BLOCKS = 5000

@dataclass
class IngestReport:
    """What one ingest run did; printed by the CLI, returned by the Python API."""

    chain: str
    network: str
    blocks: int = 0
    skipped_known: int = 0
    stale: int = 0
    transactions: int = 0
    inputs: int = 0
    outputs: int = 0
    unresolved_inputs: int = 0
    linked_inputs: int = 0
    heights_filled: int = 0
    batches: int = 0
    rolled_back: int = 0
    undo_resolved: int = 0  # inputs of blocks stored earlier resolved from undo data given now
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # bad blocks skipped (raw files), one line each

    def as_dict(self) -> dict:
        return dict(self.__dict__)


Progress = Callable[[int, int], None]  # (blocks done, transactions done)

class BitcoinIngest(ChainWriter):
    """Commits blocks of one Bitcoin chain to a store; construct once per run."""

    def __init__(self, store: Store, network: Network, *, batch_bytes: int = DEFAULT_BATCH_BYTES,
                 batch_blocks: int = DEFAULT_BATCH_BLOCKS, progress: Progress | None = None,
                 verify_merkle: bool = True, overlap: bool = True) -> None:
        self.network = network
        self.chain = bitcoin_chain_name(network.name)
        self.batch_bytes = batch_bytes
        self.batch_blocks = batch_blocks
        self.progress = progress
        self.verify_merkle = verify_merkle
        self.overlap = overlap  # False: each batch parsed and stored on this thread, one at a time
        self.skip_bad_blocks = False  # True: a bad block is reported in report.errors and skipped
        self._open_writer(store, self.chain)
        self._declare_chain("utxo", network.name)
        self.report = IngestReport(self.chain, network.name)
        self._t0 = time.perf_counter()
        self.hook: BatchHook | None = hook_for(store, self.chain)
        self._load()

    def _load(self) -> None:
        self.state: ChainState = load_state(self.store, self.chain)
        with self.store.connect(read_only=True) as con:
            rows = con.execute("SELECT hash, height FROM block_index WHERE chain = ?", [self.chain]).fetchall()
            last = scalar(con.execute("SELECT max(batch_id) FROM batches WHERE chain = ?", [self.chain]))
        self.known: dict[bytes, int | None] = {bytes(h): ht for h, ht in rows}
        self.by_height: dict[int, bytes] = {ht: bytes(h) for h, ht in rows if ht is not None}
        self.next_batch = 0 if last is None else int(last) + 1
        # No current state snapshot means the last run ended before `finish` (killed, or a
        # rollback): its late input resolution may be missing, so this run's finish does it.
        self._unfinished = last is not None and not snapshot_is_current(self.store, self.chain)
        # transactions from here on may resolve inputs stored unresolved (all, if a run was cut short)
        self._link_from = 0 if self._unfinished else self.state.counters.tx_id
        # the keys of the inputs this run leaves unresolved, so `finish` can tell in memory whether
        # any of them can be linked now (bounded: beyond a batch's worth of bytes, the join decides)
        self._late = LateKeys(self.state.counters.tx_id, self.batch_bytes)
        self._state_dirty = False
        self.checker = validate.DifficultyChecker(self.network, validate.store_lookup(
            self.store, self.chain, self.is_stored, self.stored_hash_at))

    # -- queries the sources need ----------------------------------------------------------
    def stored_height(self, block_hash: bytes) -> int | None:
        return self.known.get(block_hash)

    def is_stored(self, block_hash: bytes) -> bool:
        return block_hash in self.known

    def stored_hash_at(self, height: int) -> bytes | None:
        return self.by_height.get(height)

    @property
    def tip_height(self) -> int | None:
        return max(self.by_height) if self.by_height else None

    # -- ingest -----------------------------------------------------------------------------
    def ingest(self, blocks: Iterable[tuple[bytes, BlockMeta]], source: str) -> None:
        """Commit `blocks` (parent before child) in deterministic batches; skip stored ones."""
        self._begin_run(source)
        cutter = BatchCutter(self, blocks)
        if not self.overlap:
            while (items := cutter.next()) is not None:
                self._commit_valid_prefix(items, source)
            return
        run_overlapped(self, cutter, source)

    def _commit_valid_prefix(self, items: Items, source: str) -> None:
        """Commit `items`; if one block is bad, commit the blocks before it, then raise its error."""
        try:
            self._commit(items, source)
        except DataError as exc:
            bad = next((i for i, (_, m) in enumerate(items) if exc.message.startswith(f"{m.origin}:")),
                       None)
            if self._state_dirty:  # decoding failed part-way through changing the state
                self._reload_state()
            if bad:
                self._commit_valid_prefix(items[:bad], source)
            if self.skip_bad_blocks and bad is not None:  # raw files: go on with the other blocks
                self.report.errors.append(exc.one_line())
                log.info("skipped a bad block: %s", exc.one_line())
                if bad + 1 < len(items):
                    self._commit_valid_prefix(items[bad + 1:], source)
                return
            raise

    def _reload_state(self) -> None:
        """The state from the store: after a failure left it changed past the last commit."""
        self.state = load_state(self.store, self.chain)
        self._state_dirty = False

    def _check_headers(self, items: Items) -> None:
        if validate.VALIDATE:
            for raw, meta in items:
                hdr = Header.parse(raw[:80])
                reason = self.checker.check(hdr, meta.height)
                if reason:
                    raise DataError(validate.pow_message(meta.origin, hdr, reason))

    def _commit(self, items: Items, source: str) -> None:
        self._check_headers(items)
        self._store(items, prepare_batch(items, self.verify_merkle), source)

    def _store(self, items: Items, fd: FreeDecode, source: str) -> None:
        """The state stage of a batch: ids and input resolution, then its files and catalog commit."""
        st = self._decode(items, fd)
        self._commit_staged(st, self._write(st, self.next_batch), source)

    def _decode(self, items: Items, fd: FreeDecode) -> Staged:
        """Assign the batch's ids and resolve its inputs: the state moves past the batch."""
        c0 = self.state.counters
        start = (c0.block_id, c0.tx_id, c0.output_id, c0.address_id)
        self._state_dirty = True
        tables = decode_state(fd, self.state)
        self._state_dirty = False
        c = self.state.counters
        left = tables["inputs"].column("prev_output_id").is_null().to_numpy(zero_copy_only=False)
        return Staged(items, fd.pb, tables, start, (c.block_id, c.tx_id, c.output_id, c.address_id),
                      (fd.in_ka[left], fd.in_kb[left]))

    def _write(self, st: Staged, batch_id: int) -> list[str]:
        """Write the batch's partition files (not yet committed): the first alone, the others two
        at a time (the Parquet encoder, compression, fsync and checksum release the GIL, and the
        worker thread leaves a core partly idle while this thread writes)."""
        name = f"batch-{batch_id:08d}.parquet"
        todo = [(t, tab) for t, tab in st.tables.items() if tab.num_rows]
        if not todo:
            return []
        files = [self.store.write_partition(self.chain, todo[0][0], name, todo[0][1])]
        crash_point("mid_write")  # one file of the batch written, the others not
        if not self.overlap:
            return files + [self.store.write_partition(self.chain, t, name, tab) for t, tab in todo[1:]]
        with ThreadPoolExecutor(2, thread_name_prefix="fundtrail-btc-write") as pool:
            writes = [pool.submit(self.store.write_partition, self.chain, t, name, tab) for t, tab in todo[1:]]
            return files + [w.result() for w in writes]

    def _commit_staged(self, st: Staged, files: list[str], source: str) -> None:
        """The commit point of a written batch, then the run's bookkeeping."""
        crash_point("before_commit")
        pb, tables, start, end = st.pb, st.tables, st.start, st.end
        batch_id = self.next_batch
        blocks = tables["blocks"]
        heights = [h for h in blocks.column("height").to_pylist() if h is not None]
        block_rows = self._block_rows(tables, pb, start, batch_id)
        unresolved = int(np.count_nonzero(tables["inputs"].column("resolved_by").to_numpy() == 0))
        row = {
            "batch_id": batch_id, "source": source, "first_block_id": start[0],
            "last_block_id": end[0] - 1, "min_height": min(heights, default=None),
            "max_height": max(heights, default=None), "n_blocks": pb.n_blocks, "n_tx": pb.n_tx,
            "n_inputs": tables["inputs"].num_rows, "n_outputs": pb.n_out,
            "n_new_addresses": tables["addresses"].num_rows, "next_block_id": end[0],
            "next_tx_id": end[1], "next_output_id": end[2], "next_address_id": end[3],
            "run_id": self.run_id,
        }
        self._register_chain()
        extra = self.hook.on_batch(self.chain, tables) if self.hook is not None else None
        self.store.commit_batch(self.chain, row, files, block_rows, extra=extra)
        if self.hook is not None:
            self.hook.committed()
        crash_point("after_commit")
        self.next_batch += 1
        if st.unresolved is not None:
            self._late.add(*st.unresolved)
        for r in block_rows:
            self.known[r[1]] = r[3]
            if r[3] is not None:
                self.by_height[r[3]] = r[1]
        rep = self.report
        rep.blocks += pb.n_blocks
        rep.transactions += pb.n_tx
        rep.inputs += tables["inputs"].num_rows
        rep.outputs += pb.n_out
        rep.unresolved_inputs += unresolved
        rep.batches += 1
        if self.progress:
            self.progress(rep.blocks, rep.transactions)

    def _block_rows(self, tables, pb, start, batch_id) -> list[tuple]:
        """Catalog rows: each block with the id counters at its start (used by rollback)."""
        blocks = tables["blocks"]
        out_first = np.concatenate(([0], np.cumsum(pb.tx_nout)))
        new_addr_first_tx = tables["addresses"].column("first_tx_id").to_numpy()
        rows = []
        for i, (h, prev, height, first_tx) in enumerate(zip(
                blocks.column("hash").to_pylist(), blocks.column("prev_hash").to_pylist(),
                blocks.column("height").to_pylist(), blocks.column("first_tx_id").to_pylist())):
            tx0 = int(pb.blk_first_tx[i])
            first_output = start[2] + int(out_first[tx0])
            first_address = start[3] + int(np.count_nonzero(new_addr_first_tx < (first_tx or 0)))
            rows.append((start[0] + i, h, prev, height, batch_id, first_tx, first_output, first_address))
        return rows

    def finish(self) -> IngestReport:
        """Resolve inputs whose prevouts arrived in this run, save the state snapshot, report.

        The snapshot is written by a second thread while the late links are looked for, and put
        in force only when none were found (links change the unspent set: then it is written again
        after they are committed), so a snapshot in force always matches the last commit."""
        from fundtrail.ingest.bitcoin.heights import backfill_heights

        if self.report.blocks or self._unfinished:
            self.report.heights_filled += backfill_heights(self)
            last = self.store.last_batch(self.chain)
            with ThreadPoolExecutor(1, thread_name_prefix="fundtrail-btc-snapshot") as pool:
                writing = pool.submit(write_snapshot, self.store, self.chain, self.state, last)
                try:
                    found = find_links(self, self._link_from, self._late)
                except BaseException:
                    unused = writing.result()
                    if unused is not None:
                        unused.discard()
                    raise
                try:
                    pending = writing.result()
                except BaseException:
                    if found is not None:
                        found.discard()
                    raise
            if found is not None:
                if pending is not None:
                    pending.discard()
                try:
                    self.report.linked_inputs += commit_links(self, found)
                finally:
                    found.discard()
                pending = write_snapshot(self.store, self.chain, self.state)
            self._link_from = self.state.counters.tx_id
            self._late = LateKeys(self.state.counters.tx_id, self.batch_bytes)
            crash_point("before_snapshot")
            if pending is not None:
                pending.publish()
            self._unfinished = False
        self.report.seconds = round(time.perf_counter() - self._t0, 3)
        return self.report
