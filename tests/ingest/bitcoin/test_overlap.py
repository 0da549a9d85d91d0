"""The two-core pipeline (batch N+1 parsed and decoded in a worker while batch N is stored) stores
exactly what the one-batch-at-a-time path stores: the same batches, ids, tables and file bytes;
and a bad block, a failing block stream or a crash of the worker ends the run the same way.

The oracle is the one-at-a-time path (`overlap=False`, the code before the pipeline existed,
still used on one core), run on the same blocks into a second store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from support import reliability as rs

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import MAINNET, REGTEST, Network
from fundtrail.chains.bitcoin.parser import ParsedBatch, parse_batch
from fundtrail.chains.bitcoin.samplechain import build_sample_chain
from fundtrail.chains.bitcoin.txid import compute_txids
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin import overlap as overlap_module
from fundtrail.ingest.bitcoin.decode import BlockMeta
from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest, IngestReport
from fundtrail.store import Store

N_BLOCKS = 90
Stream = list[tuple[bytes, BlockMeta]]


@pytest.fixture(scope="module")
def chain() -> list[bytes]:
    return build_sample_chain(seed=1919, n_blocks=N_BLOCKS).blocks


def _stream(blocks: list[bytes]) -> Stream:
    return [(raw, BlockMeta(h, f"block{h}")) for h, raw in enumerate(blocks)]


def _ingest(root: Path, items: Stream | Iterator, overlap: bool, *, batch_blocks: int,
            skip_bad: bool = False, net: Network = REGTEST) -> tuple[IngestReport, str | None]:
    """Ingest and finish; returns the report and the one-line error raised, if any."""
    err = None
    with BitcoinIngest(Store.open(root), net, batch_blocks=batch_blocks, overlap=overlap) as ing:
        ing.skip_bad_blocks = skip_bad
        try:
            ing.ingest(items, "test")
        except DataError as exc:
            err = exc.one_line()
        report = ing.finish()
    return report, err


def _lake_bytes(root: Path) -> dict[str, str]:
    """Every lake file (path under the lake) with the SHA-256 of its bytes."""
    lake = root / "lake"
    return {str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(lake.rglob("*.parquet"))}


def _batches(root: Path) -> list[tuple]:
    with Store(root).connect(read_only=True) as con:
        return con.execute(
            "SELECT batch_id, first_block_id, last_block_id, n_blocks, n_tx, n_inputs, n_outputs, "
            "n_new_addresses, next_block_id, next_tx_id, next_output_id, next_address_id, files "
            "FROM batches ORDER BY batch_id").fetchall()


def _facts(rep: IngestReport) -> dict:
    return {k: v for k, v in rep.as_dict().items() if k != "seconds"}


def _assert_same(got: Path, want: Path) -> None:
    assert _batches(got) == _batches(want)
    assert _lake_bytes(got) == _lake_bytes(want)


@pytest.mark.parametrize("batch_blocks", [1, 4, 7])
def test_overlapped_run_stores_what_one_batch_at_a_time_stores(tmp_path: Path, chain: list[bytes],
                                                               batch_blocks: int) -> None:
    blocks = _stream(chain)
    # blocks given again, as an out-of-order blocks dir can: right after themselves, and block 50
    # after the first block of the next batch (read while block 50's batch is in flight, before
    # it is committed: the pipeline must wait for that commit to skip it, as a one-at-a-time run)
    again_after = {29: 29, (50 // batch_blocks + 1) * batch_blocks: 50}
    items = []
    for h, item in enumerate(blocks):
        items.append(item)
        if h in again_after:
            items.append(blocks[again_after[h]])
    reps = {}
    for overlap in (False, True):
        root = tmp_path / f"overlap-{overlap}"
        rep, err = _ingest(root, items, overlap, batch_blocks=batch_blocks)
        assert err is None
        again, err = _ingest(root, items, overlap, batch_blocks=batch_blocks)  # all stored now
        assert err is None and again.blocks == 0 and again.skipped_known == len(items)
        reps[overlap] = _facts(rep)
    assert reps[True] == reps[False]
    assert reps[True]["blocks"] == N_BLOCKS and reps[True]["skipped_known"] == 2
    assert reps[True]["batches"] == -(-N_BLOCKS // batch_blocks)
    _assert_same(tmp_path / "overlap-True", tmp_path / "overlap-False")
    assert rs.logical_state(tmp_path / "overlap-True") == rs.logical_state(tmp_path / "overlap-False")


BUSY = ["bitcoinj/block169482.dat", "bitcoinj/block227835.dat", "bitcoinj/block227836.dat",
        "bitcoinj/block363703.dat", "bcoin/block300025.raw", "bcoin/block426884.raw",
        "electrumx/block951658.hex"]


@pytest.fixture(scope="module")
def busy(testdata: Path) -> list[bytes]:
    raw = testdata / "btc-raw-blocks"
    return [bytes.fromhex((raw / n).read_text().strip()) if n.endswith(".hex") else (raw / n).read_bytes()
            for n in BUSY]


def test_parsing_and_hashing_in_two_halves_give_the_same_columns(busy: list[bytes]) -> None:
    """The worker's helper parses and hashes half of a batch: the columns, txids and the error
    for a malformed block (in either half) are those of one pass over the whole batch."""
    with ThreadPoolExecutor(1) as helper:
        for n in (2, 3, len(busy)):
            one, two = parse_batch(busy[:n], BUSY[:n]), parse_batch(busy[:n], BUSY[:n], helper)
            for name in ParsedBatch.__dataclass_fields__:
                assert np.array_equal(getattr(one, name), getattr(two, name)), (n, name)
            assert np.array_equal(compute_txids(one), compute_txids(two, helper))
            assert two.n_tx == sum(int(x) for x in one.blk_ntx) and two.tx_block[-1] == n - 1
        for bad in range(len(busy)):
            blocks = list(busy)
            blocks[bad] = blocks[bad][:-7]
            errors = []
            for h in (None, helper):
                with pytest.raises(DataError) as exc:
                    parse_batch(blocks, BUSY, h)
                errors.append(exc.value.one_line())
            assert errors[0] == errors[1] and errors[0].startswith(f"{BUSY[bad]}: block "), errors


def test_overlapped_run_on_real_busy_blocks(tmp_path: Path, busy: list[bytes]) -> None:
    """Real mainnet blocks (many script types, segwit, unresolved inputs), two blocks a batch."""
    items = [(b, BlockMeta(None, n)) for b, n in zip(busy, BUSY)]
    reps = {}
    for overlap in (False, True):
        rep, err = _ingest(tmp_path / f"overlap-{overlap}", items, overlap, batch_blocks=2, net=MAINNET)
        assert err is None
        reps[overlap] = _facts(rep)
    assert reps[True] == reps[False] and reps[True]["batches"] == 4 and reps[True]["blocks"] == 7
    _assert_same(tmp_path / "overlap-True", tmp_path / "overlap-False")


def _flip_tx_byte(raw: bytes) -> bytes:
    """Change the last byte (a locktime byte): the merkle root no longer matches."""
    return raw[:-1] + bytes([raw[-1] ^ 0x5A])


def _truncate(raw: bytes) -> bytes:
    return raw[: len(raw) - 7]


def _bad_bits(raw: bytes) -> bytes:
    """A header whose difficulty bits break the network's rules (checked on the main thread)."""
    return raw[:72] + (0x1D00FFFF).to_bytes(4, "little") + raw[76:]


@pytest.mark.parametrize("damage, words", [
    (_flip_tx_byte, "merkle root"), (_truncate, "truncated"), (_bad_bits, "bits"),
])
@pytest.mark.parametrize("skip_bad", [False, True])
def test_bad_block_commits_the_prefix_and_raises_the_same_error(tmp_path: Path, chain: list[bytes],
                                                                damage, words: str, skip_bad: bool) -> None:
    """A bad block in the middle of a batch (found by the worker, or by the header check on the
    main thread): the blocks before it committed, the same one-line error, the same store."""
    items = _stream(chain)
    bad = 38  # the 3rd block of the 6th batch of 7
    items[bad] = (damage(items[bad][0]), items[bad][1])
    if skip_bad:  # the rest of the stream does not depend on the bad block (raw-files mode)
        items = items[:bad + 1]
    out = {}
    for overlap in (False, True):
        root = tmp_path / f"overlap-{overlap}"
        rep, err = _ingest(root, items, overlap, batch_blocks=7, skip_bad=skip_bad)
        out[overlap] = (_facts(rep), err)
    assert out[True] == out[False]
    facts, err = out[True]
    if skip_bad:
        assert err is None and len(facts["errors"]) == 1 and words in facts["errors"][0]
        assert "block38" in facts["errors"][0] and facts["blocks"] == bad
    else:
        assert err is not None and err.startswith("block38: ") and words in err, err
        assert facts["blocks"] == bad and facts["errors"] == []
    _assert_same(tmp_path / "overlap-True", tmp_path / "overlap-False")
    assert rs.stray_files(tmp_path / "overlap-True") == []
    assert list(rs.stored_hashes(tmp_path / "overlap-True")) == list(range(bad))


def test_a_failing_block_stream_still_commits_the_batch_before(tmp_path: Path, chain: list[bytes]) -> None:
    """The block source fails while the pipeline reads ahead: the batch in flight is committed
    first, as it was before the next batch was read, and the source's error is raised."""
    def feed() -> Iterator[tuple[bytes, BlockMeta]]:
        yield from _stream(chain)[:25]
        raise DataError("blk00003.dat at byte offset 8: the file ends inside a block record")

    out = {}
    for overlap in (False, True):
        rep, err = _ingest(tmp_path / f"overlap-{overlap}", feed(), overlap, batch_blocks=10)
        out[overlap] = (_facts(rep), err)
    assert out[True] == out[False]
    assert out[True][0]["blocks"] == 20 and "ends inside a block record" in (out[True][1] or "")
    _assert_same(tmp_path / "overlap-True", tmp_path / "overlap-False")


@pytest.mark.parametrize("stage", ["prepare", "write"])
def test_worker_exception_surfaces_with_its_message(tmp_path: Path, chain: list[bytes], stage: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Narrow: an unexpected error (not bad data) in the worker's stage, or in the main thread's
    Parquet write while the worker prepares the next batch, is raised on the main thread as it
    was raised, after the batches before it were committed."""
    root = tmp_path / "store"
    store = Store.open(root)
    if stage == "prepare":
        real = overlap_module.prepare_batch
        calls = []

        def failing(items, verify_merkle, helper=None):
            calls.append(len(items))
            if len(calls) == 3:
                raise MemoryError("cannot allocate the third batch's arrays")
            return real(items, verify_merkle, helper)

        monkeypatch.setattr(overlap_module, "prepare_batch", failing)
        error, message = MemoryError, "cannot allocate the third batch's arrays"
    else:
        write = store.write_partition

        def full(chain: str, table: str, name: str, data):
            if name == "batch-00000002.parquet":
                raise OSError(28, "No space left on device")
            return write(chain, table, name, data)

        monkeypatch.setattr(store, "write_partition", full)
        error, message = OSError, r"\[Errno 28\] No space left on device"
    with BitcoinIngest(store, REGTEST, batch_blocks=10) as ing:
        with pytest.raises(error, match=f"^{message}$"):
            ing.ingest(_stream(chain), "test")
        assert ing.report.batches == 2 and ing.report.blocks == 20
        if stage == "prepare":  # the state never saw the batch
            assert ing.state.counters.tx_id == _batches(root)[-1][9]  # next_tx_id of the last commit
    assert rs.stray_files(root) == []
    stored = rs.stored_hashes(root)
    assert [stored[h] for h in range(20)] == [[w.block_hash(b)] for b in chain[:20]] and len(stored) == 20


@pytest.mark.parametrize("overlap", [False, True])
def test_a_block_given_twice_inside_one_batch_is_stored_once(tmp_path: Path, chain: list[bytes],
                                                             overlap: bool) -> None:
    """Block 3 given again after block 5, both inside one batch of 10 (a blocks dir whose files
    repeat a block): stored once, counted as skipped, the store as without the repeat."""
    blocks = _stream(chain[:20])
    items = blocks[:6] + [blocks[3]] + blocks[6:]
    rep, err = _ingest(tmp_path / "repeat", items, overlap, batch_blocks=10)
    assert err is None and rep.blocks == 20 and rep.skipped_known == 1
    plain, err = _ingest(tmp_path / "plain", blocks, overlap, batch_blocks=10)
    assert err is None and plain.blocks == 20
    assert rs.logical_state(tmp_path / "repeat") == rs.logical_state(tmp_path / "plain")
