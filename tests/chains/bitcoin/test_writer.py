"""Tests of the block/tx writer and the sample chain, cross-checked against embit.

embit is an independent Bitcoin implementation: every transaction we write must parse with it,
reserialize to the same bytes and hash to the same txid. Headers, merkle roots, proof of work and
witness commitments are recomputed here from embit's view of the transactions.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import os
import struct
from pathlib import Path

import pytest
from embit.script import Script
from embit.transaction import Transaction, TransactionInput, TransactionOutput, Witness

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import MAINNET, REGTEST
from fundtrail.chains.bitcoin.samplechain import (
    SUBSIDY,
    build_sample_chain,
    sample_chain_blocks_dir,
)

KEY = bytes.fromhex("a1b2c3d4e5f60718")


def _sha256d(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def _testdata() -> Path:
    """Shared data dir: $FUNDTRAIL_TESTDATA or ../shared/data next to the project."""
    env = os.environ.get("FUNDTRAIL_TESTDATA")
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="module")
def chain():
    return build_sample_chain()


def parse_block(raw: bytes) -> tuple[dict, list[Transaction], list[bytes]]:
    """Header fields (own parsing), embit transactions, and each tx's raw bytes."""
    version, = struct.unpack_from("<i", raw, 0)
    t, bits, nonce = struct.unpack_from("<III", raw, 68)
    header = {"version": version, "prev": raw[4:36], "merkle": raw[36:68], "time": t,
              "bits": bits, "nonce": nonce}
    stream = io.BytesIO(raw[80:])
    first = stream.read(1)[0]
    assert first < 0xFD  # sample blocks hold < 253 transactions
    txs, raws = [], []
    for _ in range(first):
        start = stream.tell()
        tx = Transaction.read_from(stream)
        txs.append(tx)
        raws.append(raw[80 + start:80 + stream.tell()])
    assert stream.read() == b"", "trailing bytes after the last transaction"
    return header, txs, raws


def script_int(script: bytes) -> int:
    """Decode the first push of a script as Core's BIP34 check reads it."""
    op = script[0]
    if op == 0:
        return 0
    if 0x51 <= op <= 0x60:
        return op - 0x50
    assert 1 <= op <= 8
    return int.from_bytes(script[1:1 + op], "little")


# ---------------------------------------------------------------- primitives


@pytest.mark.parametrize(("n", "hexed"), [
    (0, "00"), (252, "fc"), (253, "fdfd00"), (0xFFFF, "fdffff"), (0x10000, "fe00000100"),
    (0xFFFFFFFF, "feffffffff"), (2**32, "ff0000000001000000"),
])
def test_compact_size(n: int, hexed: str) -> None:
    assert w.compact_size(n).hex() == hexed


@pytest.mark.parametrize(("n", "hexed"), [
    (0, "00"), (1, "51"), (16, "60"), (-1, "4f"), (17, "0111"), (127, "017f"), (128, "028000"),
    (255, "02ff00"), (256, "020001"), (-128, "028080"), (500_000, "0320a107"),
])
def test_push_int_matches_cscript(n: int, hexed: str) -> None:
    assert w.push_int(n).hex() == hexed


def test_push_data_boundaries() -> None:
    assert w.push_data(b"\x01" * 75)[:1] == b"\x4b"
    assert w.push_data(b"\x01" * 76)[:2] == b"\x4c\x4c"
    assert w.push_data(b"\x01" * 256)[:3] == b"\x4d\x00\x01"


def test_bits_to_target() -> None:
    assert w.bits_to_target(0x1D00FFFF) == 0xFFFF << 208
    assert w.bits_to_target(0x207FFFFF) == 0x7FFFFF << 232
    assert w.bits_to_target(0x03123456) == 0x123456
    assert w.bits_to_target(0x02123456) == 0x1234
    with pytest.raises(ValueError):
        w.bits_to_target(0x04923456)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_merkle_root_duplicates_last(n: int) -> None:
    leaves = [bytes([i]) * 32 for i in range(n)]
    level = list(leaves)
    while len(level) > 1:
        if len(level) % 2:
            level = level + [level[-1]]
        level = [_sha256d(a + b) for a, b in zip(level[::2], level[1::2])]
    assert w.merkle_root(leaves) == level[0]


def test_script_builders() -> None:
    h20, h32 = bytes(range(20)), bytes(range(32))
    assert w.p2pkh(h20).hex() == "76a914" + h20.hex() + "88ac"
    assert w.p2sh(h20).hex() == "a914" + h20.hex() + "87"
    assert w.p2wpkh(h20).hex() == "0014" + h20.hex()
    assert w.p2wsh(h32).hex() == "0020" + h32.hex()
    assert w.p2tr(h32).hex() == "5120" + h32.hex()
    assert w.p2a().hex() == "51024e73"
    assert w.witness_unknown(2, h32).hex() == "5220" + h32.hex()
    assert w.witness_unknown(16, b"\x00\x01").hex() == "60020001"
    assert w.op_return(b"hi").hex() == "6a026869"
    assert w.op_return(b"").hex() == "6a"
    assert w.op_return(bytes(80))[:3].hex() == "6a4c50"
    key = b"\x02" + h32
    assert w.p2pk(key).hex() == "21" + key.hex() + "ac"
    assert w.multisig(1, [key, key]).hex() == "51" + ("21" + key.hex()) * 2 + "52ae"
    expected = {w.p2pkh(h20): "p2pkh", w.p2sh(h20): "p2sh", w.p2wpkh(h20): "p2wpkh",
                w.p2wsh(h32): "p2wsh", w.p2tr(h32): "p2tr"}
    for script, kind in expected.items():
        assert Script(script).script_type() == kind
    for bad in (lambda: w.p2pkh(h32), lambda: w.multisig(3, [key, key]),
                lambda: w.witness_unknown(17, h32), lambda: w.witness_unknown(2, b"\x00")):
        with pytest.raises(ValueError):
            bad()


# ---------------------------------------------------------------- transactions


def test_tx_matches_embit_construction() -> None:
    """Build the same segwit tx with embit's own classes and compare bytes and ids."""
    prev = bytes(range(32))
    ours = w.Tx(2, [w.TxIn(prev, 1, b"\x01\x02", 0xFFFFFFFD, [b"\x30" * 71, b"\x02" * 33]),
                    w.TxIn(prev[::-1], 0, w.push_data(b"\x30" * 72), 0xFFFFFFFF, [])],
                [w.TxOut(12_345, w.p2wpkh(bytes(20))), w.TxOut(0, w.op_return(b"x"))], 77)
    vin = [TransactionInput(prev[::-1], 1, Script(b"\x01\x02"), 0xFFFFFFFD,
                            Witness([b"\x30" * 71, b"\x02" * 33])),
           TransactionInput(prev, 0, Script(w.push_data(b"\x30" * 72)), 0xFFFFFFFF)]
    vout = [TransactionOutput(12_345, Script(w.p2wpkh(bytes(20)))),
            TransactionOutput(0, Script(w.op_return(b"x")))]
    theirs = Transaction(version=2, vin=vin, vout=vout, locktime=77)
    assert ours.serialize() == theirs.serialize()
    assert ours.txid()[::-1] == theirs.txid()
    assert ours.wtxid() == _sha256d(theirs.serialize())
    assert ours.serialize(with_witness=False)[4:6] != b"\x00\x01"
    legacy = w.Tx(1, [w.TxIn(prev, 0, b"\x51")], [w.TxOut(1, b"\x51")])
    assert legacy.txid() == legacy.wtxid()
    assert legacy.serialize() == Transaction.parse(legacy.serialize()).serialize()


@pytest.mark.parametrize("name", ["segwit.txt", "size_segwit.txt", "size_non_segwit.txt",
                                  "large_tx.txt", "bech32_p2wsh.txt", "bech32_p2wpkh.txt"])
def test_real_transactions_reserialize(name: str) -> None:
    """Rebuild real mainnet transactions field by field; our bytes must equal the originals."""
    path = _testdata() / "btc-raw-blocks" / "python-bitcoin-blockchain-parser" / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    raw = bytes.fromhex(path.read_text().strip())
    et = Transaction.parse(raw)
    ours = w.Tx(et.version,
                [w.TxIn(i.txid[::-1], i.vout, i.script_sig.data, i.sequence, list(i.witness.items))
                 for i in et.vin],
                [w.TxOut(o.value, o.script_pubkey.data) for o in et.vout], et.locktime)
    assert ours.serialize() == raw
    assert ours.txid()[::-1] == et.txid()


@pytest.mark.parametrize("height", [0, 1, 16, 17, 127, 128, 255, 256, 65_535, 840_000])
def test_coinbase_bip34_push(height: int) -> None:
    cb = w.coinbase_tx(height, [w.TxOut(SUBSIDY, w.p2wpkh(bytes(20)))], b"tag")
    ss = cb.inputs[0].script_sig
    assert ss.startswith(w.push_int(height)) and 2 <= len(ss) <= 100
    assert script_int(ss) == height
    assert Transaction.parse(cb.serialize()).serialize() == cb.serialize()
    assert w.coinbase_tx(height, []).inputs[0].script_sig[-1:] == b"\x00"  # OP_0 filler


def test_witness_commitment() -> None:
    spend = w.Tx(2, [w.TxIn(b"\x11" * 32, 0, b"", 0xFFFFFFFF, [b"\x01" * 64])],
                 [w.TxOut(1000, w.p2tr(b"\x22" * 32))])
    cb = w.coinbase_tx(5, [w.TxOut(SUBSIDY, w.p2wpkh(bytes(20)))], witness_commitment=True)
    txs = w.fill_witness_commitment([cb, spend])
    out = txs[0].outputs[-1].script
    root = w.merkle_root([bytes(32), spend.wtxid()])
    assert out == w.WITNESS_COMMITMENT_PREFIX + _sha256d(root + bytes(32))
    assert w.fill_witness_commitment(txs) == txs  # idempotent
    raw = w.build_block(bytes(32), [cb, spend], 1_700_000_000)
    _, etxs, _ = parse_block(raw)
    assert etxs[0].vout[-1].script_pubkey.data == out


# ---------------------------------------------------------------- blocks


def test_genesis_known_answer() -> None:
    path = _testdata() / "btc-raw-blocks" / "python-bitcoin-blockchain-parser" / "genesis_block.txt"
    if not path.exists():
        pytest.skip(f"{path} not available")
    expected = bytes.fromhex(path.read_text().strip())
    text = b"The Times 03/Jan/2009 Chancellor on brink of second bailout for banks"
    satoshi = bytes.fromhex(
        "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f3"
        "5504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f")
    cb = w.Tx(1, [w.TxIn(bytes(32), 0xFFFFFFFF,
                         w.push_data(struct.pack("<I", 0x1D00FFFF)) + w.push_data(b"\x04") +
                         w.push_data(text))],
              [w.TxOut(50 * w.COIN, w.p2pk(satoshi))], 0)
    assert w.display_hex(cb.txid()) == (
        "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b")
    raw = w.build_block(bytes(32), [cb], 1231006505, 0x1D00FFFF, 1, nonce=2083236893)
    assert raw == expected
    assert w.display_hex(w.block_hash(raw)) == MAINNET.genesis_hash
    assert w.check_pow(raw[:80])


def test_build_block_mines_and_parses() -> None:
    cb = w.coinbase_tx(3, [w.TxOut(SUBSIDY, w.p2pkh(bytes(20)))])
    raw = w.build_block(b"\x42" * 32, [cb], 1_700_000_123)
    header, txs, _ = parse_block(raw)
    assert w.check_pow(raw[:80])
    assert header["prev"] == b"\x42" * 32 and header["bits"] == 0x207FFFFF
    assert header["merkle"] == cb.txid() == txs[0].txid()[::-1]
    assert header["nonce"] < 64  # expected ~2 tries at the regtest target
    fixed = w.build_block(b"\x42" * 32, [cb], 1_700_000_123, nonce=header["nonce"])
    assert fixed == raw


# ---------------------------------------------------------------- sample chain


def _all_blocks(chain) -> list[tuple[bytes, dict]]:
    entries = chain.manifest["heights"] + chain.manifest["stale"]["blocks"]
    return list(zip(chain.blocks + chain.stale, entries))


def test_sample_blocks_verify_with_embit(chain) -> None:
    for raw, entry in _all_blocks(chain):
        header, txs, raws = parse_block(raw)
        assert len(txs) == entry["n_tx"] and len(raw) == entry["size"]
        for tx, tx_raw in zip(txs, raws):
            assert tx.serialize() == tx_raw  # embit roundtrip
        txids = [t.txid()[::-1] for t in txs]
        assert [w.display_hex(t) for t in txids] == entry["txids"]
        assert header["merkle"] == w.merkle_root(txids)
        assert w.check_pow(raw[:80])
        assert w.display_hex(w.block_hash(raw)) == entry["hash"]
        assert header["prev"][::-1].hex() == entry["prev_hash"] and header["time"] == entry["time"]
        cb = txs[0]
        assert cb.vin[0].txid == bytes(32) and cb.vin[0].vout == 0xFFFFFFFF
        assert script_int(cb.vin[0].script_sig.data) == entry["height"]
        if any(t.is_segwit for t in txs[1:]):
            root = w.merkle_root([bytes(32)] + [_sha256d(r) for r in raws[1:]])
            reserved = cb.vin[0].witness.items[0]
            commit = cb.vout[-1].script_pubkey.data
            assert commit == w.WITNESS_COMMITMENT_PREFIX + _sha256d(root + reserved)
        else:
            assert not cb.is_segwit


def test_sample_chain_links_and_stale_fork(chain) -> None:
    m = chain.manifest
    assert len(chain.blocks) == 120 and chain.blocks[0][4:36] == bytes(32)
    for prev, raw in zip(chain.blocks, chain.blocks[1:]):
        assert raw[4:36] == w.block_hash(prev)
    assert m["genesis_hash"] == w.display_hex(w.block_hash(chain.blocks[0]))
    assert m["tip_hash"] == chain.tip_hash
    fork = m["stale"]["fork_parent_height"]
    assert 1 <= len(chain.stale) < len(chain.blocks) - 1 - fork  # less work than the best chain
    assert chain.stale[0][4:36] == w.block_hash(chain.blocks[fork])
    best = {w.block_hash(b) for b in chain.blocks}
    assert not best & {w.block_hash(b) for b in chain.stale}
    json.dumps(m)  # the manifest is plain JSON


def test_sample_chain_values_balance(chain) -> None:
    """Replay the best chain: every input spends an existing unspent output, fees >= 0."""
    utxo: dict[tuple[bytes, int], int] = {}
    supply = 0
    for raw, entry in zip(chain.blocks, chain.manifest["heights"]):
        _, txs, _ = parse_block(raw)
        fees = 0
        for tx in txs[1:]:
            value_in = sum(utxo.pop((i.txid, i.vout)) for i in tx.vin)
            fee = value_in - sum(o.value for o in tx.vout)
            assert 0 <= fee < 10_000
            fees += fee
            utxo.update({(tx.txid(), n): o.value for n, o in enumerate(tx.vout)})
        cb_value = sum(o.value for o in txs[0].vout)
        assert cb_value == SUBSIDY + fees == entry["coinbase_value"]
        assert fees == entry["fees"]
        assert entry["value_out"] == sum(o.value for t in txs for o in t.vout)
        utxo.update({(txs[0].txid(), n): o.value for n, o in enumerate(txs[0].vout)})
        supply += SUBSIDY
    assert sum(utxo.values()) == supply == chain.manifest["utxo_value"]


def test_sample_chain_facts(chain) -> None:
    facts = chain.manifest["facts"]
    for name in ("p2pk_output", "bare_multisig_output", "op_return_output", "p2tr_output",
                 "p2a_output", "witness_v2_unknown_output", "nonstandard_output", "p2sh_output",
                 "p2wsh_output", "p2pkh_output", "p2wpkh_output", "same_block_spend",
                 "segwit_spend", "witness_commitment_block"):
        assert name in facts, name
    by_txid = {}
    for raw, entry in zip(chain.blocks, chain.manifest["heights"]):
        _, txs, _ = parse_block(raw)
        for i, tx in enumerate(txs):
            by_txid[w.display_hex(tx.txid()[::-1])] = (entry["height"], i, tx)
    prefixes = {"p2pk_output": "21", "bare_multisig_output": "5", "op_return_output": "6a",
                "p2a_output": "51024e73", "witness_v2_unknown_output": "5220",
                "nonstandard_output": "aa20", "p2tr_output": "5120"}
    for name, prefix in prefixes.items():
        f = facts[name]
        height, _, tx = by_txid[f["txid"]]
        assert height == f["height"]
        assert tx.vout[f["vout"]].script_pubkey.data.hex() == f["script"]
        assert f["script"].startswith(prefix)
    assert facts["bare_multisig_output"]["script"].endswith("ae")
    same = facts["same_block_spend"]
    h_child, i_child, child = by_txid[same["txid"]]
    h_parent, i_parent, _ = by_txid[same["prev_txid"]]
    assert h_child == h_parent and i_parent < i_child
    assert child.vin[same["vin"]].txid == bytes.fromhex(same["prev_txid"])
    reuse = chain.manifest["address_reuse"]
    scripts = {by_txid[t][2].vout[v].script_pubkey.data.hex() for t, v in reuse["outputs"]}
    assert scripts == {reuse["script"]} and len(reuse["outputs"]) >= 2
    counts = chain.manifest["script_type_counts"]
    assert counts["p2wpkh"] > counts["p2wsh"] > counts["witness_unknown"] > 0


def test_sample_chain_determinism() -> None:
    a, b = build_sample_chain(seed=11, n_blocks=40), build_sample_chain(seed=11, n_blocks=40)
    assert a.blocks == b.blocks and a.stale == b.stale and a.manifest == b.manifest
    c = build_sample_chain(seed=12, n_blocks=40)
    assert c.blocks[0] != a.blocks[0] and c.manifest["tip_hash"] != a.manifest["tip_hash"]
    no_fork = build_sample_chain(seed=11, n_blocks=40, stale_branch=False)
    assert no_fork.blocks == a.blocks and no_fork.stale == []
    tiny = build_sample_chain(seed=1, n_blocks=3)
    assert len(tiny.blocks) == 3 and tiny.stale == []


# ---------------------------------------------------------------- files


def read_records(data: bytes, magic: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data) and data[pos:pos + 4] != b"\x00\x00\x00\x00":
        assert data[pos:pos + 4] == magic
        size, = struct.unpack_from("<I", data, pos + 4)
        out.append(data[pos + 8:pos + 8 + size])
        pos += 8 + size
    assert not any(data[pos:])  # only zero padding may follow
    return out


def test_blk_files_roundtrip(tmp_path: Path, chain) -> None:
    blocks = chain.blocks[:30]
    paths = w.write_blocks_dir(tmp_path, blocks, REGTEST, max_file_size=20_000)
    assert [p.name for p in paths] == [f"blk{i:05d}.dat" for i in range(len(paths))]
    assert len(paths) >= 2 and not (tmp_path / "xor.dat").exists()
    back = []
    for p in paths:
        data = p.read_bytes()
        recs = read_records(data, REGTEST.magic)
        assert len(data) <= 20_000 or len(recs) == 1
        back += recs
    assert back == blocks


def test_blk_record_larger_than_limit_gets_own_file(tmp_path: Path, chain) -> None:
    paths = w.write_blocks_dir(tmp_path, chain.blocks[10:13], MAINNET, max_file_size=100)
    assert len(paths) == 3
    assert read_records(paths[1].read_bytes(), MAINNET.magic) == [chain.blocks[11]]


def test_xor_obfuscation(tmp_path: Path, chain) -> None:
    plain = w.write_blocks_dir(tmp_path / "plain", chain.blocks, REGTEST, max_file_size=50_000)
    xored = w.write_blocks_dir(tmp_path / "xor", chain.blocks, REGTEST, max_file_size=50_000,
                               xor_key=KEY)
    assert (tmp_path / "xor" / "xor.dat").read_bytes() == KEY
    assert len(plain) == len(xored) >= 2
    for p, x in zip(plain, xored):
        raw = x.read_bytes()
        assert raw[:4] != REGTEST.magic
        clear = bytes(b ^ KEY[i % 8] for i, b in enumerate(raw))  # independent de-obfuscation
        assert clear == p.read_bytes()
    data = plain[0].read_bytes()[:1000]
    assert w.xor_obfuscate(data[13:], KEY, 13) == w.xor_obfuscate(data, KEY)[13:]
    with pytest.raises(ValueError):
        w.write_blocks_dir(tmp_path / "bad", [], REGTEST, xor_key=b"short")


def test_zero_padding(tmp_path: Path, chain) -> None:
    paths = w.write_blocks_dir(tmp_path, chain.blocks[:5], REGTEST, xor_key=KEY, zero_pad=4096)
    data = paths[-1].read_bytes()
    assert len(data) % 4096 == 0 and data.endswith(bytes(16))
    used = sum(len(b) + 8 for b in chain.blocks[:5])
    clear = w.xor_obfuscate(data[:used], KEY)
    assert read_records(clear, REGTEST.magic) == chain.blocks[:5]


def test_raw_and_bz2_writers(tmp_path: Path, chain) -> None:
    raw = chain.blocks[15]
    assert w.write_raw_block(tmp_path / "b.bin", raw).read_bytes() == raw
    text = w.write_raw_block(tmp_path / "b.hex", raw, hex_text=True).read_text()
    assert text.endswith("\n") and bytes.fromhex(text.strip()) == raw
    p = w.write_bz2_stream(tmp_path / "s.bz2", chain.blocks[:12], REGTEST)
    assert read_records(bz2.decompress(p.read_bytes()), REGTEST.magic) == chain.blocks[:12]


def test_sample_chain_blocks_dir(tmp_path: Path) -> None:
    chain = sample_chain_blocks_dir(tmp_path / "a", seed=5, xor_key=KEY)
    files = sorted((tmp_path / "a").glob("blk*.dat"))
    assert len(files) >= 2 and [f.name for f in files] == chain.manifest["files"]
    stored = []
    for f in files:
        raw = f.read_bytes()
        stored += read_records(bytes(b ^ KEY[i % 8] for i, b in enumerate(raw)), REGTEST.magic)
    assert sorted(stored) == sorted(chain.blocks + chain.stale)
    assert stored != chain.blocks + chain.stale  # shuffled
    order = [w.display_hex(w.block_hash(b)) for b in stored]
    assert order == chain.manifest["storage_order"]
    again = sample_chain_blocks_dir(tmp_path / "b", seed=5, xor_key=KEY)
    assert again.manifest == chain.manifest
    for f in files:
        assert (tmp_path / "b" / f.name).read_bytes() == f.read_bytes()
    ordered = sample_chain_blocks_dir(tmp_path / "c", seed=5, shuffle=False)
    assert ordered.manifest["storage_order"][0] == chain.manifest["genesis_hash"]
