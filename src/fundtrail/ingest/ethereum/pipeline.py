"""The account-chain ingest pipeline: fetch a batch of blocks, decode, commit atomically.

The same code serves any EVM chain, where what differs is configuration (`model.chains.EvmChain`),
and TRON, where the fetch step differs too (`fetch=`: java-tron's HTTP API turned into the same
`BlockBundle`s, `ingest/tron/fetch.py`); decoding, commits, rollback and watch hooks are shared.
Ids are dense and assigned in block order, so a rerun after a crash continues from the last
committed batch and assigns the same ids; a reorganisation rolls back by block number.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fundtrail.errors import DataError, SourceError
from fundtrail.ingest.bitcoin.spill_budget import current_budget
from fundtrail.ingest.crash import crash_point
from fundtrail.ingest.ethereum.fetch import fetch_bundles
from fundtrail.ingest.ethereum.book import AddressBook
from fundtrail.ingest.ethereum.known import KnownBlocks
from fundtrail.ingest.ethereum.rows import BlockBundle, Counters, build_tables
from fundtrail.ingest.ethereum.verify import UNVERIFIED_WHY
from fundtrail.ingest.hooks import BatchHook, hook_for
from fundtrail.ingest.runs import ChainWriter
from fundtrail.model.chains import EvmChain
from fundtrail.store import Store

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (blocks done, transfers done)
#: Peak bytes per transaction of a batch in flight (the node's JSON parsed, bundles, rows, Arrow
#: tables): 1.4 GB for 100 blocks of the TRON simulator's 1,700 transactions.
TX_BYTES = 8192
#: Under a memory budget a batch takes at most this share of it (the book 16%, DuckDB 25%).
BATCH_SHARE = 0.25
#: Transactions per block assumed before a batch has shown any (so the default budget, half of a
#: workstation's memory, keeps the default 100 blocks; 256 MB starts at 4).
FIRST_TX_PER_BLOCK = 2000
Fetch = Callable[[list[int]], list[BlockBundle]]  # block numbers -> their bundles, in order


@dataclass
class EthIngestReport:
    """What one run did; printed by the CLI, returned by the Python API."""

    chain: str
    chain_id: int
    blocks: int = 0
    skipped_known: int = 0
    transactions: int = 0
    transfers: int = 0
    batches: int = 0
    rolled_back: int = 0
    unverified_blocks: int = 0  # stored with verified = false: the chain's format cannot be hashed
    trace_mode: str | None = None
    fetch_seconds: float = 0.0
    process_seconds: float = 0.0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class EthIngest(ChainWriter):
    """Commits blocks of one account chain to a store; use as a context manager.

    `rpc` names the source in provenance and answers `token_metadata`; `fetch` gets a batch's
    bundles (default: the EVM JSON-RPC fetcher on `rpc`); `network` is the catalog's network of
    the chain (default `chain-id-<id>`)."""

    def __init__(self, store: Store, chain: EvmChain, rpc, *, batch_blocks: int = 100,
                 progress: Progress | None = None, fetch: Fetch | None = None,
                 network: str | None = None) -> None:
        self.chain, self.rpc = chain, rpc
        self.name = chain.name
        self.batch_blocks = batch_blocks
        self._tx_per_block: int | None = None  # the busiest block's, of the last batch (`batch_size`)
        self.progress = progress
        self.fetch: Fetch = fetch or (lambda numbers: fetch_bundles(rpc, numbers, chain))
        self._open_writer(store, self.name)
        self._declare_chain("account", network or f"chain-id-{chain.chain_id}")
        self.report = EthIngestReport(self.name, chain.chain_id)
        self._t0 = time.perf_counter()
        self.hook: BatchHook | None = hook_for(store, self.name)  # the watch rules (docs/watch.md)
        self.load()

    def load(self) -> None:
        """(Re)read counters, known blocks, addresses and tokens from the store."""
        last = self.store.last_batch(self.name)
        self.counters = Counters()
        self.next_batch = 0
        if last is not None:
            self.counters = Counters(tx_id=int(last["next_tx_id"]),
                                     transfer_id=int(last["next_transfer_id"] or 0),
                                     address_id=int(last["next_address_id"]))
            self.next_batch = int(last["batch_id"]) + 1
        self.hashes = KnownBlocks(self.store, self.name)
        self.tokens: set[bytes] = set()
        p = self.name.replace("-", "_")
        if last is not None:
            with self.store.query() as con:
                self.tokens = {bytes(a) for (a,) in con.execute(
                    f"SELECT a.address FROM {p}_tokens t JOIN {p}_addresses a USING (address_id)").fetchall()}
        # within the run's memory budget (`memory_budget`): spills beyond its share (book.py)
        self.book = AddressBook.load(self.store, self.name, self.counters.address_id, fresh=last is None)

    @property
    def tip(self) -> int | None:
        return self.hashes.tip

    def ingest_range(self, first: int, last: int) -> None:
        """Fetch and commit blocks first..last (inclusive) in batches; skip stored ones."""
        self._begin_run(f"rpc {self.rpc}")
        n = first
        while n <= last:
            size = self.batch_size()
            numbers = [b for b in range(n, min(n + size, last + 1)) if b not in self.hashes]
            self.report.skipped_known += min(size, last + 1 - n) - len(numbers)
            n += size
            if numbers:
                self.commit_blocks(numbers)

    def batch_size(self) -> int:
        """Blocks in the next batch: `batch_blocks`, or under a memory budget at most as many as
        fit its share at the busiest block's transactions in the last batch that had any (before
        one: FIRST_TX_PER_BLOCK, a busy TRON block). Ids do not depend on batches, so neither
        does the store's content."""
        budget = current_budget()
        if budget is None:
            return self.batch_blocks
        per = self._tx_per_block or FIRST_TX_PER_BLOCK
        return max(1, min(self.batch_blocks, int(budget * BATCH_SHARE) // (TX_BYTES * per)))

    def commit_blocks(self, numbers: list[int]) -> None:
        """Fetch, decode and commit one batch; nothing of it is stored if any part fails."""
        t = time.perf_counter()
        bundles = self.fetch(numbers)
        self.report.fetch_seconds += time.perf_counter() - t
        t = time.perf_counter()
        self._check_links(bundles)
        token_meta = {}
        for b in bundles:
            if self.report.trace_mode in (None, "none") and (b.transactions or self.report.trace_mode is None):
                self.report.trace_mode = b.trace_mode
            for mv in b.token_moves:
                if mv["token"] not in self.tokens and mv["token"] not in token_meta:
                    token_meta[mv["token"]] = self.rpc.token_metadata("0x" + mv["token"].hex())
        start = (self.counters.tx_id, self.counters.transfer_id, self.book.next_id)
        try:
            tables, marks = build_tables(bundles, self.book, self.counters, token_meta)
        except (KeyError, TypeError, ValueError) as exc:
            self._reset(start)
            raise DataError(f"blocks {numbers[0]}..{numbers[-1]}: cannot decode node data ({exc!r})") from None
        batch_id = self.next_batch
        name = f"batch-{batch_id:08d}.parquet"
        files = []
        for table, data in tables.items():
            if data.num_rows:
                files.append(self.store.write_partition(self.name, table, name, data))
                crash_point("eth_mid_write")  # some files of the batch written, not all
        crash_point("eth_before_commit")
        row = {
            "batch_id": batch_id, "source": f"rpc {self.rpc}", "run_id": self.run_id,
            "first_block_id": numbers[0], "last_block_id": numbers[-1], "min_height": numbers[0],
            "max_height": numbers[-1], "n_blocks": len(bundles), "n_tx": tables["transactions"].num_rows,
            "n_inputs": 0, "n_outputs": 0, "n_new_addresses": tables["addresses"].num_rows,
            "next_block_id": numbers[-1] + 1, "next_tx_id": self.counters.tx_id,
            "next_output_id": 0, "next_address_id": self.book.next_id,
            "next_transfer_id": self.counters.transfer_id,
        }
        block_rows = [(num, h, parent, num, batch_id, ftx, ftr, fad) for num, h, parent, ftx, ftr, fad in marks]
        self._register_chain()
        extra = self.hook.on_batch(self.name, tables) if self.hook is not None else None
        self.store.commit_batch(self.name, row, files, block_rows, extra=extra)
        if self.hook is not None:
            self.hook.committed()
        crash_point("eth_after_commit")
        self.next_batch += 1
        self.tokens.update(token_meta)
        for num, h, *_ in marks:
            self.hashes.add(num, h)
        self._count_unverified(bundles)
        rep = self.report
        for note in (n for b in bundles for n in b.notes):  # decoder notes (TRON: unknown contracts)
            if note not in rep.warnings and len(rep.warnings) < 100:
                rep.warnings.append(note)
        self._tx_per_block = max((len(b.transactions) for b in bundles), default=0) or self._tx_per_block
        rep.blocks += len(bundles)
        rep.transactions += tables["transactions"].num_rows
        rep.transfers += tables["transfers"].num_rows
        rep.batches += 1
        rep.process_seconds += time.perf_counter() - t
        if self.progress:
            self.progress(rep.blocks, rep.transfers)

    def _check_links(self, bundles: list[BlockBundle]) -> None:
        """Each block's parent hash must be the hash of the block before it, in this batch or
        stored: a node mixing branches (or lying) stops the batch before anything is stored."""
        batch: dict[int, bytes] = {}
        for b in bundles:
            number, parent_hash = b.block["number"], b.block["parent_hash"]
            where = f"{self.rpc}: block {number} 0x{b.block['hash'].hex()}: field parentHash"
            prev = batch.get(number - 1)
            if prev is not None and prev != parent_hash:
                raise SourceError(f"{where} 0x{parent_hash.hex()} is not the hash of block "
                                  f"{number - 1} (0x{prev.hex()}) in the same answer",
                                  hint="the node mixed branches or is not trustworthy; retry")
            stored = self.hashes.get(number - 1)
            if prev is None and stored is not None and stored != parent_hash:
                raise SourceError(f"{where} 0x{parent_hash.hex()} does not extend the stored block "
                                  f"{number - 1} (0x{stored.hex()}); the node reorganised",
                                  hint="rerun with --follow to roll back to the fork point")
            batch[number] = b.block["hash"]

    def _count_unverified(self, bundles: list[BlockBundle]) -> None:
        """Count blocks stored unverified; say why once per run."""
        unverified = sum(not b.verified for b in bundles)
        if unverified and not self.report.unverified_blocks:
            level = "tron" if self.chain.address_format == "base58check" else self.chain.verify
            why = UNVERIFIED_WHY.get(level, "its blocks cannot be checked")
            self.report.warnings.append(f"chain {self.name}: {why}; its blocks are stored as "
                                        "unverified (blocks.verified = false)")
            log.warning("%s", self.report.warnings[-1])
        self.report.unverified_blocks += unverified

    def _reset(self, start: tuple[int, int, int]) -> None:
        """Counters back to before a batch that failed to decode (`build_tables` has already
        taken its new addresses out of the book)."""
        self.counters.tx_id, self.counters.transfer_id, _ = start
        self.book.next_id = start[2]

    def close(self) -> None:
        """Release the writer lock, and the book's spill files (they are rebuilt at every load)."""
        try:
            book = getattr(self, "book", None)  # not made when opening the writer failed
            if book is not None:
                book.close()
        finally:
            super().close()

    def finish(self) -> EthIngestReport:
        self.report.seconds = round(time.perf_counter() - self._t0, 3)
        self.report.fetch_seconds = round(self.report.fetch_seconds, 3)
        self.report.process_seconds = round(self.report.process_seconds, 3)
        if self.report.trace_mode == "none":
            self.report.warnings.append("the node offers no traces: internal transfers are not ingested")
        return self.report
