"""Bitcoin ingest on two cores: the next batch is prepared while this one is stored.

While the main thread checks the headers of batch N, assigns its ids, resolves its inputs against
the unspent set (the only sequential work) and writes and commits it (`BitcoinIngest._store`), a
worker thread parses, hashes and checks batch N+1 and decodes what needs no state
(`batches.prepare_batch`), handing half of the parsing and hashing to a helper thread. The heavy
parts release the GIL (numba `nogil` kernels, Arrow's Parquet writer, fsync, hashing). Writing
batch N's files in a third thread while batch N+1 is resolved was measured too (docs/benchmarks.md,
"Bitcoin ingest"): no faster on two cores, and one more batch held in memory, so it is not done.

What a one-batch-at-a-time run guarantees still holds. Batches are cut the same way
(`batches.BatchCutter`); nothing of batch N+1 touches the disk before batch N is committed, so a
crash at any point leaves what it left before. A `DataError` of batch N (from either thread) makes
the main thread redo batch N the one-at-a-time way: the valid prefix committed, the same error
raised (or, with `skip_bad_blocks`, the bad block reported and skipped). Any other exception of
the worker is raised on the main thread as it was raised, after the batches before it are
committed. If the block stream itself fails while the next batch is being read, the batch in
hand is stored first, as it was before the read-ahead.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from fundtrail.chains.bitcoin.header import Header
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.batches import WAIT, BatchCutter, Items, prepare_batch
from fundtrail.ingest.bitcoin.decode_free import FreeDecode

if TYPE_CHECKING:
    from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest


def run_overlapped(ing: BitcoinIngest, cutter: BatchCutter, source: str) -> None:
    """Ingest the batches of `cutter`, each prepared in the worker while the one before is stored."""
    with ThreadPoolExecutor(1, thread_name_prefix="fundtrail-btc-prepare") as pool, \
            ThreadPoolExecutor(1, thread_name_prefix="fundtrail-btc-helper") as helper:

        def prepare(items: Items | None) -> Future[FreeDecode] | None:
            return pool.submit(prepare_batch, items, ing.verify_merkle, helper) if items else None

        def store(items: Items, prepared: Future[FreeDecode]) -> None:
            try:
                fd = prepared.result()
                ing._check_headers(items)
                ing._store(items, fd, source)
            except DataError:
                if ing._state_dirty:  # decoding failed part-way through changing the state
                    ing._reload_state()
                ing._commit_valid_prefix(items, source)  # raises, or skips the bad block

        cur = cutter.next()
        fut = prepare(cur)
        while cur is not None and fut is not None:
            try:
                nxt = cutter.next(frozenset(Header.parse(raw[:80]).hash for raw, _ in cur))
            except BaseException:  # the stream failed: the batch in hand is stored first
                store(cur, fut)
                raise
            nfut = prepare(nxt)
            try:
                store(cur, fut)
            except BaseException:
                if nfut is not None:
                    nfut.cancel()
                raise
            if nxt is WAIT:  # the next block's fate depends on the batch just stored
                nxt = cutter.next()
                nfut = prepare(nxt)
            cur, fut = nxt, nfut
