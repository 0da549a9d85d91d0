"""Block bodies validated as Bitcoin Core's CheckBlock/CheckTransaction do (issue 13 item 2), bounded
inputs (item 8: .bz2 size, blk frame length) and one-line errors for bad block files (item 9)."""

from __future__ import annotations

import bz2
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import MAINNET, REGTEST
from fundtrail.cli.main import main
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.jobs import ingest_raw_files
from fundtrail.store import Store

from support import reliability as rs

MAX_MONEY = 21_000_000 * 100_000_000


@pytest.fixture
def btc(testdata: Path) -> Path:
    return testdata / "btc-raw-blocks"


def _refused(tmp_path: Path, raw: bytes, *words: str, network: str = "mainnet") -> str:
    """Ingest `raw` through the CLI: exit 3, one line holding `words`, nothing stored."""
    path = tmp_path / "bad.raw"
    path.write_bytes(raw)
    store = tmp_path / "s"
    import io
    import contextlib

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["--store", str(store), "ingest", "bitcoin", "--raw", str(path), "--network", network])
    text = err.getvalue()
    assert code == 3 and len(text.splitlines()) == 1 and "Traceback" not in text, text
    assert all(word in text for word in words), text
    assert str(path) in text
    if (store / "lake").exists():
        assert not any(p.is_file() for p in (store / "lake").rglob("*.parquet"))
    return text


def _block_hash(raw: bytes) -> str:
    return w.display_hex(w.block_hash(raw[:80]))


def test_merkle_malleation_of_block_227835_is_refused(tmp_path: Path, btc: Path) -> None:
    raw = (btc / "bitcoinj" / "block227835.dat").read_bytes()
    txs = rs.parse_block(raw)
    assert len(txs) == 122
    last_two = raw[txs[-2].start:txs[-1].end]
    mutated = raw[:80] + w.compact_size(124) + raw[txs[0].start:] + last_two
    assert w.merkle_root([t.txid for t in txs] + [txs[-2].txid, txs[-1].txid]) == raw[36:68]  # same root
    _refused(tmp_path, mutated, "CVE-2012-2459", _block_hash(raw))


def _first_output_value_at(raw: bytes) -> int:
    tx = rs.parse_block(raw)[1]
    pos = tx.start + 4
    n_in, pos = rs._varint(raw, pos)
    for _ in range(n_in):
        ln, pos = rs._varint(raw, pos + 36)
        pos += ln + 4
    _, pos = rs._varint(raw, pos)
    return pos


@pytest.mark.parametrize(("value", "words"), [
    (MAX_MONEY + 1, ("above 21,000,000 BTC", "transaction 1")),
    (-1, ("negative", "transaction 1")),
])
def test_output_value_out_of_range(tmp_path: Path, btc: Path, value: int, words: tuple[str, ...]) -> None:
    raw = bytearray((btc / "bitcoinj" / "block169482.dat").read_bytes())
    at = _first_output_value_at(bytes(raw))
    raw[at:at + 8] = value.to_bytes(8, "little", signed=True)
    _refused(tmp_path, bytes(raw), *words, _block_hash(bytes(raw)))


def test_output_sum_above_max_money(tmp_path: Path) -> None:
    cb = w.coinbase_tx(1, [w.TxOut(MAX_MONEY, w.p2wpkh(b"\x01" * 20)), w.TxOut(1, w.p2wpkh(b"\x02" * 20))])
    raw = w.build_block(b"\x11" * 32, [cb], 1_700_000_000)
    path = tmp_path / "b.raw"
    path.write_bytes(raw)
    with pytest.raises(DataError, match="add up to more than 21,000,000 BTC"):
        ingest_raw_files(Store.open(tmp_path / "s"), [path], network=REGTEST)


def test_input_values_that_overflow_are_refused(tmp_path: Path) -> None:
    """Prevout values supplied by a source (undo data) above MAX_MONEY, or whose sum is."""
    spend = w.Tx(2, [w.TxIn(b"\x22" * 32, 0, b"\x51"), w.TxIn(b"\x23" * 32, 0, b"\x51")],
                 [w.TxOut(1000, w.p2wpkh(b"\x03" * 20))])
    cb = w.coinbase_tx(500, [w.TxOut(50 * w.COIN, w.p2wpkh(b"\x01" * 20))])
    raw = w.build_block(b"\x11" * 32, [cb, spend], 1_700_000_000)
    path = tmp_path / "b.raw"
    path.write_bytes(raw)
    script = w.p2wpkh(b"\x04" * 20)
    undo = tmp_path / "b.undo"
    undo.write_bytes(b"".join(MAX_MONEY.to_bytes(8, "little") + w.compact_size(len(script)) + script
                              for _ in range(2)))
    with pytest.raises(DataError, match="input values add up to more than 21,000,000 BTC"):
        ingest_raw_files(Store.open(tmp_path / "s"), [path], network=REGTEST, undo_files=[undo])


def test_non_canonical_compact_size_is_refused(tmp_path: Path, btc: Path) -> None:
    raw = (btc / "bitcoinj" / "block169482.dat").read_bytes()
    n = raw[80]
    assert n < 0xFD
    padded = raw[:80] + b"\xfd" + n.to_bytes(2, "little") + raw[81:]  # 14 as fd 0e 00
    _refused(tmp_path, padded, "non-canonical CompactSize", "at byte 80")


def test_coinbase_rules(tmp_path: Path) -> None:
    plain = w.Tx(2, [w.TxIn(b"\x22" * 32, 0, b"\x51")], [w.TxOut(1000, w.p2wpkh(b"\x03" * 20))])
    no_cb = w.build_block(b"\x11" * 32, [plain], 1_700_000_000)
    _refused(tmp_path, no_cb, "first transaction is not a coinbase", "transaction 0", network="regtest")


# --- bounds and one-line errors ------------------------------------------------------------------

def test_bz2_bomb_is_bounded(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.bz2"
    bomb.write_bytes(bz2.compress(bytes(8 << 20)))  # 8 MiB of zeros in ~50 bytes
    with pytest.raises(DataError, match=r"decompresses to more than max_decompressed_mb \(2 MB\)"):
        ingest_raw_files(Store.open(tmp_path / "s"), [bomb], max_decompressed_mb=2)


def test_blk_frame_length_is_bounded(tmp_path: Path, btc: Path) -> None:
    data = (btc / "nbitcoin" / "blk00000.dat").read_bytes()[:2000]
    length = int.from_bytes(data[4:8], "little")
    path = tmp_path / "s.dat"
    path.write_bytes(data)
    with pytest.raises(DataError, match=r"exceeds max_block_bytes \(200\)"):
        ingest_raw_files(Store.open(tmp_path / "s"), [path], max_block_bytes=200)
    assert length == 285


def test_hex_zeros_raw_is_one_line(tmp_path: Path) -> None:
    text = _refused(tmp_path, b"00 " * 60, "too short for a block")
    assert "60 bytes" in text


def test_missing_undo_file_is_one_line(tmp_path: Path, btc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--store", str(tmp_path / "s"), "ingest", "bitcoin", "--raw",
                 str(btc / "bcoin" / "block300025.raw"), "--undo-file", str(tmp_path / "nope.undo")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and "nope.undo" in err and "Traceback" not in err


def test_bad_magic_at_offset_0_is_reported_as_such(tmp_path: Path, btc: Path) -> None:
    data = bytearray((btc / "nbitcoin" / "blk00000.dat").read_bytes()[:2000])
    first = 8 + int.from_bytes(data[4:8], "little")
    data[:4] = b"\xde\xad\xbe\xef"
    text = _refused(tmp_path, bytes(data[:first]), "bad magic deadbeef", "at byte offset 0")
    assert "implausible" not in text
    path = tmp_path / "more.dat"  # followed by good records: those are read
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="bad magic deadbeef") as info:
        ingest_raw_files(Store.open(tmp_path / "s2"), [path], network=MAINNET)
    assert info.value.report.blocks > 0  # type: ignore[attr-defined]
