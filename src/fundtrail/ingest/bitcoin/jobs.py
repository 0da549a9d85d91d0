"""Ingest jobs: a blocks directory, raw files, or a node's JSON-RPC, into a store.

Each job orders its blocks, feeds them to `BitcoinIngest` and returns its report. A framing error
found part-way through the input is raised only after everything before it has been committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from fundtrail.chains.bitcoin.header import Header, bip34_height, work
from fundtrail.chains.bitcoin.params import MAINNET, Network
from fundtrail.chains.bitcoin.parser import parse_batch
from fundtrail.chains.bitcoin.undo import (
    flatten_prevouts,
    iter_rev_records,
    match_records,
    parse_flat_undo,
)
from fundtrail.errors import DataError, UsageError
from fundtrail.ingest.bitcoin.blockfiles import (
    DEFAULT_MAX_BLOCK_BYTES,
    DEFAULT_MAX_DECOMPRESSED_MB,
    BlocksDir,
    load_raw_file,
)
from fundtrail.ingest.bitcoin.chainorder import Candidate, order_blocks
from fundtrail.ingest.bitcoin.decode import BlockMeta
from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest, IngestReport, Progress
from fundtrail.ingest.bitcoin.rollback import rollback_to
from fundtrail.ingest.bitcoin.validate import screen
from fundtrail.store import Store

log = logging.getLogger(__name__)


def _coinbase_height(raw: bytes, origin: str) -> int | None:
    """BIP34 height of a block whose parent is unknown (only version >= 2 blocks carry one)."""
    if Header.parse(raw[:80]).version < 2:
        return None
    try:
        pb = parse_batch([raw], [origin])
    except DataError:
        return None  # a corrupt block: reported with its offset when ingest reaches it
    if pb.n_in == 0:
        return None
    s, n = int(pb.in_script_off[0]), int(pb.in_script_len[0])
    return bip34_height(raw[s:s + n])


def _blk_origin(loc) -> str:
    """Where a block of a blocks directory is, for messages: the file and its record's offset."""
    return f"{loc.path} at byte offset {loc.offset - 8}"


def _run(ing: BitcoinIngest, blocks, source: str) -> IngestReport:
    """Ingest, then finish; a data error part-way is raised after what came before it is stored."""
    try:
        ing.ingest(blocks, source)
    except DataError:
        ing.finish()
        raise
    return ing.finish()


def _batching(batch_bytes: int | None, batch_blocks: int | None) -> dict:
    out = {}
    if batch_bytes:
        out["batch_bytes"] = batch_bytes
    if batch_blocks:
        out["batch_blocks"] = batch_blocks
    return out


def _segments(ordered: list[tuple[Candidate, int | None]]) -> list[list[tuple[Candidate, int | None]]]:
    """Split the ordered blocks into runs where each block is the child of the one before."""
    out: list[list[tuple[Candidate, int | None]]] = []
    for item in ordered:
        if out and item[0].header.prev_hash == out[-1][-1][0].header.hash:
            out[-1].append(item)
        else:
            out.append([item])
    return out


def _stored_work_above(ing: BitcoinIngest, height: int) -> int:
    """Total proof of work of the stored blocks above `height`."""
    p = ing.chain.replace("-", "_")
    with ing.store.query() as con:
        rows = con.execute(f"SELECT bits FROM {p}_blocks WHERE height > ?", [height]).fetchall()
    return sum(work(int(b)) for (b,) in rows)


def _reorg_if_needed(ing: BitcoinIngest,
                     ordered: list[tuple[Candidate, int | None]]) -> list[tuple[Candidate, int | None]]:
    """Reconcile the incoming best chain with the stored one; returns the blocks to ingest.

    Where an incoming branch replaces stored blocks (a different block at a stored height) and has
    more work above the fork point than the stored blocks there, the store is rolled back to the
    fork point. A branch with no more work than the stored chain is left out as stale: the store
    keeps the first chain it saw, as a node does.
    """
    keep: list[tuple[Candidate, int | None]] = []
    for seg in _segments(ordered):
        clash = next((i for i, (cand, height) in enumerate(seg)
                      if height is not None and not ing.is_stored(cand.header.hash)
                      and ing.stored_hash_at(height) not in (None, cand.header.hash)), None)
        if clash is None:
            keep.extend(seg)
            continue
        clash_height = seg[clash][1]
        assert clash_height is not None  # a clash is only looked for at a known height
        fork = clash_height - 1
        incoming = sum(work(c.header.bits) for c, _ in seg[clash:])
        if incoming > _stored_work_above(ing, fork):
            ing.report.rolled_back += rollback_to(ing, fork)
            ing.report.warnings.append(f"reorganisation: replaced stored blocks from height {fork + 1}")
            keep.extend(seg)
        else:
            keep.extend(seg[:clash])
            ing.report.stale += len(seg) - clash
            ing.report.warnings.append(
                f"{len(seg) - clash} block(s) from height {fork + 1} on fork off the stored chain with "
                "no more work than it; left out as stale")
    return keep


def _combined_error(errors: list[str], report: IngestReport, what: str) -> DataError:
    """One DataError for everything left out, carrying the report of what was stored."""
    report.errors = errors
    more = f"; and {len(errors) - 1} more (see the report)" if len(errors) > 1 else ""
    exc = DataError(f"{len(errors)} {what} not ingested, the other blocks were: {errors[0]}{more}")
    exc.report = report  # type: ignore[attr-defined]
    return exc


def ingest_blocks_dir(store: Store, path: Path, *, network: Network | None = None,
                      use_undo: bool = False, progress: Progress | None = None,
                      batch_bytes: int | None = None, batch_blocks: int | None = None,
                      max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> IngestReport:
    """Ingest the best chain found in a Bitcoin Core blocks directory.

    Damaged byte ranges of the blk files are skipped (resynchronising on the next magic) and blocks
    failing their proof of work are left out; the good blocks are stored and then one DataError
    lists what was left out (its `report` attribute holds the report). A block whose body is bad
    stops the run after the blocks before it are stored: its descendants cannot connect.
    """
    bdir = BlocksDir(path, max_block_bytes=max_block_bytes)
    scan = bdir.scan(network)
    if scan.network is None:
        raise scan.error or DataError(f"{path}: no blocks found in the blk files")
    batching = _batching(batch_bytes, batch_blocks)
    with BitcoinIngest(store, scan.network, progress=progress, **batching) as ing:
        ordered, bad_headers = screen(
            scan.candidates, ing.checker,
            lambda cands: order_blocks(
                cands, ing.stored_height,
                lambda c: _coinbase_height(bdir.read_block(c.handle), _blk_origin(c.handle))),
            lambda c: _blk_origin(c.handle))
        ing.report.stale = len(ordered.stale)
        blocks = _reorg_if_needed(ing, ordered.blocks)
        undo = _load_rev_undo(bdir, scan.network, blocks) if use_undo else {}
        stored_before = {c.header.hash for c, _ in blocks if ing.is_stored(c.header.hash)}

        def feed() -> Iterator[tuple[bytes, BlockMeta]]:
            for cand, height in blocks:
                if ing.is_stored(cand.header.hash):
                    ing.report.skipped_known += 1
                    continue
                loc = cand.handle
                rec = undo.get(cand.header.hash)
                yield bdir.read_block(loc), BlockMeta(
                    height, _blk_origin(loc), flatten_prevouts(rec) if rec is not None else None)

        left_out = [e.one_line() for e in scan.errors + bad_headers]
        try:
            report = _run(ing, feed(), f"blocks-dir {path}")
        except DataError as exc:
            if not left_out:
                raise
            raise _combined_error(left_out + [exc.one_line()], ing.report,
                                  "damaged range(s) or block(s)") from None
        late = {c.header.hash: (flatten_prevouts(undo[c.header.hash]), f"rev files of {path}")
                for c, _ in blocks if c.header.hash in undo and c.header.hash in stored_before}
        if late:
            from fundtrail.ingest.bitcoin.undo_stored import resolve_stored_from_undo

            n = resolve_stored_from_undo(ing, late)
            report.undo_resolved += n
            if n:
                report.notes.append(f"{n} unresolved inputs of blocks stored earlier were resolved "
                                    "from the rev files")
        if left_out:
            raise _combined_error(left_out, report, "damaged range(s) or block(s)")
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
                     undo_files: list[Path] | None = None, progress: Progress | None = None,
                     batch_bytes: int | None = None, batch_blocks: int | None = None,
                     max_decompressed_mb: int = DEFAULT_MAX_DECOMPRESSED_MB,
                     max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> IngestReport:
    """Ingest raw blocks (binary, hex, blk streams, bzip2); blocks that connect are ordered by height.

    A corrupt file or block does not stop the others: every good block is stored, and at the end a
    DataError lists each bad one with its file and byte offset (its `report` attribute holds the
    report of what was stored). Undo data given for a block already stored resolves that block's
    unresolved inputs (`undo_stored`).
    """
    if undo_files and len(undo_files) != len(paths):
        raise UsageError(f"--undo-file needs one file per --raw file ({len(paths)} raw, "
                         f"{len(undo_files)} undo)")
    blocks: list[tuple[bytes, str]] = []
    undo_for: dict[int, tuple] = {}
    load_errors: list[DataError] = []
    net = network
    for i, p in enumerate(paths):
        try:
            found, fnet, errs = load_raw_file(p, net, max_decompressed_mb=max_decompressed_mb,
                                              max_block_bytes=max_block_bytes)
        except DataError as exc:
            load_errors.append(exc)
            continue
        net = net or fnet
        if undo_files:
            if len(found) != 1:
                raise UsageError(f"--undo-file {undo_files[i]}: pairs only with a file holding one block, "
                                 f"{p} holds {len(found)}")
            try:
                data = Path(undo_files[i]).read_bytes()
            except OSError as exc:
                raise UsageError(f"cannot read --undo-file {undo_files[i]}: {exc.strerror}") from None
            undo_for[len(blocks)] = (parse_flat_undo(data, str(undo_files[i])), str(undo_files[i]))
        blocks.extend(found)
        load_errors.extend(errs)
    batching = _batching(batch_bytes, batch_blocks)
    with BitcoinIngest(store, net or MAINNET, progress=progress, **batching) as ing:
        ing.skip_bad_blocks = True
        cands = [Candidate(Header.parse(raw[:80]), i, i) for i, (raw, _) in enumerate(blocks)]
        stored_before = {c.header.hash: c.handle for c in cands if ing.is_stored(c.header.hash)}
        ordered, bad_headers = screen(
            cands, ing.checker,
            lambda cs: order_blocks(cs, ing.stored_height,
                                    lambda c: _coinbase_height(blocks[c.handle][0], blocks[c.handle][1])),
            lambda c: blocks[c.handle][1])
        load_errors.extend(bad_headers)
        ing.report.stale = len(ordered.stale)
        chosen = _reorg_if_needed(ing, ordered.blocks)
        items = ((blocks[c.handle][0], BlockMeta(h, blocks[c.handle][1],
                                                 undo_for[c.handle][0] if c.handle in undo_for else None))
                 for c, h in chosen)
        report = _run(ing, items, "raw " + ", ".join(str(p) for p in paths[:3])
                      + (f" and {len(paths) - 3} more" if len(paths) > 3 else ""))
        late = {h: undo_for[i] for h, i in stored_before.items() if i in undo_for}
        if late:
            _late_undo(ing, late)
        errors = [e.one_line() for e in load_errors] + report.errors
        report.errors = errors
        if errors:
            raise _combined_error(errors, report, "bad block file(s) or block(s)")
        return report


def _late_undo(ing: BitcoinIngest, late: dict[bytes, tuple]) -> None:
    """Use undo data given for blocks stored by an earlier run; say what it did."""
    from fundtrail.ingest.bitcoin.undo_stored import resolve_stored_from_undo

    n = resolve_stored_from_undo(ing, late)
    ing.report.undo_resolved += n
    for _, origin in late.values():
        if n:
            ing.report.notes.append(f"undo file {origin}: its block was already stored; {n} of its "
                                    "unresolved inputs were resolved from it")
        else:
            ing.report.notes.append(f"undo file {origin}: its block was already stored with every "
                                    "input resolved; nothing to do")


def ingest_rpc(store: Store, source, *, start: int | None, end: int | None, follow: bool = False,
               progress: Progress | None = None, poll_interval: float = 10.0,
               should_stop: Callable[[], bool] = lambda: False, batch_bytes: int | None = None,
               batch_blocks: int | None = None) -> IngestReport:
    """Ingest a height range from a node (`source` is a BitcoinRpcSource); follow the tip if asked."""
    from fundtrail.ingest.bitcoin.source import Rollback

    net = source.network()
    with BitcoinIngest(store, net, progress=progress, **_batching(batch_bytes, batch_blocks)) as ing:
        tip = ing.tip_height
        first = start if start is not None else (tip + 1 if tip is not None else 0)
        if follow:
            def known(h: int) -> str | None:
                got = ing.stored_hash_at(h)
                return got[::-1].hex() if got else None

            # Blocks are buffered into full batches while catching up (a batch per block would
            # leave millions of tiny partitions) and committed at once on reaching the node's tip.
            stream = source.follow(first, known, poll_interval=poll_interval, should_stop=should_stop)
            pending: list = []
            size, node_tip = 0, -1

            def flush() -> None:
                nonlocal pending, size
                if pending:
                    batch, pending, size = pending, [], 0
                    ing.ingest(batch, f"rpc {source}")

            try:
                for ev in stream:
                    if isinstance(ev, Rollback):
                        flush()
                        ing.finish()
                        ing.report.rolled_back += rollback_to(ing, ev.keep_height)
                        continue
                    pending.append((ev.raw, BlockMeta(ev.height, ev.origin, ev.prevouts)))
                    size += len(ev.raw)
                    if ev.height >= node_tip:
                        node_tip = source.tip_height()
                    if (ev.height >= node_tip or len(pending) >= ing.batch_blocks
                            or size >= ing.batch_bytes):
                        flush()
                flush()
            except DataError:
                ing.finish()
                raise
            return ing.finish()
        last = end if end is not None else source.tip_height()
        if last < first:
            raise UsageError(f"empty height range {first}..{last}")
        items = ((b.raw, BlockMeta(b.height, b.origin, b.prevouts)) for b in source.blocks(first, last))
        return _run(ing, items, f"rpc {source}")

