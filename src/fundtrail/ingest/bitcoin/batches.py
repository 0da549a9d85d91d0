"""Cutting the block stream into batches, and the state-free stage of a batch.

The pipeline (`pipeline.BitcoinIngest`) runs `prepare_batch` for batch N+1 in a worker thread while
its main thread resolves, writes and commits batch N. To have batch N+1 at hand, it cuts it from the
stream before batch N is committed; `BatchCutter` makes that read-ahead cut exactly the batches a
one-at-a-time run cuts: where the rule depends on what batch N's commit adds to the stored blocks
(a block of the in-flight batch given again, or a first block at height 0 while nothing is stored
yet), it stops and waits until batch N is resolved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from fundtrail.chains.bitcoin.header import Header
from fundtrail.chains.bitcoin.parser import ParsedBatch, parse_batch
from fundtrail.chains.bitcoin.txid import compute_txids, merkle_roots
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin import validate
from fundtrail.ingest.bitcoin.decode import BlockMeta
from fundtrail.ingest.bitcoin.decode_free import FreeDecode, decode_free

if TYPE_CHECKING:
    from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest

log = logging.getLogger(__name__)

Items = list[tuple[bytes, BlockMeta]]


@dataclass
class Staged:
    """A batch decoded against the state (its ids assigned), waiting for its files and commit."""

    items: Items
    pb: ParsedBatch
    tables: dict[str, pa.Table]
    start: tuple[int, int, int, int]  # id counters (block, tx, output, address) before the batch
    end: tuple[int, int, int, int]  # and after it
    #: the outpoint keys of the batch's inputs left unresolved (`links.LateKeys`)
    unresolved: tuple[np.ndarray, np.ndarray] | None = None

#: `BatchCutter.next` result: the next block needs the in-flight batch resolved first.
WAIT: Items = []


class BatchCutter:
    """Batches of `blocks` by the pipeline's byte and block budget, skipping stored blocks."""

    def __init__(self, ing: BitcoinIngest, blocks: Iterable[tuple[bytes, BlockMeta]]) -> None:
        self.ing = ing
        self._it: Iterator[tuple[bytes, BlockMeta]] = iter(blocks)
        self._held: tuple[bytes, BlockMeta, bytes] | None = None
        self._pending: Items = []
        self._size = 0
        self._last_hash: bytes | None = None
        self._pending_hashes: set[bytes] = set()  # a block given twice inside one batch is stored once

    def next(self, inflight: frozenset[bytes] = frozenset()) -> Items | None:
        """The next batch; None at the end of the stream; `WAIT` (an empty list, tested with `is`)
        if deciding about the next block needs the batch of `inflight` hashes committed first."""
        ing = self.ing
        while True:
            if self._held is not None:
                raw, meta, h = self._held
                self._held = None
            else:
                try:
                    raw, meta = next(self._it)
                except StopIteration:
                    out, self._pending, self._size = self._pending, [], 0
                    self._pending_hashes = set()
                    return out or None
                h = Header.parse(raw[:80]).hash
            first_at_zero = not ing.known and not self._pending and meta.height == 0
            if inflight and (h in inflight or first_at_zero):
                self._held = (raw, meta, h)
                return WAIT
            if h in ing.known or h == self._last_hash or h in self._pending_hashes:  # stored, or given again
                ing.report.skipped_known += 1
                continue
            self._last_hash = h
            self._pending_hashes.add(h)
            if first_at_zero and h[::-1].hex() != ing.network.genesis_hash:
                ing.report.warnings.append(
                    f"the first block {h[::-1].hex()} is not the {ing.network.name} genesis block; "
                    "ingesting it as a chain of its own (simulated or test chain)")
                log.info(ing.report.warnings[-1])
            self._pending.append((raw, meta))
            self._size += len(raw)
            if self._size >= ing.batch_bytes or len(self._pending) >= ing.batch_blocks:
                out, self._pending, self._size = self._pending, [], 0
                self._pending_hashes = set()
                return out


def prepare_batch(items: Items, verify_merkle: bool, helper: Executor | None = None) -> FreeDecode:
    """Parse, hash and check a batch and decode what needs no state (safe in a worker thread).

    With `helper`, parsing and hashing run in two halves at once (`parser.parse_batch`): when the
    main thread has less to do than this stage, both cores work on it.

    Raises the same `DataError` as the one-at-a-time path for a malformed block or a merkle root
    that does not match (the pipeline then redoes the batch on its main thread to commit the valid
    prefix, `BitcoinIngest._commit_valid_prefix`).
    """
    raws = [r for r, _ in items]
    metas = [m for _, m in items]
    pb = parse_batch(raws, [m.origin for m in metas], helper)
    txids = compute_txids(pb, helper)
    if verify_merkle:
        roots, mutated = merkle_roots(pb, txids)
        for b in range(pb.n_blocks):
            if roots[b].tobytes() != raws[b][36:68]:
                raise DataError(f"{metas[b].origin}: block {Header.parse(raws[b][:80]).hash_hex}: "
                                "merkle root in the header does not match the block's transactions; "
                                "the block is corrupt or altered")
            if mutated[b] and validate.VALIDATE:
                raise DataError(f"{metas[b].origin}: block {Header.parse(raws[b][:80]).hash_hex}: "
                                "duplicate transactions keep the merkle root (CVE-2012-2459 "
                                "malleation); the block is not stored")
    return decode_free(pb, txids, metas)
