"""Undo data (bcoin's flat undo for block 300025, Bitcoin Core's rev00000.dat) and the 1 MB tx.

The undo file and rev file are decoded here independently (a few lines each) so that input
values and addresses are checked against bytes, not against the product's own undo parser.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import shutil
from pathlib import Path

import pytest
from embit import compact
from embit.transaction import Transaction

from fundtrail.chains.bitcoin import writer
from fundtrail.chains.bitcoin.address import classify_script, render_address
from fundtrail.chains.bitcoin.params import MAINNET, REGTEST
from fundtrail.chains.bitcoin.script import ScriptType
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir, ingest_raw_files
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions
from fundtrail.store.status import status

COIN = 100_000_000
SUBSIDY_300025 = 25 * COIN
MEGATX = "bb41a757f405890fb0f5856228e23b715702d714d59bf2b1feb70d8b2b4e3e08"


def dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    first = data[pos]
    if first < 0xFD:
        return first, pos + 1
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    return int.from_bytes(data[pos + 1:pos + 1 + width], "little"), pos + 1 + width


def embit_txs(raw: bytes) -> list[Transaction]:
    stream = io.BytesIO(raw)
    stream.read(80)
    txs = [Transaction.read_from(stream) for _ in range(compact.read_from(stream))]
    assert stream.read() == b""
    return txs


@pytest.fixture(scope="module")
def btc(testdata: Path) -> Path:
    return testdata / "btc-raw-blocks"


@pytest.fixture(scope="module")
def block300025(btc: Path) -> tuple[list[Transaction], list[tuple[int, bytes]]]:
    """embit's parse of the block and the undo entries (value, script) decoded here."""
    txs = embit_txs((btc / "bcoin" / "block300025.raw").read_bytes())
    data = (btc / "bcoin" / "block300025-undo.raw").read_bytes()
    undo, pos = [], 0
    while pos < len(data):
        value = int.from_bytes(data[pos:pos + 8], "little", signed=True)
        n, pos = read_varint(data, pos + 8)
        undo.append((value, data[pos:pos + n]))
        pos += n
    assert pos == len(data)
    return txs, undo


def test_block300025_with_undo_resolves_every_input(tmp_path: Path, btc: Path, block300025) -> None:
    txs, undo = block300025
    inputs = [(tx.txid().hex(), i) for tx in txs[1:] for i in range(len(tx.vin))]
    assert len(undo) == len(inputs)  # one undo entry per non-coinbase input
    in_block = {tx.txid().hex() for tx in txs}
    spends_in_block = sum(1 for tx in txs[1:] for i in tx.vin if i.txid.hex() in in_block)
    store = Store.open(tmp_path / "store")
    report = ingest_raw_files(store, [btc / "bcoin" / "block300025.raw"],
                              undo_files=[btc / "bcoin" / "block300025-undo.raw"])
    assert report.unresolved_inputs == 0 and report.inputs == len(inputs)
    with store.query() as con:
        by = dict(con.execute("SELECT resolved_by, count(*) FROM btc_inputs GROUP BY 1").fetchall())
    # spends of outputs created earlier in the same block come from the store (1), the rest
    # from the undo data (2); nothing is left unresolved (0)
    assert by == {1: spends_in_block, 2: len(inputs) - spends_in_block}
    assert spends_in_block > 0
    exported = list(iter_transactions(store, "btc"))
    assert [t["txid"] for t in exported] == [tx.txid().hex() for tx in txs]
    flat = [i for t in exported[1:] for i in t["inputs"]]
    for got, (value, script) in zip(flat, undo, strict=True):
        st, payload = classify_script(script)
        assert got["value"] == value
        assert got["address"] == (None if st == ScriptType.OP_RETURN else render_address(st, payload, MAINNET))
    fees = [t["fee"] for t in exported[1:]]
    assert all(f is not None and f >= 0 for f in fees)
    for t, tx in zip(exported[1:], txs[1:]):
        assert t["fee"] == sum(i["value"] for i in t["inputs"]) - sum(o.value for o in tx.vout)
    coinbase_out = sum(o.value for o in txs[0].vout)
    assert exported[0]["fee"] == 0
    assert sum(fees) == coinbase_out - SUBSIDY_300025  # the miner claimed exactly subsidy + fees
    assert sum(fees) == 7_773_345
    assert status(store)["chains"][0]["unresolved_inputs"] == 0


def test_block300025_without_undo_keeps_inputs_unresolved(tmp_path: Path, btc: Path, block300025) -> None:
    txs, undo = block300025
    in_block = {tx.txid().hex(): tx for tx in txs}
    outside = sum(1 for tx in txs[1:] for i in tx.vin if i.txid.hex() not in in_block)
    store = Store.open(tmp_path / "store")
    report = ingest_raw_files(store, [btc / "bcoin" / "block300025.raw"])
    assert report.unresolved_inputs == outside == len(undo) - 188
    assert status(store)["chains"][0]["unresolved_inputs"] == outside
    for t in iter_transactions(store, "btc"):
        for i in t["inputs"]:
            parent = in_block.get(i["prev_txid"])
            if parent is None:
                assert i["value"] is None and i["address"] is None
            else:
                assert i["value"] == parent.vout[i["prev_vout"]].value
        if t["coinbase"]:
            assert t["fee"] == 0
        elif any(i["value"] is None for i in t["inputs"]):
            assert t["fee"] is None
        else:
            assert t["fee"] >= 0


def test_undo_for_another_block_is_refused(tmp_path: Path, btc: Path) -> None:
    store = Store.open(tmp_path / "store")
    with pytest.raises(DataError, match="prevout data has"):
        ingest_raw_files(store, [btc / "bcoin" / "block482683.raw"],
                         undo_files=[btc / "bcoin" / "block300025-undo.raw"])
    assert status(store)["chains"] == []  # nothing committed: no empty chain left behind


def test_rev00000_undo_with_blocks_dir(tmp_path: Path, btc: Path) -> None:
    """rev00000.dat holds the undo of blocks 1-40 (no non-coinbase inputs): using it must give
    exactly the store that ingest without undo gives."""
    blk = (btc / "nbitcoin" / "blk00000.dat").read_bytes()
    rev = (btc / "nbitcoin" / "rev00000.dat").read_bytes()
    height_of_parent, pos, h = {}, 0, 0
    while pos + 8 <= len(blk):
        n = int.from_bytes(blk[pos + 4:pos + 8], "little")
        height_of_parent[dsha(blk[pos + 8:pos + 88])] = h  # child of this block has height h+1
        pos, h = pos + 8 + n, h + 1
    matched, pos = [], 0
    while pos + 8 <= len(rev):
        assert rev[pos:pos + 4] == MAINNET.magic
        n = int.from_bytes(rev[pos + 4:pos + 8], "little")
        body, checksum = rev[pos + 8:pos + 8 + n], rev[pos + 8 + n:pos + 8 + n + 32]
        assert body == b"\x00"  # CBlockUndo with no spent coins
        parents = [p for p in height_of_parent if dsha(p + body) == checksum]
        assert len(parents) == 1
        matched.append(height_of_parent[parents[0]] + 1)
        pos += 8 + n + 32
    assert sorted(matched) == list(range(1, 41))

    with_undo, without = tmp_path / "with", tmp_path / "without"
    for d in (with_undo, without):
        d.mkdir()
        shutil.copy(btc / "nbitcoin" / "blk00000.dat", d)
    shutil.copy(btc / "nbitcoin" / "rev00000.dat", with_undo)
    s1, s2 = Store.open(tmp_path / "s1"), Store.open(tmp_path / "s2")
    r1 = ingest_blocks_dir(s1, with_undo, use_undo=True)
    r2 = ingest_blocks_dir(s2, without)
    assert r2.unresolved_inputs == 0
    assert (r1.blocks, r1.unresolved_inputs, r1.warnings) == (300, 0, [])
    assert list(iter_transactions(s1, "btc")) == list(iter_transactions(s2, "btc"))
    with s1.query() as con:
        assert con.execute("SELECT list(DISTINCT resolved_by) FROM btc_inputs").fetchone()[0] == [1]


def test_megatx_in_a_synthetic_block(tmp_path: Path, btc: Path) -> None:
    mega = bz2.decompress((btc / "btcd" / "megatx.bin.bz2").read_bytes())
    assert dsha(mega)[::-1].hex() == MEGATX
    ref = Transaction.read_from(io.BytesIO(mega))
    height = 700_000
    coinbase = writer.coinbase_tx(height, [writer.TxOut(50 * COIN, writer.p2pkh(bytes(range(20))))])
    root = writer.merkle_root([coinbase.txid(), dsha(mega)])
    # mined at the regtest limit (a test cannot mine mainnet difficulty), so ingested as regtest
    header = writer.block_header(2, hashlib.sha256(b"megatx parent").digest(), root, 1_500_000_000,
                                 writer.REGTEST_BITS, 0)
    nonce = next(n for n in range(1 << 20) if writer.check_pow(header[:76] + n.to_bytes(4, "little")))
    raw = header[:76] + nonce.to_bytes(4, "little") + writer.compact_size(2) + coinbase.serialize() + mega
    path = tmp_path / "megablock.raw"
    path.write_bytes(raw)
    store = Store.open(tmp_path / "store")
    report = ingest_raw_files(store, [path], network=REGTEST)
    assert (report.blocks, report.transactions, report.inputs) == (1, 2, len(ref.vin))
    assert report.unresolved_inputs == len(ref.vin)  # the spent outputs are not in the store
    [cb, tx] = list(iter_transactions(store, "btc-regtest"))
    assert cb["txid"] == coinbase.txid()[::-1].hex() and tx["txid"] == MEGATX
    assert tx["block_height"] == height  # BIP34 height of our coinbase
    assert [(i["prev_txid"], i["prev_vout"]) for i in tx["inputs"]] == [
        (i.txid.hex(), i.vout) for i in ref.vin]
    assert all(i["value"] is None for i in tx["inputs"]) and tx["fee"] is None
    assert len(tx["outputs"]) == len(ref.vout)
    for o, r in zip(tx["outputs"], ref.vout):
        st, payload = classify_script(r.script_pubkey.data)
        assert (o["value"], o["script_type"], o["address"]) == (
            r.value, ScriptType(st).export_name, render_address(st, payload, REGTEST))
    with store.query() as con:
        size, ntx, bsize = con.execute(
            "SELECT t.size, b.tx_count, b.size FROM btc_regtest_transactions t "
            "JOIN btc_regtest_blocks b USING (block_id) "
            "WHERE t.tx_index = 1").fetchone()
    assert (size, ntx, bsize) == (len(mega), 2, len(raw))
