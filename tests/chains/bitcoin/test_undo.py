"""Undo-data parsers against real node files, with value identities that prove amounts are exact."""

from __future__ import annotations

import bz2
import hashlib
import os
import random
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin.undo import (
    CoinUndo,
    _varint,
    compress_amount,
    decompress_amount,
    deobfuscate,
    flatten_prevouts,
    iter_rev_records,
    load_xor_key,
    match_records,
    parse_btcd_utxostore,
    parse_flat_undo,
    record_matches_parent,
)
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.source import Prevout

MAGIC = bytes.fromhex("f9beb4d9")
COIN = 100_000_000


# --- test data location ----------------------------------------------------------------------


def _data_root() -> Path:
    default = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
    root = Path(os.environ.get("FUNDTRAIL_TESTDATA", default))
    if not root.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"test data missing at {root}")
        pytest.skip(f"test data missing at {root}")
    return root


@pytest.fixture(scope="module")
def raw_blocks() -> Path:
    return _data_root() / "btc-raw-blocks"


# --- minimal block parsing for cross-checks ----------------------------------------------------


def sha256d(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def compact(b: bytes, pos: int) -> tuple[int, int]:
    first = b[pos]
    if first < 0xFD:
        return first, pos + 1
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    return int.from_bytes(b[pos + 1 : pos + 1 + width], "little"), pos + 1 + width


def parse_block(block: bytes) -> list[tuple[list[tuple[bytes, int]], list[tuple[int, bytes]]]]:
    """Per tx: inputs as (prev txid internal order, vout), outputs as (value, script). No segwit."""
    n_tx, pos = compact(block, 80)
    txs = []
    for _ in range(n_tx):
        pos += 4
        assert block[pos] != 0, "segwit blocks are not expected here"
        n_in, pos = compact(block, pos)
        ins = []
        for _ in range(n_in):
            vout = int.from_bytes(block[pos + 32 : pos + 36], "little")
            ins.append((block[pos : pos + 32], vout))
            n, pos = compact(block, pos + 36)
            pos += n + 4
        n_out, pos = compact(block, pos)
        outs = []
        for _ in range(n_out):
            value = int.from_bytes(block[pos : pos + 8], "little")
            n, pos = compact(block, pos + 8)
            outs.append((value, block[pos : pos + n]))
            pos += n
        txs.append((ins, outs))
        pos += 4
    assert pos == len(block)
    return txs


def blk_records(data: bytes) -> list[bytes]:
    blocks, pos = [], 0
    while pos + 8 <= len(data) and data[pos : pos + 4] == MAGIC:
        n = int.from_bytes(data[pos + 4 : pos + 8], "little")
        blocks.append(data[pos + 8 : pos + 8 + n])
        pos += 8 + n
    return blocks


def fee_identity(block: bytes, prevouts: list[Prevout], subsidy: int) -> None:
    """Spent minus created by non-coinbase txs equals what the coinbase claims beyond subsidy."""
    txs = parse_block(block)
    assert len(prevouts) == sum(len(ins) for ins, _ in txs[1:])
    fees = sum(p.value for p in prevouts) - sum(v for _, outs in txs[1:] for v, _ in outs)
    assert fees >= 0
    assert fees == sum(v for v, _ in txs[0][1]) - subsidy


# --- a small encoder for synthetic records (the inverse of the parser) --------------------------


def varint(n: int) -> bytes:
    out = [n & 0x7F]
    while n > 0x7F:
        n = (n >> 7) - 1
        out.append((n & 0x7F) | 0x80)
    return bytes(reversed(out))


def compress_script(script: bytes) -> bytes:
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return b"\x00" + script[3:23]
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return b"\x01" + script[2:22]
    if len(script) == 35 and script[0] == 33 and script[1] in (2, 3) and script[34] == 0xAC:
        return script[1:34]
    if len(script) == 67 and script[:2] == b"\x41\x04" and script[66] == 0xAC:
        return bytes([4 | (script[65] & 1)]) + script[2:34]
    return varint(len(script) + 6) + script


def encode_block_undo(txs: list[list[CoinUndo]]) -> bytes:
    out = bytearray([len(txs)])
    for coins in txs:
        out.append(len(coins))
        for c in coins:
            out += varint(c.height * 2 + c.coinbase)
            if c.height > 0:
                out += varint(0)
            out += varint(compress_amount(c.value)) + compress_script(c.script)
    return bytes(out)


def rev_record(undo: bytes, parent: bytes) -> bytes:
    return MAGIC + len(undo).to_bytes(4, "little") + undo + sha256d(parent + undo)


# --- Bitcoin Core rev files ---------------------------------------------------------------------


def test_rev00000_records_match_their_blocks(raw_blocks: Path) -> None:
    rev = (raw_blocks / "nbitcoin" / "rev00000.dat").read_bytes()
    blocks = blk_records((raw_blocks / "nbitcoin" / "blk00000.dat").read_bytes())
    assert len(blocks) == 300
    records = list(iter_rev_records(rev, MAGIC, "rev00000.dat"))
    assert len(records) == 40
    parents = [b[4:36] for b in blocks]
    matched = match_records(records, parents)
    # this rev file holds undo for blocks 1..40 (genesis has none)
    assert sorted(parents.index(p) for p in matched) == list(range(1, 41))
    for parent, rec in matched.items():
        txs = parse_block(blocks[parents.index(parent)])
        assert len(rec.tx_undos) == len(txs) - 1
        assert [len(c) for c in rec.tx_undos] == [len(ins) for ins, _ in txs[1:]]
        assert record_matches_parent(rec, parent)
        assert not record_matches_parent(rec, bytes(32))


def test_block_170_spends_block_9_coinbase(raw_blocks: Path) -> None:
    """Block 170 is outside the rev file, so build its record; y of the key must be recovered."""
    blocks = blk_records((raw_blocks / "nbitcoin" / "blk00000.dat").read_bytes())
    block9, block170 = parse_block(blocks[9]), parse_block(blocks[170])
    assert len(block170) == 2 and len(block170[1][0]) == 1
    (prev_txid, vout), = block170[1][0]
    assert prev_txid == sha256d(blocks[9][81:]) and vout == 0  # block 9 holds only its coinbase
    value, script = block9[0][1][0]
    assert value == 50 * COIN and len(script) == 67  # P2PK, uncompressed key

    undo = encode_block_undo([[CoinUndo(9, True, value, script)]])
    assert len(undo) < 40  # the key really was stored compressed
    parent = blocks[170][4:36]
    (rec,) = iter_rev_records(rev_record(undo, parent), MAGIC, "synthetic")
    assert record_matches_parent(rec, parent)
    assert rec.tx_undos == [[CoinUndo(9, True, 50 * COIN, script)]]
    assert flatten_prevouts(rec) == (Prevout(50 * COIN, script),)


def test_script_forms_and_height_zero() -> None:
    h = bytes(range(20))
    x = bytes.fromhex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    coins = [
        CoinUndo(0, False, 1, b"\x76\xa9\x14" + h + b"\x88\xac"),  # height 0: no dummy version
        CoinUndo(123456, True, 21_000_000 * COIN, b"\xa9\x14" + h + b"\x87"),
        CoinUndo(7, False, 10**9 + 1, b"\x21\x02" + x + b"\xac"),
        CoinUndo(8, False, 12345, b"\x21\x03" + x + b"\xac"),
        CoinUndo(9, False, 0, b"\x6a\x04test"),
        CoinUndo(10, False, 5, b""),
    ]
    undo = encode_block_undo([coins[:2], coins[2:]])
    (rec,) = iter_rev_records(rev_record(undo, bytes(32)), MAGIC, "synthetic")
    assert rec.tx_undos == [coins[:2], coins[2:]]
    assert [c.prevout for c in coins] == list(flatten_prevouts(rec))


def test_rev_zero_padding_ends_cleanly(raw_blocks: Path) -> None:
    rev = (raw_blocks / "nbitcoin" / "rev00000.dat").read_bytes()
    assert len(list(iter_rev_records(rev + bytes(4096), MAGIC, "rev"))) == 40
    assert len(list(iter_rev_records(rev + bytes(3), MAGIC, "rev"))) == 40


@pytest.mark.parametrize("cut", [3, 7, 8, 9, 40])
def test_rev_truncated_record(raw_blocks: Path, cut: int) -> None:
    rev = (raw_blocks / "nbitcoin" / "rev00000.dat").read_bytes()
    last = list(iter_rev_records(rev, MAGIC, "rev"))[-1].offset
    with pytest.raises(DataError, match=rf"rev00000\.dat: byte offset {last}: .*truncated"):
        list(iter_rev_records(rev[: last + cut], MAGIC, "rev00000.dat"))


def test_rev_malformed() -> None:
    undo = encode_block_undo([[CoinUndo(5, False, 1000, b"\x51")]])
    good = rev_record(undo, bytes(32))
    with pytest.raises(DataError, match=r"x: byte offset 0: bad magic f9beb4d9, expected 0b110907"):
        list(iter_rev_records(good, bytes.fromhex("0b110907"), "x"))
    # declared length one longer than the CBlockUndo: the checksum's first byte is left unparsed
    longer = MAGIC + (len(undo) + 1).to_bytes(4, "little") + undo + bytes(33)
    with pytest.raises(DataError, match=rf"x: byte offset {8 + len(undo)}: 1 unparsed"):
        list(iter_rev_records(longer, MAGIC, "x"))
    # length past the end of the data
    huge = MAGIC + (10**6).to_bytes(4, "little") + undo
    with pytest.raises(DataError, match=r"x: byte offset 0: truncated record"):
        list(iter_rev_records(huge, MAGIC, "x"))
    # coin count claims more coins than the record holds
    short = bytes([1, 2]) + undo[2:]
    with pytest.raises(DataError, match=r"x: byte offset \d+: truncated VARINT"):
        list(iter_rev_records(rev_record(short, bytes(32)), MAGIC, "x"))
    # second record corrupt: offset is the file position, not the record-relative one
    bad = good + MAGIC + b"\x05\x00\x00\x00" + b"\x01\x01\xff\xff\xff" + bytes(32)
    with pytest.raises(DataError, match=rf"x: byte offset {len(good) + 10}: truncated VARINT"):
        list(iter_rev_records(bad, MAGIC, "x"))


def test_uncompressed_key_off_curve_is_data_error() -> None:
    x = (5).to_bytes(32, "big")  # 125 + 7 = 132 has no square root mod p
    undo = b"\x01\x01" + varint(4) + varint(0) + varint(1) + b"\x04" + x
    with pytest.raises(DataError, match=r"not on secp256k1"):
        list(iter_rev_records(rev_record(undo, bytes(32)), MAGIC, "x"))


# --- XOR obfuscation -----------------------------------------------------------------------------


def test_xor_round_trip_and_offsets(raw_blocks: Path) -> None:
    rng = random.Random(7)
    key = load_xor_key(bytes(rng.randrange(256) for _ in range(8)), "xor.dat")
    data = bytes(rng.randrange(256) for _ in range(1003))
    naive = bytes(b ^ key[i % 8] for i, b in enumerate(data))
    assert deobfuscate(data, key) == naive
    assert deobfuscate(naive, key) == data
    for start in (0, 1, 5, 8, 13, 999):
        for stop in (start, start + 1, start + 7, start + 8, start + 23, 1003):
            assert deobfuscate(naive[start:stop], key, start) == data[start:stop]
    assert deobfuscate(data, bytes(8)) == data

    rev = (raw_blocks / "nbitcoin" / "rev00000.dat").read_bytes()
    plain = list(iter_rev_records(rev, MAGIC, "rev"))
    restored = list(iter_rev_records(deobfuscate(deobfuscate(rev, key), key), MAGIC, "rev"))
    assert [r.checksum for r in restored] == [r.checksum for r in plain]


def test_xor_key_validation() -> None:
    with pytest.raises(DataError, match=r"xor\.dat: byte offset 0: xor key must be 8 bytes"):
        load_xor_key(b"\x01\x02", "xor.dat")
    with pytest.raises(ValueError):
        deobfuscate(b"abc", b"\x01")


# --- VARINT --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, "00"), (127, "7f"), (128, "8000"), (255, "807f"), (256, "8100"), (16511, "ff7f"),
     (16512, "808000"), (2**64 - 1, "80fefefefefefefefe7f")],
)
def test_varint_known_answers(n: int, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert varint(n) == raw
    assert _varint(raw + b"\xff", 0, len(raw), "v", "x") == (n, len(raw))


def test_varint_errors() -> None:
    with pytest.raises(DataError, match=r"v: byte offset 2: truncated VARINT x"):
        _varint(b"\x00\x00\x80\x80", 2, 4, "v", "x")
    with pytest.raises(DataError, match=r"v: byte offset 0: VARINT x exceeds 64 bits"):
        _varint(varint(2**64), 0, 10, "v", "x")


# --- compressed amounts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "compressed"),
    [(0, 0x0), (1, 0x1), (COIN // 100, 0x7), (COIN, 0x9), (50 * COIN, 0x32),
     (21_000_000 * COIN, 0x1406F40)],
)
def test_amount_known_answers(amount: int, compressed: int) -> None:
    assert compress_amount(amount) == compressed
    assert decompress_amount(compressed) == amount


def test_amount_round_trip() -> None:
    rng = random.Random(1)
    samples = list(range(2000)) + [rng.randrange(21_000_000 * COIN) for _ in range(2000)]
    samples += [d * 10**e for d in range(1, 10) for e in range(16)]
    for n in samples:
        assert decompress_amount(compress_amount(n)) == n
    for x in range(5000):
        assert compress_amount(decompress_amount(x)) == x


# --- bcoin flat undo -----------------------------------------------------------------------------


def test_bcoin_flat_undo_block_300025(raw_blocks: Path) -> None:
    block = (raw_blocks / "bcoin" / "block300025.raw").read_bytes()
    prevouts = parse_flat_undo((raw_blocks / "bcoin" / "block300025-undo.raw").read_bytes(), "u")
    assert len(prevouts) == 1427
    fee_identity(block, list(prevouts), 25 * COIN)


def test_bcoin_flat_undo_truncated(raw_blocks: Path) -> None:
    data = (raw_blocks / "bcoin" / "block300025-undo.raw").read_bytes()
    with pytest.raises(DataError, match=r"undo\.raw: byte offset \d+: truncated script"):
        parse_flat_undo(data[:-1], "undo.raw")
    with pytest.raises(DataError, match=r"undo\.raw: byte offset 0: output value -1"):
        parse_flat_undo(b"\xff" * 8 + b"\x00", "undo.raw")


# --- btcd utxostore ------------------------------------------------------------------------------


def test_btcd_utxostore_block_277647(raw_blocks: Path) -> None:
    store = parse_btcd_utxostore(
        bz2.decompress((raw_blocks / "btcd" / "277647.utxostore.bz2").read_bytes()), "utxostore"
    )
    (block,) = blk_records(bz2.decompress((raw_blocks / "btcd" / "277647.dat.bz2").read_bytes()))
    txs = parse_block(block)
    # txids are stored in internal byte order, like the block's own outpoints
    prevouts = [store[op] for ins, _ in txs[1:] for op in ins]
    fee_identity(block, prevouts, 25 * COIN)


def test_btcd_utxostore_malformed() -> None:
    entry = varint(2 * 1000) + varint(compress_amount(COIN)) + b"\x00" + bytes(20)
    rec = bytes(32) + (3).to_bytes(4, "little") + len(entry).to_bytes(4, "little") + entry
    assert parse_btcd_utxostore(rec, "s") == {
        (bytes(32), 3): Prevout(COIN, b"\x76\xa9\x14" + bytes(20) + b"\x88\xac")
    }
    with pytest.raises(DataError, match=r"s: byte offset 40: truncated utxo entry"):
        parse_btcd_utxostore(rec[:-1], "s")
    padded = rec[:36] + (len(entry) + 1).to_bytes(4, "little") + entry + b"\x00"
    with pytest.raises(DataError, match=r"s: byte offset \d+: 1 unparsed"):
        parse_btcd_utxostore(padded, "s")
    with pytest.raises(DataError, match=r"s: byte offset 40: truncated VARINT header code"):
        parse_btcd_utxostore(rec[:36] + bytes(4), "s")
