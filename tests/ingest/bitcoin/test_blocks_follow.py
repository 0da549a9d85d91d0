"""`--blocks-dir --follow`'s incremental scan (`ingest.bitcoin.blktail`) and its stop/rerun.

Blk files are written as Bitcoin Core writes them (the repo's writer: records, xor.dat, zeros of
preallocation) from a simulated chain's real blocks, then appended to the way a node does: a record
written over the zeros in pieces, a new file, damage followed by a good record. The oracle for
which records a poll should find is the blocks written (their hashes, by the writer's own hashing);
a follow run stopped part-way then rerun must leave the store a one-off ingest of the same blocks
leaves (`support.reliability.logical_state`)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.errors import DataError, SourceError, UsageError
from fundtrail.ingest.bitcoin.blktail import BlkTail
from fundtrail.ingest.bitcoin.follow_blk import follow_blocks_dir
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.workspace.job_models import IngestBitcoinRequest
from support import reliability as rs
from support.blkfiles import blk_records

KEY = bytes.fromhex("5a17c0ffee00b33f")
PAD = 1 << 16  # preallocation granule of the test files (Core's is 16 MiB)


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    base = tmp_path_factory.mktemp("blkfollow")
    simulate(base / "sim", seed=5, txs=500)
    return [r[8:] for r in blk_records(base / "sim/blocks/blk00000.dat")]


def _write_at(path: Path, offset: int, data: bytes, key: bytes | None = KEY) -> None:
    """Write bytes of a record at `offset` (obfuscated there, as Core 28+ does), over what is there."""
    mode = "r+b" if path.exists() else "wb"
    with open(path, mode) as fh:
        fh.seek(offset)
        fh.write(w.xor_obfuscate(data, key, offset) if key else data)


def _hashes(scan: Any) -> list[bytes]:
    return [c.header.hash for c in scan.candidates]


def _records_end(blocks: list[bytes]) -> int:
    return sum(8 + len(b) for b in blocks)


def test_poll_resumes_waits_for_partial_records_and_finds_new_files(blocks: list[bytes], tmp_path: Path) -> None:
    d = tmp_path / "blocks"
    w.write_blocks_dir(d, blocks[:5], REGTEST, xor_key=KEY, zero_pad=PAD)
    blk0 = d / "blk00000.dat"
    tail = BlkTail(d)
    first = tail.poll(None)
    assert _hashes(first) == [w.block_hash(b) for b in blocks[:5]] and not first.errors
    assert first.network == REGTEST
    assert _hashes(tail.poll(None)) == []  # the zeros: nothing new, nothing reported
    end = _records_end(blocks[:5])
    rec = w.blk_record(blocks[5], REGTEST)
    # a record being written over the preallocated zeros: frame and header first, body part-way
    _write_at(blk0, end, rec[:8 + 80 + (len(rec) - 88) // 2])
    got = tail.poll(None)
    assert _hashes(got) == [] and not got.errors
    _write_at(blk0, end, rec)
    got = tail.poll(None)
    assert _hashes(got) == [w.block_hash(blocks[5])] and not got.errors
    assert got.candidates[0].handle.offset == end + 8  # read from where the last poll stopped
    # Core moves to a new file (not preallocated here: the record grows at the end of the file)
    blk1 = d / "blk00001.dat"
    rec = w.blk_record(blocks[6], REGTEST)
    _write_at(blk1, 0, rec[:5])
    got = tail.poll(None)
    assert _hashes(got) == [] and not got.errors  # a partial frame: not yet (blk00000 is finished)
    _write_at(blk1, 5, rec[5:300])
    assert _hashes(tail.poll(None)) == []  # a length running past the end: not yet
    _write_at(blk1, 300, rec[300:])
    assert _hashes(tail.poll(None)) == [w.block_hash(blocks[6])]
    # damage, then a good record after it: reported once, with the file and the byte range
    at = len(rec)
    _write_at(blk1, at, b"\x13" * 40 + w.blk_record(blocks[7], REGTEST))
    got = tail.poll(None)
    assert _hashes(got) == [w.block_hash(blocks[7])]
    assert [e.one_line() for e in got.errors] == [
        f"{blk1}: damaged bytes {at}-{at + 40} (40 bytes) skipped: bad magic "
        f"13131313 (expected {REGTEST.magic.hex()} for regtest) at byte offset {at}; "
        "resynchronised at the next block record"]
    assert not tail.poll(None).errors and tail.seen[blk0].end == _records_end(blocks[:6])


def test_file_truncated_or_replaced_under_the_follow(blocks: list[bytes], tmp_path: Path) -> None:
    d = tmp_path / "blocks"
    w.write_blocks_dir(d, blocks[:4], REGTEST)
    blk0 = d / "blk00000.dat"
    tail = BlkTail(d)
    tail.poll(None)
    # Core truncating a finished file's preallocation is fine; cutting into read records is not
    os.truncate(blk0, _records_end(blocks[:3]) + 10)
    with pytest.raises(DataError) as exc:
        tail.poll(None)
    assert exc.value.one_line() == (
        f"{blk0}: truncated under us to {_records_end(blocks[:3]) + 10} bytes (blocks had been read up to "
        f"byte offset {_records_end(blocks[:4])}); restart the ingest")
    tail = BlkTail(d)
    tail.poll(None)
    fresh = d / "new.dat"
    fresh.write_bytes(b"".join(w.blk_record(b, REGTEST) for b in blocks[:3]))
    fresh.replace(blk0)
    with pytest.raises(DataError, match=rf"^{blk0}: replaced under us by another file"):
        tail.poll(None)


def _tip(store: Path) -> int | None:
    with Store(store).connect(read_only=True) as con:
        row = con.execute("SELECT max(height) FROM block_index").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def test_stop_then_rerun_continues_without_duplicates(blocks: list[bytes], tmp_path: Path) -> None:
    d = tmp_path / "blocks"
    half = len(blocks) // 2
    w.write_blocks_dir(d, blocks[:half], REGTEST, xor_key=KEY, zero_pad=PAD)
    store = tmp_path / "store"
    calls = {"n": 0}

    def stop_after_first_batch(_blocks: int, _txs: int) -> None:
        calls["n"] += 1

    # the first run stops in its catch-up, after its first batch of 10 blocks
    report = follow_blocks_dir(Store.open(store), d, poll_interval=0.01, batch_blocks=10,
                               progress=stop_after_first_batch, should_stop=lambda: calls["n"] > 0)
    assert 0 < report.blocks < half and _tip(store) == report.blocks - 1
    # the node writes the rest over its zeros while no follow runs; then a follow catches up
    _write_at(d / "blk00000.dat", _records_end(blocks[:half]),
              b"".join(w.blk_record(b, REGTEST) for b in blocks[half:]))
    stop = threading.Event()
    out: dict[str, Any] = {}

    def run() -> None:
        out["report"] = follow_blocks_dir(Store.open(store), d, poll_interval=0.01, should_stop=stop.is_set)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        rs.wait_for(lambda: _tip(store) == len(blocks) - 1 or not thread.is_alive(), 60, "the tip")
    finally:
        stop.set()
        thread.join(60)
    again = out["report"]
    assert again.blocks == len(blocks) - report.blocks and again.skipped_known == report.blocks
    once = tmp_path / "once"
    ingest_blocks_dir(Store.open(once), d)
    assert rs.logical_state(store) == rs.logical_state(once)


def test_a_vanished_directory_and_bad_requests_are_one_line_errors(blocks: list[bytes], tmp_path: Path) -> None:
    d = tmp_path / "blocks"
    w.write_blocks_dir(d, blocks[:2], REGTEST)
    tail = BlkTail(d)
    tail.poll(None)
    moved = d.rename(tmp_path / "elsewhere")
    with pytest.raises(SourceError) as exc:
        tail.poll(None)
    assert exc.value.one_line() == f"blocks directory {d}: cannot list it (No such file or directory)"
    assert IngestBitcoinRequest(blocks_dir=moved, follow=True).follow
    for kwargs, field in [({"raw": [moved / "blk00000.dat"], "follow": True}, "follow"),
                          ({"blocks_dir": moved, "follow": True, "undo": True}, "undo")]:
        with pytest.raises(UsageError) as bad:
            IngestBitcoinRequest(**kwargs)
        assert bad.value.field == field and "\n" not in bad.value.message
