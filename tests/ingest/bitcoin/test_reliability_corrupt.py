"""A truncated or corrupt blk file: one-line error naming file and byte offset, exit code 3, and
everything before the bad record stays stored; after the file is repaired, a rerun completes to the
same store as a clean run.

The blocks dir is written in height order (then the stale blocks), so "before the bad record" is a
height prefix, and the stored part must equal the first rows of every table of a clean run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.chains.bitcoin.samplechain import sample_chain_blocks_dir
from fundtrail.ingest.bitcoin.decode import ChainState
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest
from fundtrail.ingest.bitcoin.state import rebuild
from fundtrail.store import Store


from support import reliability as rs

N_BLOCKS = 150
BATCH_BLOCKS = 20
ARGS = ("ingest", "bitcoin", "--blocks-dir")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("corrupt")
    clean = base / "clean"
    chain = sample_chain_blocks_dir(clean, seed=99, shuffle=False, n_blocks=N_BLOCKS)
    assert len(chain.manifest["files"]) >= 3
    env = rs.cli_env(base, FUNDTRAIL_BATCH_BLOCKS=str(BATCH_BLOCKS))
    ref = base / "reference"
    done = rs.run_cli(ref, *ARGS, str(clean), env=env)
    assert done.returncode == 0, done.stderr
    return {"base": base, "clean": clean, "chain": chain, "env": env, "ref": ref,
            "ref_state": rs.logical_state(ref)}


# Each corruption: (height of the damaged block, what to do to its record, words the error has).
def _truncate(path: Path, off: int, length: int) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(off + 8 + length // 2)


def _bad_magic(path: Path, off: int, length: int) -> None:
    _patch(path, off, b"\xde\xad\xbe\xef")


def _length_past_eof(path: Path, off: int, length: int) -> None:
    left = path.stat().st_size - off - 8
    _patch(path, off + 4, (left + 1000).to_bytes(4, "little"))


def _absurd_tx_count(path: Path, off: int, length: int) -> None:
    _patch(path, off + 8 + 80, b"\xfe\xff\xff\xff\xff")  # CompactSize 4294967295 transactions


def _absurd_script_length(path: Path, off: int, length: int) -> None:
    raw = path.read_bytes()[off + 8:off + 8 + length]
    tx = rs.parse_block(raw)[1]
    # the first output's script length: after version, (marker), inputs, output count, value
    pos = tx.start + 4 + (2 if raw[tx.start + 4] == 0 else 0)
    n_in, pos = rs._varint(raw, pos)
    for _ in range(n_in):
        ln, pos = rs._varint(raw, pos + 36)
        pos += ln + 4
    _, pos = rs._varint(raw, pos)
    _patch(path, off + 8 + pos + 8, b"\xfd\xff\xff")


def _flipped_byte(path: Path, off: int, length: int) -> None:
    data = path.read_bytes()
    last = off + 8 + length - 1  # the last byte of the last transaction's locktime
    _patch(path, last, bytes([data[last] ^ 0x5A]))


def _patch(path: Path, at: int, new: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(at)
        fh.write(new)


CASES: dict[str, tuple[int | None, Callable[[Path, int, int], None], tuple[str, ...]]] = {
    "truncated_last_file": (None, _truncate, ("truncated",)),  # the first block of the last file
    "absurd_tx_count": (93, _absurd_tx_count, ("transaction count",)),
    "absurd_script_length": (58, _absurd_script_length, ("truncated block",)),
    "flipped_byte": (111, _flipped_byte, ("merkle root",)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_corrupt_blk_file_keeps_the_prefix_and_rerun_completes(tmp_path: Path, world: dict, case: str) -> None:
    height, damage, words = CASES[case]
    blocks = tmp_path / "blocks"
    shutil.copytree(world["clean"], blocks)
    if height is None:
        last = blocks / world["chain"].manifest["files"][-1]
        first = last.read_bytes()[8:88]
        height = [w.block_hash(b) for b in world["chain"].blocks].index(w.block_hash(first))
    path, off, length = rs.locate_block(blocks, w.block_hash(world["chain"].blocks[height]))
    original = path.read_bytes()
    damage(path, off, length)
    store = tmp_path / "store"

    done = rs.run_cli(store, *ARGS, str(blocks), env=world["env"])
    assert done.returncode == 3, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    msg = lines[0]
    assert msg.startswith("fundtrail: error:") and "Traceback" not in done.stderr
    assert path.name in msg and "offset" in msg and str(off) in msg, msg
    assert all(word in msg for word in words), msg
    if done.stdout:  # the report of what was stored, then what was not
        assert done.stdout.startswith(f"ingested {height} blocks") and path.name in done.stdout, done.stdout

    assert rs.assert_prefix(store, world["ref_state"]) == height  # exactly the blocks before it
    assert rs.stray_files(store) == []

    path.write_bytes(original)  # repaired: the rerun (in-process this time) completes the chain
    report = ingest_blocks_dir(Store.open(store), blocks, batch_blocks=BATCH_BLOCKS)
    assert report.blocks == N_BLOCKS - height and report.skipped_known == height
    assert rs.logical_state(store) == world["ref_state"]
    assert rs.stray_files(store) == []


# Damaged frames: the range is skipped by resynchronising on the next magic (as Core's reindex
# does), the blocks after it are stored too, and the run still ends with exit 3 naming the range.
RESYNC_CASES: dict[str, tuple[int, Callable[[Path, int, int], None], tuple[str, ...]]] = {
    "bad_magic": (47, _bad_magic, ("bad magic", "damaged bytes", "resynchronised")),
    "length_past_eof": (75, _length_past_eof, ("length field", "damaged bytes", "resynchronised")),
    "zeroed_record": (64, lambda p, off, n: _patch(p, off, bytes(8 + n)), ("zeros", "damaged bytes")),
}


@pytest.mark.parametrize("case", list(RESYNC_CASES))
def test_damaged_range_is_skipped_reported_and_the_rest_stored(tmp_path: Path, world: dict, case: str) -> None:
    height, damage, words = RESYNC_CASES[case]
    blocks = tmp_path / "blocks"
    shutil.copytree(world["clean"], blocks)
    chain = world["chain"].blocks
    path, off, length = rs.locate_block(blocks, w.block_hash(chain[height]))
    original = path.read_bytes()
    damage(path, off, length)
    store = tmp_path / "store"

    done = rs.run_cli(store, *ARGS, str(blocks), env=world["env"])
    assert done.returncode == 3, done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    msg = done.stderr
    assert f"{path}: damaged bytes {off}-{off + 8 + length} ({8 + length} bytes)" in msg, msg
    assert all(word in msg for word in words), msg
    stored = rs.stored_hashes(store)
    want = {h: [w.block_hash(b)] for h, b in enumerate(chain) if h != height}
    assert stored == want  # every other block, at its height (BIP34); none dropped silently
    assert rs.stray_files(store) == []

    path.write_bytes(original)  # repaired: the rerun stores the missing block and links it
    report = ingest_blocks_dir(Store.open(store), blocks, batch_blocks=BATCH_BLOCKS)
    assert report.blocks == 1 and report.skipped_known == N_BLOCKS - 1
    assert rs.stored_hashes(store) == {h: [w.block_hash(b)] for h, b in enumerate(chain)}
    assert rs.export_by_txid(store) == rs.export_by_txid(world["ref"])
    assert rs.count(store, "inputs", "prev_output_id IS NULL") == 0


def test_partial_frame_at_the_end_is_reported(tmp_path: Path, world: dict) -> None:
    """Six stray bytes after the last record: all blocks stored, the bytes reported, exit 3."""
    blocks = tmp_path / "blocks"
    shutil.copytree(world["clean"], blocks)
    last = blocks / world["chain"].manifest["files"][-1]
    size = last.stat().st_size
    with open(last, "ab") as fh:
        fh.write(REGTEST.magic + b"\x10\x00")
    store = tmp_path / "store"
    done = rs.run_cli(store, *ARGS, str(blocks), env=world["env"])
    assert done.returncode == 3 and len(done.stderr.splitlines()) == 1, done.stderr
    assert f"{last}: damaged bytes {size}-{size + 6} (6 bytes) skipped: partial record frame" in done.stderr
    assert rs.logical_state(store) == world["ref_state"]


def test_zeros_to_the_end_are_preallocation_not_damage(tmp_path: Path, world: dict) -> None:
    blocks = tmp_path / "blocks"
    shutil.copytree(world["clean"], blocks)
    last = blocks / world["chain"].manifest["files"][-1]
    with open(last, "ab") as fh:
        fh.write(bytes(100_000))
    report = ingest_blocks_dir(Store.open(tmp_path / "store"), blocks, batch_blocks=BATCH_BLOCKS)
    assert report.blocks == N_BLOCKS and report.errors == []


def test_truncated_shuffled_dir_keeps_what_was_read_and_rerun_completes(tmp_path: Path, world: dict) -> None:
    """Blocks stored in arrival order: what precedes the damage is a scattered set of heights.
    All of it is kept (gaps as isolated blocks); after the repair the chain is complete and the
    export equals a clean run's (ids differ: they follow the order blocks arrived in)."""
    blocks = tmp_path / "blocks"
    chain = sample_chain_blocks_dir(blocks, seed=99, shuffle=True, n_blocks=N_BLOCKS)
    last = blocks / chain.manifest["files"][-1]
    records = rs.blk_records(last)
    original = last.read_bytes()
    off, length = records[len(records) // 2]
    _truncate(last, off, length)
    store = tmp_path / "store"
    done = rs.run_cli(store, *ARGS, str(blocks), env=world["env"])
    assert done.returncode == 3 and len(done.stderr.splitlines()) == 1, done.stderr
    assert last.name in done.stderr and f"offset {off}" in done.stderr

    order = chain.manifest["storage_order"]
    n_read = order.index(w.display_hex(w.block_hash(original[off + 8:off + 88])))
    read = set(order[:n_read])
    best = {w.display_hex(w.block_hash(b)): h for h, b in enumerate(chain.blocks)}
    stored = rs.stored_hashes(store)
    got = {w.display_hex(h): height for height, hs in stored.items() for h in hs}
    want = {h: best[h] for h in read if h in best}
    assert {h: got[h] for h in want} == want  # every best-chain block read is stored, at its height
    assert set(got) <= read

    last.write_bytes(original)
    ingest_blocks_dir(Store.open(store), blocks, batch_blocks=BATCH_BLOCKS)
    stored = rs.stored_hashes(store)
    assert {h: [w.display_hex(x) for x in hs] for h, hs in stored.items()} == {
        h: [w.display_hex(w.block_hash(b))] for h, b in enumerate(chain.blocks)}
    assert rs.export_by_txid(store) == rs.export_by_txid(world["ref"])
    assert rs.count(store, "inputs", "prev_output_id IS NULL") == 0
    assert rs.stray_files(store) == []


def test_block_failing_value_checks_mid_batch(tmp_path: Path, world: dict) -> None:
    """A well-formed block whose transaction pays out more than it spends fails in decoding,
    after decoding has begun changing the in-memory state: the blocks before it in its batch are
    committed from a restored state, and the state saved for the next run matches the store."""
    chain = world["chain"].blocks
    created, spent = {}, set()
    for raw in chain:
        for tx in rs.parse_block(raw):
            created.update({(tx.txid, i): v for i, (v, s) in enumerate(tx.outputs) if s[:1] != b"\x6a"})
            spent.update(tx.inputs)
    (txid, vout), value = next((op, v) for op, v in created.items() if op not in spent and v > 10_000)
    inflating = w.Tx(2, [w.TxIn(txid, vout, b"\x51")], [w.TxOut(value + 1_000, w.p2wpkh(bytes(20)))])
    cb = w.coinbase_tx(N_BLOCKS, [w.TxOut(50 * w.COIN, w.p2wpkh(b"\x01" * 20))])
    bad = w.build_block(w.block_hash(chain[-1]), [cb, inflating], 1_700_000_000 + 600 * N_BLOCKS)
    blocks = tmp_path / "blocks"
    rs.write_dir(blocks, chain + [bad])
    path, off, _ = rs.locate_block(blocks, w.block_hash(bad))
    store = tmp_path / "store"

    done = rs.run_cli(store, *ARGS, str(blocks), env=world["env"])
    assert done.returncode == 3, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert f"{path.name} at byte offset {off}" in done.stderr and "pays out" in done.stderr
    assert rs.logical_state(store) == world["ref_state"]  # blocks 140..149 of the last batch too

    ing = BitcoinIngest(Store.open(store), REGTEST)  # the state the next run starts from
    fresh = ChainState()
    rebuild(ing.store, ing.chain, fresh)
    for name in ("utxo", "addresses"):
        a, b = getattr(ing.state, name), getattr(fresh, name)
        assert sorted(zip(a.k1[a.used].tolist(), a.k2[a.used].tolist(), a.vals[a.used].tolist())) == \
            sorted(zip(b.k1[b.used].tolist(), b.k2[b.used].tolist(), b.vals[b.used].tolist()))
    ing.close()
