"""Ingest jobs: a blocks directory, raw files, or a node's JSON-RPC, into a store.

Each job orders its blocks, feeds them to `BitcoinIngest` and returns its report. A framing error
found part-way through the input is raised only after everything before it has been committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from fundtrail.chains.bitcoin.header import Header, bip34_height
from fundtrail.chains.bitcoin.params import MAINNET, Network
from fundtrail.chains.bitcoin.parser import parse_batch
from fundtrail.chains.bitcoin.undo import (
    flatten_prevouts,
    iter_rev_records,
    load_xor_key,
    match_records,
    parse_flat_undo,
)
from fundtrail.errors import DataError, UsageError
from fundtrail.ingest.bitcoin.blockfiles import BlocksDir, load_raw_file
from fundtrail.ingest.bitcoin.chainorder import Candidate, order_blocks
from fundtrail.ingest.bitcoin.decode import BlockMeta
from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest, IngestReport, Progress
from fundtrail.ingest.bitcoin.rollback import rollback_to
from fundtrail.store import Store

log = logging.getLogger(__name__)


def _coinbase_height(raw: bytes, origin: str) -> int | None:
    """BIP34 height of a block whose parent is unknown (only version >= 2 blocks carry one)."""
    if Header.parse(raw[:80]).version < 2:
        return None
    pb = parse_batch([raw], [origin])
    s, n = int(pb.in_script_off[0]), int(pb.in_script_len[0])
    return bip34_height(raw[s:s + n])


def _reorg_if_needed(ing: BitcoinIngest, ordered: list[tuple[Candidate, int | None]]) -> None:
    """If the incoming best chain replaces stored blocks, roll the store back to the fork point."""
    for cand, height in ordered:
        if height is None or ing.is_stored(cand.header.hash):
            continue
        stored = ing.stored_hash_at(height)
        if stored is not None and stored != cand.header.hash:
            ing.report.rolled_back += rollback_to(ing, height - 1)
            ing.report.warnings.append(f"reorganisation: replaced stored blocks from height {height}")
        return


def ingest_blocks_dir(store: Store, path: Path, *, network: Network | None = None,
                      use_undo: bool = False, progress: Progress | None = None,
                      batch_bytes: int | None = None) -> IngestReport:
    """Ingest the best chain found in a Bitcoin Core blocks directory."""
    bdir = BlocksDir(path)
    scan = bdir.scan(network)
    if scan.network is None:
        raise DataError(f"{path}: no blocks found in the blk files")
    kwargs = {"batch_bytes": batch_bytes} if batch_bytes else {}
    ing = BitcoinIngest(store, scan.network, progress=progress, **kwargs)
    ordered = order_blocks(
        scan.candidates, ing.stored_height,
        lambda c: _coinbase_height(bdir.read_block(c.handle), f"{c.handle.path}@{c.handle.offset}"))
    ing.report.stale = len(ordered.stale)
    _reorg_if_needed(ing, ordered.blocks)
    undo = _load_rev_undo(bdir, scan.network, ordered.blocks) if use_undo else {}

    def feed() -> Iterator[tuple[bytes, BlockMeta]]:
        for cand, height in ordered.blocks:
            if ing.is_stored(cand.header.hash):
                ing.report.skipped_known += 1
                continue
            loc = cand.handle
            rec = undo.get(cand.header.hash)
            yield bdir.read_block(loc), BlockMeta(
                height, f"{loc.path}@{loc.offset - 8}",
                flatten_prevouts(rec) if rec is not None else None)

    ing.ingest(feed(), f"blocks-dir {path}")
    report = ing.finish()
    if scan.error:
        raise scan.error
    return report


def _load_rev_undo(bdir: BlocksDir, network: Network, blocks) -> dict:
    """Undo records of the directory's rev files, keyed by the hash of the block they belong to."""
    parents = {}
    for cand, _ in blocks:
        parents[cand.header.prev_hash] = cand.header.hash
    out = {}
    for rev in sorted(bdir.path.glob("rev?????.dat")):
        data = rev.read_bytes()
        if bdir.xor_key:
            from fundtrail.chains.bitcoin.undo import deobfuscate

            data = deobfuscate(data, bdir.xor_key, 0)
        matched = match_records(iter_rev_records(data, network.magic, str(rev)), parents.keys())
        for parent, rec in matched.items():
            out[parents[parent]] = rec
    return out


def ingest_raw_files(store: Store, paths: list[Path], *, network: Network | None = None,
                     undo_files: list[Path] | None = None, progress: Progress | None = None) -> IngestReport:
    """Ingest raw blocks (binary, hex, blk streams, bzip2); blocks that connect are ordered by height."""
    if undo_files and len(undo_files) != len(paths):
        raise UsageError(f"--undo needs one file per --raw file ({len(paths)} raw, {len(undo_files)} undo)")
    blocks: list[tuple[bytes, str]] = []
    undo_for: dict[int, tuple] = {}
    first_error: DataError | None = None
    net = network
    for i, p in enumerate(paths):
        found, fnet, err = load_raw_file(p, net)
        net = net or fnet
        if undo_files:
            data = Path(undo_files[i]).read_bytes()
            if len(found) != 1:
                raise UsageError(f"--undo {undo_files[i]}: pairs only with a file holding one block, "
                                 f"{p} holds {len(found)}")
            undo_for[len(blocks)] = parse_flat_undo(data, str(undo_files[i]))
        blocks.extend(found)
        if err:
            first_error = err
            break
    ing = BitcoinIngest(store, net or MAINNET, progress=progress)
    cands = [Candidate(Header.parse(raw[:80]), i, i) for i, (raw, _) in enumerate(blocks)]
    ordered = order_blocks(cands, ing.stored_height,
                           lambda c: _coinbase_height(blocks[c.handle][0], blocks[c.handle][1]))
    ing.report.stale = len(ordered.stale)
    _reorg_if_needed(ing, ordered.blocks)
    ing.ingest(((blocks[c.handle][0], BlockMeta(h, blocks[c.handle][1], undo_for.get(c.handle)))
                for c, h in ordered.blocks), "raw " + ", ".join(str(p) for p in paths[:3]))
    report = ing.finish()
    if first_error:
        raise first_error
    return report


def ingest_rpc(store: Store, source, *, start: int | None, end: int | None, follow: bool = False,
               progress: Progress | None = None, poll_interval: float = 10.0,
               should_stop: Callable[[], bool] = lambda: False) -> IngestReport:
    """Ingest a height range from a node (`source` is a BitcoinRpcSource); follow the tip if asked."""
    from fundtrail.ingest.bitcoin.source import Rollback

    net = source.network()
    ing = BitcoinIngest(store, net, progress=progress)
    first = start if start is not None else ((ing.tip_height + 1) if ing.tip_height is not None else 0)
    if follow:
        def known(h: int) -> str | None:
            got = ing.stored_hash_at(h)
            return got[::-1].hex() if got else None

        stream = source.follow(first, known, poll_interval=poll_interval, should_stop=should_stop)
        pending: list = []
        for ev in stream:
            if isinstance(ev, Rollback):
                ing.ingest(pending, f"rpc {source}")
                pending = []
                ing.finish()
                ing.report.rolled_back += rollback_to(ing, ev.keep_height)
                continue
            ing.ingest([(ev.raw, BlockMeta(ev.height, ev.origin, ev.prevouts))], f"rpc {source}")
        return ing.finish()
    last = end if end is not None else source.tip_height()
    if last < first:
        raise UsageError(f"empty height range {first}..{last}")
    ing.ingest(((b.raw, BlockMeta(b.height, b.origin, b.prevouts)) for b in source.blocks(first, last)),
               f"rpc {source}")
    return ing.finish()


__all__ = ["ingest_blocks_dir", "ingest_raw_files", "ingest_rpc", "load_xor_key"]
