"""`ingest bitcoin --blocks-dir DIR --follow`: keep up with a node's blocks directory, no RPC needed.

One `BitcoinIngest` for the whole run, as the RPC follow. Each poll (`blktail.BlkTail`) gives the
records completed since the last one; they are ordered by the header chain together with the blocks
seen but not stored (stale branches, which a later block may make the heavier one; blocks of this
run rolled back; blocks waiting for their parent) and fed to one `ingest` call: the first poll
catches up in full batches, later ones commit what arrived at once. A competing branch with more
work rolls the store back to the fork point first (`jobs._reorg_if_needed`; the watch hooks retract
the alerts of the dropped blocks). Damaged ranges and bad headers are logged as they are found and,
as in the one-off ingest, listed in one DataError when the run ends (its `report` holds the report).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from fundtrail.chains.bitcoin.header import ZERO_HASH
from fundtrail.chains.bitcoin.params import Network
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.blockfiles import DEFAULT_MAX_BLOCK_BYTES, ScanResult
from fundtrail.ingest.bitcoin.blktail import BlkTail
from fundtrail.ingest.bitcoin.chainorder import Candidate, order_blocks
from fundtrail.ingest.bitcoin.decode import BlockMeta
from fundtrail.ingest.bitcoin.jobs import (
    _batching,
    _blk_origin,
    _coinbase_height,
    _combined_error,
    _reorg_if_needed,
    _segments,
)
from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest, IngestReport, Progress
from fundtrail.ingest.bitcoin.rpc import _sleep
from fundtrail.ingest.bitcoin.validate import screen
from fundtrail.store import Store

log = logging.getLogger(__name__)
REORG_DEPTH = 288  # blocks of this run kept at hand below the tip, to come back after a reorganisation

Placed = list[tuple[Candidate, int | None]]


class _Follower:
    """The state of one follow run between polls."""

    def __init__(self, ing: BitcoinIngest, tail: BlkTail, source: str) -> None:
        self.ing, self.tail, self.source = ing, tail, source
        self.pool: dict[bytes, Candidate] = {}  # seen, not stored
        self.recent: dict[bytes, tuple[Candidate, int]] = {}  # stored by this run, near the tip
        self.stale: set[bytes] = set()
        self.errors: dict[str, None] = {}  # one-line reports, in order, each once
        self.warned: set[str] = set(ing.report.warnings)
        self.first = True

    def step(self, scan: ScanResult, should_stop: Callable[[], bool]) -> None:
        """Order and ingest what one poll found with what waits; blocks with no parent wait."""
        for e in scan.errors:
            self._error(e)
        if not scan.candidates and not self.first:
            return
        ing = self.ing
        cands = list(self.pool.values()) + [c for c, _ in self.recent.values() if not ing.is_stored(c.header.hash)]
        cands += scan.candidates
        ordered, bad = screen(
            cands, ing.checker,
            lambda cs: order_blocks(cs, ing.stored_height, lambda c: _coinbase_height(
                self.tail.dir.read_block(c.handle), _blk_origin(c.handle))),
            lambda c: _blk_origin(c.handle))
        for e in bad:
            self._error(e)
        placed = ordered.blocks if self.first else self._connected(ordered.blocks)
        if self._clashes(placed):
            ing.finish()  # as the RPC follow: this run's links and snapshot before the rollback
        n_warn = len(ing.report.warnings)
        keep = _reorg_if_needed(ing, placed)
        self._dedupe_warnings(n_warn)
        kept = {c.header.hash for c, _ in keep}
        self.stale |= {c.header.hash for c in ordered.stale}
        self.stale |= {c.header.hash for c, _ in placed if c.header.hash not in kept}
        ing.ingest(self._feed(keep, should_stop), self.source)
        self._remember(cands, ordered.blocks + [(c, None) for c in ordered.stale], keep)
        self.first = False

    def _feed(self, blocks: Placed, should_stop: Callable[[], bool]) -> Iterator[tuple[bytes, BlockMeta]]:
        for cand, height in blocks:
            if should_stop():
                return  # what was fed is committed; the rest waits for the next run
            if self.ing.is_stored(cand.header.hash):
                self.ing.report.skipped_known += 1
                continue
            loc = cand.handle
            yield self.tail.dir.read_block(loc), BlockMeta(height, _blk_origin(loc), None)

    def _connected(self, blocks: Placed) -> Placed:
        """The runs whose first block's parent is stored (or genesis); the others wait for it."""
        out: Placed = []
        for seg in _segments(blocks):
            prev = seg[0][0].header.prev_hash
            if prev == ZERO_HASH or self.ing.is_stored(prev):
                out.extend(seg)
        return out

    def _clashes(self, blocks: Placed) -> bool:
        ing = self.ing
        return any(h is not None and not ing.is_stored(c.header.hash)
                   and ing.stored_hash_at(h) not in (None, c.header.hash) for c, h in blocks)

    def _remember(self, cands: list[Candidate], valid: Placed, keep: Placed) -> None:
        """Pool what is not stored (and passed the header checks); keep this run's recent blocks."""
        ing = self.ing
        ok = {c.header.hash for c, _ in valid}
        self.pool = {c.header.hash: c for c in cands
                     if c.header.hash in ok and not ing.is_stored(c.header.hash)}
        for c, h in keep:
            if h is not None and ing.is_stored(c.header.hash):
                self.recent[c.header.hash] = (c, h)
        self.stale |= {k for k in self.recent if not ing.is_stored(k)}  # rolled back: off the best chain
        tip = ing.tip_height
        if tip is not None and len(self.recent) > 2 * REORG_DEPTH:
            self.recent = {k: v for k, v in self.recent.items() if v[1] > tip - REORG_DEPTH}
        ing.report.stale = sum(1 for h in self.stale if not ing.is_stored(h))

    def _dedupe_warnings(self, since: int) -> None:
        """`_reorg_if_needed` warns of a stale branch each time it sees it: keep each warning once."""
        warnings = self.ing.report.warnings
        new = warnings[since:]
        del warnings[since:]
        for w in new:
            if w not in self.warned:
                self.warned.add(w)
                warnings.append(w)
                log.warning("%s: %s", self.source, w)

    def _error(self, exc: DataError) -> None:
        line = exc.one_line()
        if line not in self.errors:
            self.errors[line] = None
            log.warning("%s", line)


def follow_blocks_dir(store: Store, path: Path, *, network: Network | None = None,
                      progress: Progress | None = None, poll_interval: float = 10.0,
                      should_stop: Callable[[], bool] = lambda: False, batch_bytes: int | None = None,
                      batch_blocks: int | None = None,
                      max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> IngestReport:
    """Ingest a blocks directory, then every block the node appends, until `should_stop()`."""
    tail = BlkTail(path, max_block_bytes=max_block_bytes)
    scan = tail.poll(network)
    while scan.network is None:  # a node just started: no record yet tells the network
        if should_stop():
            raise scan.error or DataError(f"{path}: no blocks found in the blk files before the follow stopped")
        _sleep(poll_interval, should_stop)
        scan = tail.poll(network)
    source = f"blocks-dir {path}"
    with BitcoinIngest(store, scan.network, progress=progress, **_batching(batch_bytes, batch_blocks)) as ing:
        follower = _Follower(ing, tail, source)
        try:
            while True:
                follower.step(scan, should_stop)
                _sleep(poll_interval, should_stop)
                if should_stop():
                    break
                scan = tail.poll(scan.network)
        except DataError as exc:
            ing.finish()
            if not follower.errors:
                raise
            raise _combined_error([*follower.errors, exc.one_line()], ing.report,
                                  "damaged range(s) or block(s)") from None
        report = ing.finish()
        if follower.errors:
            raise _combined_error(list(follower.errors), report, "damaged range(s) or block(s)")
        return report
