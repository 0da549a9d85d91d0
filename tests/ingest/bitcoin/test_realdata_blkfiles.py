"""Real mainnet blocks 0-599 from several independent copies, checked against known answers.

Sources (see ../shared/data/MANIFEST.md): NBitcoin's blk00000.dat/blk00001.dat (blocks 0-599,
Bitcoin Core blk format), bitcoinj's first-100k-blocks.dat (the first 100 KB of a blk stream),
btcd's blocks1-256.bz2 (bzip2 blk stream of blocks 1-255, no genesis), btcd's
blockheaders-mainnet-1-11.txt (hex headers), and btcd's blk_0_to_4.dat.bz2, which despite its
MANIFEST description is mainnet genesis followed by a 4-block *side branch* (btcd's fork test
data: its block 1 is 00000000ebe5ec3e..., not mainnet's 00000000839a8e68...).

Known answers come from outside the code under test: the genesis hash, headers hashed here with
hashlib, Satoshi's 10 BTC payment to Hal Finney in block 170, frame walks done here by hand.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir, ingest_raw_files
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions
from fundtrail.store.status import status

GENESIS = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
MAINNET_MAGIC = bytes.fromhex("f9beb4d9")
HAL_TX = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"
BLOCK9_COINBASE = "0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9"
SATOSHI_ADDR = "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S"  # block 9's coinbase key as P2PKH
HAL_ADDR = "1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3"
COIN = 100_000_000


def dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def block_hash_hex(header80: bytes) -> str:
    return dsha(header80)[::-1].hex()


def walk_frames(data: bytes) -> tuple[list[tuple[int, bytes]], int | None]:
    """Independent blk-stream walk: (offset, block) of each complete record, and the offset of
    an incomplete trailing record (None if the stream ends on a record boundary)."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        assert data[pos:pos + 4] == MAINNET_MAGIC
        n = int.from_bytes(data[pos + 4:pos + 8], "little")
        if pos + 8 + n > len(data):
            return out, pos
        out.append((pos, data[pos + 8:pos + 8 + n]))
        pos += 8 + n
    return out, (pos if pos != len(data) else None)


def chain_rows(store: Store) -> list[tuple[int | None, str, int]]:
    """(height, display hash, tx_count) of every stored block, in block_id order."""
    with store.query() as con:
        rows = con.execute("SELECT height, hash, tx_count FROM btc_blocks ORDER BY block_id").fetchall()
    return [(h, bytes(x)[::-1].hex(), n) for h, x, n in rows]


@pytest.fixture(scope="module")
def btc(testdata: Path) -> Path:
    return testdata / "btc-raw-blocks"


@pytest.fixture(scope="module")
def nbitcoin_frames(btc: Path) -> list[bytes]:
    """Blocks 0-599 from NBitcoin's two blk files, walked here (height = position)."""
    blocks = []
    for name in ("blk00000.dat", "blk00001.dat"):
        frames, tail = walk_frames((btc / "nbitcoin" / name).read_bytes())
        assert tail is None
        blocks += [b for _, b in frames]
    return blocks


@pytest.fixture(scope="module")
def nbitcoin_store(tmp_path_factory: pytest.TempPathFactory, btc: Path) -> Store:
    """Blocks 0-599 ingested once from a Bitcoin Core-style blocks directory (read-only use)."""
    base = tmp_path_factory.mktemp("nbitcoin")
    bdir = base / "blocks"
    bdir.mkdir()
    for name in ("blk00000.dat", "blk00001.dat"):
        shutil.copy(btc / "nbitcoin" / name, bdir / name)
    store = Store.open(base / "store")
    report = ingest_blocks_dir(store, bdir)
    assert (report.blocks, report.stale, report.skipped_known) == (600, 0, 0)
    return store


# --- NBitcoin blk00000/blk00001: mainnet 0-599 ------------------------------------------------


def test_blocks_dir_heights_hashes_and_counts(nbitcoin_store: Store, nbitcoin_frames: list[bytes],
                                              btc: Path) -> None:
    rows = chain_rows(nbitcoin_store)
    assert [h for h, _, _ in rows] == list(range(600))
    assert rows[0][1] == GENESIS
    # every block's stored hash is the double SHA-256 of its header, in height order
    assert [x for _, x, _ in rows] == [block_hash_hex(b[:80]) for b in nbitcoin_frames]
    # each block's parent is the block before it (the chain really is contiguous)
    assert all(nbitcoin_frames[i][4:36] == dsha(nbitcoin_frames[i - 1][:80]) for i in range(1, 600))
    # blocks 1-11 against btcd's independent header file, hashed here
    headers = (btc / "btcd" / "blockheaders-mainnet-1-11.txt").read_text().split()
    assert len(headers) == 11
    assert [block_hash_hex(bytes.fromhex(h)) for h in headers] == [x for _, x, _ in rows[1:12]]
    assert rows[1][1] == "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048"
    st = status(nbitcoin_store)["chains"][0]
    assert (st["chain"], st["network"], st["blocks"], st["min_height"], st["max_height"]) == (
        "btc", "mainnet", 600, 0, 599)
    assert st["tip_hash"] == block_hash_hex(nbitcoin_frames[599][:80])
    assert st["unresolved_inputs"] == 0  # every spend in 0-599 spends an output of 0-599
    # tx counts against the CompactSize after each header, read here (all < 0xfd this early)
    assert [n for _, _, n in rows] == [b[80] for b in nbitcoin_frames]
    assert st["transactions"] == sum(b[80] for b in nbitcoin_frames) == 616


def test_block170_satoshi_pays_hal_finney(nbitcoin_store: Store) -> None:
    txs = {t["txid"]: t for t in iter_transactions(nbitcoin_store, "btc", from_height=170, to_height=170)}
    assert len(txs) == 2
    tx = txs[HAL_TX]
    assert tx["block_height"] == 170
    assert tx["block_hash"] == "00000000d1145790a8694403d4063f323d499e655c83426834d4ce2f8dd4a2ee"
    assert tx["time"] == 1231731025 and tx["coinbase"] is False
    assert tx["inputs"] == [{"prev_txid": BLOCK9_COINBASE, "prev_vout": 0, "address": SATOSHI_ADDR,
                             "value": 50 * COIN}]
    assert tx["outputs"] == [
        {"n": 0, "value": 10 * COIN, "script_type": "p2pk", "address": HAL_ADDR},
        {"n": 1, "value": 40 * COIN, "script_type": "p2pk", "address": SATOSHI_ADDR},
    ]
    assert tx["fee"] == 0
    # the output spent is block 9's coinbase, paid to the same key
    [cb9] = list(iter_transactions(nbitcoin_store, "btc", from_height=9, to_height=9))
    assert cb9["txid"] == BLOCK9_COINBASE and cb9["coinbase"] is True
    assert cb9["outputs"] == [{"n": 0, "value": 50 * COIN, "script_type": "p2pk", "address": SATOSHI_ADDR}]
    assert cb9["inputs"] == [] and cb9["fee"] == 0


def test_genesis_export(nbitcoin_store: Store) -> None:
    [tx] = list(iter_transactions(nbitcoin_store, "btc", block_hash=GENESIS))
    assert tx["txid"] == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    assert tx["outputs"] == [{"n": 0, "value": 50 * COIN, "script_type": "p2pk",
                              "address": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"}]
    assert tx["block_height"] == 0 and tx["time"] == 1231006505


def test_reingest_blocks_dir_is_noop(tmp_path: Path, btc: Path) -> None:
    bdir = tmp_path / "blocks"
    bdir.mkdir()
    shutil.copy(btc / "nbitcoin" / "blk00000.dat", bdir)
    store = Store.open(tmp_path / "store")
    first = ingest_blocks_dir(store, bdir)
    before = status(store)["chains"][0]
    again = ingest_blocks_dir(store, bdir)
    after = status(store)["chains"][0]
    assert first.blocks == 300
    assert (again.blocks, again.skipped_known, again.transactions, again.batches) == (0, 300, 0, 0)
    keys = ("blocks", "transactions", "inputs", "outputs", "addresses", "batches", "max_height")
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}


def test_flipped_byte_in_a_transaction_fails_the_merkle_check(tmp_path: Path, btc: Path,
                                                              nbitcoin_frames: list[bytes]) -> None:
    data = bytearray((btc / "nbitcoin" / "blk00000.dat").read_bytes())
    frames, _ = walk_frames(bytes(data))
    off, block = frames[170]
    assert block_hash_hex(block[:80]) == "00000000d1145790a8694403d4063f323d499e655c83426834d4ce2f8dd4a2ee"
    # 20 bytes before the end of block 170 lies inside the last output's public key: the block
    # still parses, only the transaction's hash changes
    pos = off + 8 + len(block) - 20
    data[pos] ^= 0x01
    bdir = tmp_path / "blocks"
    bdir.mkdir()
    (bdir / "blk00000.dat").write_bytes(bytes(data))
    store = Store.open(tmp_path / "store")
    with pytest.raises(DataError, match="merkle") as exc:
        ingest_blocks_dir(store, bdir, batch_bytes=8 << 10)
    assert "blk00000.dat" in str(exc.value)
    rows = chain_rows(store)
    hashes = {x for _, x, _ in rows}
    assert block_hash_hex(block[:80]) not in hashes
    # what was committed is a contiguous prefix of the chain, below the corrupt block
    assert [h for h, _, _ in rows] == list(range(len(rows))) and len(rows) <= 170
    assert [x for _, x, _ in rows] == [block_hash_hex(b[:80]) for b in nbitcoin_frames[:len(rows)]]
    assert not [t for t in iter_transactions(store, "btc") if t["txid"] == HAL_TX]


# --- bitcoinj first-100k-blocks.dat -----------------------------------------------------------


def test_bitcoinj_first_100k_agrees_with_nbitcoin(tmp_path: Path, btc: Path,
                                                  nbitcoin_store: Store) -> None:
    path = btc / "bitcoinj" / "first-100k-blocks.dat"
    frames, tail = walk_frames(path.read_bytes())
    # the copy happens to end exactly on a record boundary: 439 complete blocks (0-438)
    assert tail is None and len(frames) == 439
    store = Store.open(tmp_path / "store")
    report = ingest_raw_files(store, [path])
    assert report.blocks == 439 and report.stale == 0
    rows = chain_rows(store)
    assert [h for h, _, _ in rows] == list(range(439))
    # an independent copy of the same blocks: identical hashes and identical export
    assert rows == chain_rows(nbitcoin_store)[:439]
    assert list(iter_transactions(store, "btc")) == list(
        iter_transactions(nbitcoin_store, "btc", to_height=438))


def test_truncated_blk_stream_raises_after_committing_complete_blocks(tmp_path: Path, btc: Path,
                                                                      nbitcoin_store: Store) -> None:
    data = (btc / "bitcoinj" / "first-100k-blocks.dat").read_bytes()
    cut = data[:-100]  # cut inside the last record (block 438)
    frames, tail = walk_frames(cut)
    assert len(frames) == 438 and tail is not None
    path = tmp_path / "cut-100k.dat"
    path.write_bytes(cut)
    store = Store.open(tmp_path / "store")
    with pytest.raises(DataError) as exc:
        ingest_raw_files(store, [path])
    msg = str(exc.value)
    assert str(path) in msg and f"byte offset {tail}" in msg
    st = status(store)["chains"][0]
    assert (st["blocks"], st["min_height"], st["max_height"]) == (438, 0, 437)
    assert chain_rows(store) == chain_rows(nbitcoin_store)[:438]


# --- btcd blocks1-256.bz2 (blocks 1-255, no genesis) ------------------------------------------


def test_btcd_bz2_heights_come_from_the_stored_parent(tmp_path: Path, btc: Path,
                                                      nbitcoin_frames: list[bytes],
                                                      nbitcoin_store: Store) -> None:
    path = btc / "btcd" / "blocks1-256.bz2"
    frames, tail = walk_frames(bz2.decompress(path.read_bytes()))
    assert tail is None and len(frames) == 255
    assert [block_hash_hex(b[:80]) for _, b in frames] == [block_hash_hex(b[:80]) for b in nbitcoin_frames[1:256]]
    genesis = tmp_path / "genesis.blk"
    genesis.write_bytes(nbitcoin_frames[0])  # a bare serialized block, no frame
    store = Store.open(tmp_path / "store")
    assert ingest_raw_files(store, [genesis]).blocks == 1
    report = ingest_raw_files(store, [path])
    assert (report.blocks, report.skipped_known, report.unresolved_inputs) == (255, 0, 0)
    assert chain_rows(store) == chain_rows(nbitcoin_store)[:256]
    assert list(iter_transactions(store, "btc")) == list(
        iter_transactions(nbitcoin_store, "btc", to_height=255))
    again = ingest_raw_files(store, [path])
    assert (again.blocks, again.skipped_known) == (0, 255)
    assert status(store)["chains"][0]["blocks"] == 256


def test_btcd_bz2_without_genesis_has_null_heights(tmp_path: Path, btc: Path,
                                                   nbitcoin_store: Store) -> None:
    path = btc / "btcd" / "blocks1-256.bz2"
    store = Store.open(tmp_path / "store")
    report = ingest_raw_files(store, [path])
    assert (report.blocks, report.stale) == (255, 0)
    # version-1 blocks carry no BIP34 height and the parent is unknown: heights are unknown (null)
    rows = chain_rows(store)
    assert {h for h, _, _ in rows} == {None}
    assert [x for _, x, _ in rows] == [x for _, x, _ in chain_rows(nbitcoin_store)[1:256]]
    st = status(store)["chains"][0]
    assert (st["blocks"], st["min_height"], st["max_height"], st["tip_hash"]) == (255, None, None, None)
    exported = list(iter_transactions(store, "btc"))
    reference = list(iter_transactions(nbitcoin_store, "btc", from_height=1, to_height=255))
    assert len(exported) == len(reference) == st["transactions"]
    assert all(t["block_height"] is None for t in exported)
    # apart from the unknown height, the export is the one of the full chain: every input of
    # blocks 1-255 spends an output of blocks 1-255, so values and fees are known
    assert [{**t, "block_height": None} for t in reference] == exported
    assert st["unresolved_inputs"] == 0
    again = ingest_raw_files(store, [path])
    assert (again.blocks, again.skipped_known) == (0, 255)
    assert status(store)["chains"][0]["transactions"] == st["transactions"]


def _fork_blocks(btc: Path) -> list[bytes]:
    frames, tail = walk_frames(bz2.decompress((btc / "btcd" / "blk_0_to_4.dat.bz2").read_bytes()))
    assert tail is None and len(frames) == 5
    return [b for _, b in frames]


def test_btcd_blk_0_to_4_is_a_side_branch_of_genesis(btc: Path, nbitcoin_frames: list[bytes]) -> None:
    fork = _fork_blocks(btc)
    assert block_hash_hex(fork[0][:80]) == GENESIS
    assert fork[1][4:36] == dsha(fork[0][:80])  # builds on mainnet genesis ...
    assert block_hash_hex(fork[1][:80]) != block_hash_hex(nbitcoin_frames[1][:80])  # ... but not mainnet


def test_longer_mainnet_branch_replaces_stored_side_branch(tmp_path: Path, btc: Path,
                                                           nbitcoin_store: Store) -> None:
    store = Store.open(tmp_path / "store")
    first = ingest_raw_files(store, [btc / "btcd" / "blk_0_to_4.dat.bz2"])
    assert first.blocks == 5
    assert [h for h, _, _ in chain_rows(store)] == [0, 1, 2, 3, 4]
    report = ingest_raw_files(store, [btc / "btcd" / "blocks1-256.bz2"])
    assert report.rolled_back == 4 and report.blocks == 255
    assert any("reorganisation" in w for w in report.warnings)
    assert chain_rows(store) == chain_rows(nbitcoin_store)[:256]
    exported = list(iter_transactions(store, "btc"))
    assert exported == list(iter_transactions(nbitcoin_store, "btc", to_height=255))
    assert status(store)["chains"][0]["unresolved_inputs"] == 0


def test_lower_work_side_branch_does_not_replace_stored_chain(tmp_path: Path, btc: Path,
                                                              nbitcoin_frames: list[bytes]) -> None:
    store = Store.open(tmp_path / "store")
    raw = tmp_path / "mainnet-0-20.dat"
    raw.write_bytes(b"".join(MAINNET_MAGIC + len(b).to_bytes(4, "little") + b for b in nbitcoin_frames[:21]))
    ingest_raw_files(store, [raw])
    before = chain_rows(store)
    report = ingest_raw_files(store, [btc / "btcd" / "blk_0_to_4.dat.bz2"])
    # genesis is known; fork blocks 1-4 have less work than stored 1-20: left out as stale
    assert (report.rolled_back, report.blocks, report.skipped_known, report.stale) == (0, 0, 1, 4)
    assert any("stale" in w for w in report.warnings)
    assert chain_rows(store)[:21] == before  # mainnet 0-20 (more work than the fork) stays
    st = status(store)["chains"][0]
    assert st["max_height"] == 20 and st["tip_hash"] == before[20][1]


def test_shuffled_obfuscated_blocks_dir_with_side_branch(tmp_path: Path, btc: Path,
                                                         nbitcoin_frames: list[bytes],
                                                         nbitcoin_store: Store) -> None:
    """Core writes blocks in arrival order, keeps stale blocks, and since v28 XORs its files with
    xor.dat: blocks 0-599 shuffled, btcd's 4 side-branch blocks mixed in, two obfuscated files."""
    import random

    from fundtrail.chains.bitcoin.params import MAINNET
    from fundtrail.chains.bitcoin.writer import write_blocks_dir

    blocks = nbitcoin_frames[1:] + _fork_blocks(btc)[1:]
    random.Random(5).shuffle(blocks)
    blocks.insert(0, nbitcoin_frames[0])
    key = bytes.fromhex("8a1c42f0e39d7b65")
    bdir = tmp_path / "blocks"
    files = write_blocks_dir(bdir, blocks, MAINNET, max_file_size=80_000, xor_key=key)
    assert len(files) >= 2 and (bdir / "xor.dat").read_bytes() == key
    assert MAINNET_MAGIC not in files[0].read_bytes()[:4]  # really obfuscated
    store = Store.open(tmp_path / "store")
    report = ingest_blocks_dir(store, bdir)
    assert (report.blocks, report.stale, report.rolled_back) == (600, 4, 0)
    assert chain_rows(store) == chain_rows(nbitcoin_store)
    assert list(iter_transactions(store, "btc")) == list(iter_transactions(nbitcoin_store, "btc"))


def test_heights_become_known_when_the_parent_arrives(tmp_path: Path, btc: Path) -> None:
    later, earlier = tmp_path / "b1", tmp_path / "b0"
    later.mkdir()
    earlier.mkdir()
    shutil.copy(btc / "nbitcoin" / "blk00001.dat", later)
    shutil.copy(btc / "nbitcoin" / "blk00000.dat", earlier)
    store = Store.open(tmp_path / "store")
    ingest_blocks_dir(store, later)
    assert status(store)["chains"][0]["max_height"] is None  # version-1 blocks: no BIP34 height
    report = ingest_blocks_dir(store, earlier)
    assert report.heights_filled == 300
    st = status(store)["chains"][0]
    assert (st["blocks"], st["min_height"], st["max_height"]) == (600, 0, 599)
    assert sorted(h for h, _, _ in chain_rows(store)) == list(range(600))
    # every height column agrees with an in-order ingest, and range exports find the blocks
    ordered = Store.open(tmp_path / "ordered")
    ingest_blocks_dir(ordered, earlier)
    ingest_blocks_dir(ordered, later)
    by_txid = {t["txid"]: t for t in iter_transactions(ordered, "btc")}
    got = list(iter_transactions(store, "btc", from_height=300, to_height=599))
    assert len(got) == sum(1 for t in by_txid.values() if t["block_height"] >= 300)
    assert all(t == by_txid[t["txid"]] for t in got)
    with store.query() as con:
        assert con.execute("SELECT count(*) FROM btc_outputs WHERE block_height IS NULL").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM btc_inputs WHERE block_height IS NULL").fetchone()[0] == 0


# --- state rebuilt from the store (lost cache, as after a crash) ---------------------------------


def test_state_rebuilt_from_store_resolves_later_inputs(tmp_path: Path, btc: Path,
                                                        nbitcoin_store: Store) -> None:
    bdir = tmp_path / "blocks"
    bdir.mkdir()
    shutil.copy(btc / "nbitcoin" / "blk00000.dat", bdir)
    store = Store.open(tmp_path / "store")
    ingest_blocks_dir(store, bdir)
    shutil.rmtree(store.root / "cache")  # force the unspent set to be rebuilt with SQL
    shutil.copy(btc / "nbitcoin" / "blk00001.dat", bdir)
    report = ingest_blocks_dir(store, bdir)
    assert (report.blocks, report.skipped_known, report.unresolved_inputs) == (300, 300, 0)
    assert list(iter_transactions(store, "btc")) == list(iter_transactions(nbitcoin_store, "btc"))


def test_late_parent_links_unresolved_inputs(tmp_path: Path, btc: Path, nbitcoin_store: Store) -> None:
    """Blocks 300-599 first (their inputs spending 0-299 unresolved), then 0-299: inputs get linked."""
    later, earlier = tmp_path / "b1", tmp_path / "b0"
    later.mkdir()
    earlier.mkdir()
    shutil.copy(btc / "nbitcoin" / "blk00001.dat", later)
    shutil.copy(btc / "nbitcoin" / "blk00000.dat", earlier)
    store = Store.open(tmp_path / "store")
    r1 = ingest_blocks_dir(store, later)
    assert r1.blocks == 300 and r1.unresolved_inputs > 0
    assert status(store)["chains"][0]["unresolved_inputs"] == r1.unresolved_inputs
    unresolved = [i for t in iter_transactions(store, "btc") for i in t["inputs"] if i["value"] is None]
    assert len(unresolved) == r1.unresolved_inputs and all(i["address"] is None for i in unresolved)
    r2 = ingest_blocks_dir(store, earlier)
    assert r2.linked_inputs == r1.unresolved_inputs
    assert status(store)["chains"][0]["unresolved_inputs"] == 0
    ref = {t["txid"]: t for t in iter_transactions(nbitcoin_store, "btc")}
    got = list(iter_transactions(store, "btc"))
    assert len(got) == len(ref)
    for t in got:  # blocks 300-599 keep null heights (their parent was unknown at ingest)
        assert {**t, "block_height": ref[t["txid"]]["block_height"]} == ref[t["txid"]]
    # and the rebuilt unspent set (after linking) is right: a third run ingests nothing new
    shutil.rmtree(store.root / "cache")
    r3 = ingest_blocks_dir(store, earlier)
    assert (r3.blocks, r3.skipped_known) == (0, 300)


# --- the real CLI -------------------------------------------------------------------------------


def _cli(store: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_")}
    env["FUNDTRAIL_CONFIG"] = str(cwd / "no-settings.toml")
    return subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "--store", str(store), *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_cli_ingest_status_export(tmp_path: Path, btc: Path, nbitcoin_store: Store) -> None:
    bdir = tmp_path / "blocks"
    bdir.mkdir()
    for name in ("blk00000.dat", "blk00001.dat"):
        shutil.copy(btc / "nbitcoin" / name, bdir)
    store = tmp_path / "store"
    res = _cli(store, "ingest", "bitcoin", "--blocks-dir", str(bdir), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["chain"], report["network"], report["blocks"]) == ("btc", "mainnet", 600)
    assert report["transactions"] == 616 and report["unresolved_inputs"] == 0
    res = _cli(store, "status", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)["chains"][0]
    assert (st["min_height"], st["max_height"], st["blocks"]) == (0, 599, 600)
    assert st["transactions"] == report["transactions"]
    res = _cli(store, "export", "transactions", "--from-height", "170", "--to-height", "170", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [t["txid"] for t in lines][1] == HAL_TX
    assert lines == list(iter_transactions(nbitcoin_store, "btc", from_height=170, to_height=170))
    # a corrupt raw file: documented exit code 3 (DataError) and a one-line message naming it
    bad = tmp_path / "cut.dat"
    bad.write_bytes((btc / "bitcoinj" / "first-100k-blocks.dat").read_bytes()[:-100])
    res = _cli(tmp_path / "store2", "ingest", "bitcoin", "--raw", str(bad), cwd=tmp_path)
    assert res.returncode == 3
    assert res.stderr.startswith("fundtrail: error: ") and str(bad) in res.stderr
    assert "Traceback" not in res.stderr
