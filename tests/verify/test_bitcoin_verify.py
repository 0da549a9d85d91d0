"""The evidence verifier's Bitcoin primitives against real mainnet data.

Known answers (the genesis hash, the first person-to-person payment in block 170), every merkle root of
blocks 0-599 and of busy and segwit-era blocks recomputed from the raw transactions, every inclusion
branch of multi-transaction blocks, the wtxids checked against the witness commitment the miners wrote,
and the project's own (numpy/numba) parser as a second, independent oracle. Then tampering: one flipped
byte in a transaction, a header or a branch is caught; bad lengths name their offset.
"""

from __future__ import annotations

import bz2
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fundtrail.verify
from fundtrail.chains.bitcoin import header as oracle_header
from fundtrail.chains.bitcoin.parser import parse_batch
from fundtrail.chains.bitcoin.txid import compute_txids, merkle_roots
from fundtrail.verify import (
    VerifyError,
    bits_to_target,
    check_chain,
    double_sha256,
    header_hash,
    meets_pow,
    merkle_branch,
    merkle_root,
    merkle_root_from_branch,
    parse_header,
    parse_tx,
    split_block,
    txid,
    wtxid,
)
from fundtrail.verify.bitcoin import display, internal

MAGIC = bytes.fromhex("f9beb4d9")
GENESIS = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
BLOCK_170_TX = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"
SEGWIT_540107 = "block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk"
COMMITMENT = bytes.fromhex("6a24aa21a9ed")  # OP_RETURN, push 36, BIP141 commitment header


def blk_records(data: bytes) -> list[bytes]:
    """Blocks from a Bitcoin Core blk*.dat stream (magic, length, block)."""
    blocks, pos = [], 0
    while pos + 8 <= len(data) and data[pos:pos + 4] == MAGIC:
        n = int.from_bytes(data[pos + 4:pos + 8], "little")
        blocks.append(data[pos + 8:pos + 8 + n])
        pos += 8 + n
    return blocks


@pytest.fixture(scope="module")
def raw(testdata: Path) -> Path:
    return testdata / "btc-raw-blocks"


@pytest.fixture(scope="module")
def first_600(raw: Path) -> list[bytes]:
    blocks = [b for f in ("blk00000.dat", "blk00001.dat") for b in blk_records((raw / "nbitcoin" / f).read_bytes())]
    assert len(blocks) == 600
    return blocks


def busy_blocks(raw: Path) -> dict[str, bytes]:
    """Real blocks with many transactions: even and odd counts, pre-segwit and segwit era."""
    return {
        "169482": (raw / "bitcoinj" / "block169482.dat").read_bytes(),
        "227835": (raw / "bitcoinj" / "block227835.dat").read_bytes(),
        "277647": blk_records(bz2.decompress((raw / "btcd" / "277647.dat.bz2").read_bytes()))[0],
        "540107": (raw / "btcd" / SEGWIT_540107).read_bytes(),
        "951658": bytes.fromhex((raw / "electrumx" / "block951658.hex").read_text().strip()),
    }


# -- known answers ---------------------------------------------------------------------------------

def test_genesis_header_hash_and_fields(first_600: list[bytes]) -> None:
    header, txs = split_block(first_600[0])
    assert header_hash(header) == GENESIS
    h = parse_header(header)
    assert (h.version, h.time, h.bits, h.nonce) == (1, 1231006505, 0x1D00FFFF, 2083236893)
    assert h.prev_hash == b"\x00" * 32
    assert display(h.merkle_root) == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    assert txid(txs[0]) == display(h.merkle_root)  # one transaction: the root is its txid


def test_block_170_payment_recomputed_from_its_bytes(first_600: list[bytes]) -> None:
    header, txs = split_block(first_600[170])
    assert len(txs) == 2 and txid(txs[1]) == BLOCK_170_TX
    tx = parse_tx(txs[1])
    assert not tx.segwit and wtxid(txs[1]) == BLOCK_170_TX
    assert display(tx.inputs[0].prev_txid) == "0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9"
    assert [o.value for o in tx.outputs] == [10 * 10**8, 40 * 10**8]
    branch = merkle_branch([parse_tx(t).txid for t in txs], 1)
    assert merkle_root_from_branch(internal(BLOCK_170_TX), 1, branch, n_tx=2) == parse_header(header).merkle_root


def test_blocks_0_to_599_merkle_roots_links_and_proof_of_work(first_600: list[bytes]) -> None:
    headers = []
    for height, block in enumerate(first_600):
        header, txs = split_block(block, f"block {height}")
        assert merkle_root([parse_tx(t).txid for t in txs]) == parse_header(header).merkle_root, height
        assert meets_pow(header), height
        headers.append(header)
    assert check_chain(headers) == []


def test_every_branch_of_busy_blocks_proves_inclusion(raw: Path, first_600: list[bytes]) -> None:
    blocks = busy_blocks(raw)
    counts = {}
    for name, block in blocks.items():
        header, txs = split_block(block, f"block {name}")
        ids = [parse_tx(t).txid for t in txs]
        root = parse_header(header).merkle_root
        assert merkle_root(ids) == root and meets_pow(header), name
        step = 1 if len(ids) < 300 else 7  # every branch of the smaller blocks, a sample of the big ones
        for i in [*range(0, len(ids), step), len(ids) - 1]:
            assert merkle_root_from_branch(ids[i], i, merkle_branch(ids, i), n_tx=len(ids)) == root, (name, i)
        counts[name] = len(ids)
    assert counts == {"169482": 14, "227835": 122, "277647": 213, "540107": 230, "951658": 374}


def witness_commitment_holds(block: bytes) -> bool:
    """BIP141: the coinbase commits to the merkle root of the wtxids (coinbase's taken as zero)."""
    _, txs = split_block(block)
    parsed = [parse_tx(t) for t in txs]
    root = merkle_root([b"\x00" * 32] + [t.wtxid for t in parsed[1:]])
    reserved = parsed[0].inputs[0].witness[0]
    scripts = [o.script for o in parsed[0].outputs if o.script[:6] == COMMITMENT and len(o.script) >= 38]
    return scripts[-1][6:38] == double_sha256(root + reserved)


def test_segwit_txids_and_wtxids_match_what_the_miners_committed(raw: Path) -> None:
    for name in ("540107", "951658"):
        block = busy_blocks(raw)[name]
        assert witness_commitment_holds(block), name
        _, txs = split_block(block)
        segwit = [parse_tx(t) for t in txs if parse_tx(t).segwit]
        assert len(segwit) > 100 and all(t.txid != t.wtxid for t in segwit)
        flipped = bytearray(block)
        pos = block.index(segwit[-1].inputs[0].witness[-1])  # a witness byte: txid unchanged, wtxid not
        flipped[pos] ^= 1
        assert not witness_commitment_holds(bytes(flipped)), name


def test_a_standalone_segwit_transaction(raw: Path, first_600: list[bytes]) -> None:
    hexed = (raw / "python-bitcoin-blockchain-parser" / "segwit.txt").read_text().strip()
    tx_raw = bytes.fromhex(hexed)
    tx = parse_tx(tx_raw)
    assert tx.segwit and len(tx.inputs) == 1 and len(tx.outputs) == 4 and len(tx.inputs[0].witness) == 4
    assert wtxid(tx_raw) == display(double_sha256(tx_raw))
    coinbase = split_block(first_600[0])[1][0]  # the project's parser, as oracle, wants a block
    pb = parse_batch([b"\x00" * 80 + b"\x02" + coinbase + tx_raw], ["segwit.txt"])
    assert txid(tx_raw) == display(bytes(compute_txids(pb)[1])) != wtxid(tx_raw)


def test_agrees_with_the_project_parser(raw: Path, first_600: list[bytes]) -> None:
    blocks = [*first_600, *busy_blocks(raw).values()]
    pb = parse_batch(blocks, [str(i) for i in range(len(blocks))])
    ids = compute_txids(pb)
    roots, _ = merkle_roots(pb, ids)
    n = 0
    for b, block in enumerate(blocks):
        header, txs = split_block(block)
        theirs = oracle_header.Header.parse(header)
        assert header_hash(header) == theirs.hash_hex
        assert bits_to_target(theirs.bits) == oracle_header.target(theirs.bits)
        for t in txs:
            tx = parse_tx(t)
            assert tx.txid == bytes(ids[n])
            assert (tx.version, tx.locktime, tx.segwit) == (pb.tx_version[n], pb.tx_locktime[n], pb.tx_segwit[n])
            first = int(pb.tx_first_out[n])
            assert [o.value for o in tx.outputs] == pb.out_value[first:first + len(tx.outputs)].tolist()
            assert len(tx.inputs) == pb.tx_nin[n] and len(tx.outputs) == pb.tx_nout[n]
            n += 1
        assert parse_header(header).merkle_root == bytes(roots[b])
    assert n == pb.n_tx


# -- tampering -------------------------------------------------------------------------------------

def flip(data: bytes, pos: int) -> bytes:
    out = bytearray(data)
    out[pos] ^= 0x01
    return bytes(out)


def test_a_flipped_byte_in_a_transaction_breaks_inclusion(first_600: list[bytes]) -> None:
    header, txs = split_block(first_600[170])
    root = parse_header(header).merkle_root
    ids = [parse_tx(t).txid for t in txs]
    branch = merkle_branch(ids, 1)
    for pos in (0, 50, len(txs[1]) - 60, len(txs[1]) - 1):  # version, a signature, an amount's script, locktime
        bad = flip(txs[1], pos)
        assert txid(bad) != BLOCK_170_TX
        assert merkle_root_from_branch(parse_tx(bad).txid, 1, branch, n_tx=2) != root


def test_a_flipped_byte_in_a_header_breaks_pow_and_the_link(first_600: list[bytes]) -> None:
    headers = [split_block(b)[0] for b in first_600[:10]]
    bad = flip(headers[5], 79)  # the nonce
    assert not meets_pow(bad)
    assert check_chain([*headers[:5], bad, *headers[6:]]) == [
        f"header 6: previous hash {header_hash(headers[5])} is not header 5's hash {header_hash(bad)}"]
    moved = flip(headers[5], 4)  # the previous-hash field itself
    assert check_chain([*headers[:5], moved, *headers[6:]])[0].startswith("header 5: previous hash ")
    assert check_chain([headers[0], headers[1][:79]]) == ["header 1: 79 bytes, expected 80"]


def test_a_flipped_byte_in_a_branch_or_a_wrong_index_is_caught(raw: Path) -> None:
    header, txs = split_block(busy_blocks(raw)["277647"])
    ids = [parse_tx(t).txid for t in txs]
    root = parse_header(header).merkle_root
    branch = merkle_branch(ids, 100)
    for level in range(len(branch)):
        bad = [flip(h, 7) if i == level else h for i, h in enumerate(branch)]
        assert merkle_root_from_branch(ids[100], 100, bad, n_tx=213) != root
    assert merkle_root_from_branch(ids[100], 101, branch, n_tx=213) != root
    with pytest.raises(VerifyError, match="index 300 does not fit a branch of 8 hashes"):
        merkle_root_from_branch(ids[100], 300, branch)


def test_the_duplicated_last_hash_is_no_phantom_transaction() -> None:
    ids = [double_sha256(bytes([i])) for i in range(3)]
    root, branch = merkle_root(ids), merkle_branch(ids, 2)
    assert branch[0] == ids[2]  # an odd level pairs the last hash with itself
    assert merkle_root_from_branch(ids[2], 3, branch) == root  # position 3 "proves" without the count
    with pytest.raises(VerifyError, match="index 3 with 2 hashes does not fit 3 transactions"):
        merkle_root_from_branch(ids[2], 3, branch, n_tx=3)
    with pytest.raises(VerifyError, match="index 3 outside 0..2"):
        merkle_branch(ids, 3)
    with pytest.raises(VerifyError, match="expected 2 hashes"):
        merkle_root_from_branch(ids[0], 0, branch[:1], n_tx=3)


# -- strict parsing --------------------------------------------------------------------------------

def test_truncated_and_trailing_bytes_name_the_offset(first_600: list[bytes]) -> None:
    tx = split_block(first_600[170])[1][1]
    n = len(tx)
    with pytest.raises(VerifyError, match=f"^transaction: truncated at byte {n - 4}: locktime needs 4 bytes, 3 left$"):
        parse_tx(tx[:-1])
    with pytest.raises(VerifyError, match=r"^transaction: truncated at byte 5: input 0 previous txid needs 32"):
        parse_tx(tx[:20])
    with pytest.raises(VerifyError, match=f"^transaction: 1 trailing bytes at byte {n}$"):
        parse_tx(tx + b"\x00")
    with pytest.raises(VerifyError, match=f"^block: 2 trailing bytes at byte {len(first_600[170])}$"):
        split_block(first_600[170] + b"\x00\x00")
    with pytest.raises(VerifyError, match="^block transaction 1: truncated at byte"):
        split_block(first_600[170][:-10])
    with pytest.raises(VerifyError, match="^block header: 79 bytes, expected 80$"):
        parse_header(first_600[0][:79])


def test_malformed_encodings_are_refused(first_600: list[bytes]) -> None:
    tx = split_block(first_600[170])[1][1]
    noncanonical = tx[:4] + b"\xfd\x01\x00" + tx[5:]  # input count 1 written in three bytes
    with pytest.raises(VerifyError, match="non-canonical length at byte 4 \\(input count\\)"):
        parse_tx(noncanonical)
    with pytest.raises(VerifyError, match="unknown segwit flag 2 at byte 5"):
        parse_tx(tx[:4] + b"\x00\x02" + tx[4:])
    empty_witness = tx[:4] + b"\x00\x01" + tx[4:-4] + b"\x00" + tx[-4:]
    with pytest.raises(VerifyError, match="segwit marker but every witness is empty"):
        parse_tx(empty_witness)


def test_compact_targets_known_answers() -> None:
    # Bitcoin Core's arith_uint256 SetCompact test vectors, and the genesis target.
    assert bits_to_target(0x1D00FFFF) == 0xFFFF << 208
    assert bits_to_target(0x01003456) == 0
    assert bits_to_target(0x01123456) == 0x12
    assert bits_to_target(0x02123456) == 0x1234
    assert bits_to_target(0x05009234) == 0x92340000
    assert bits_to_target(0x20123456) == 0x123456 << 232
    with pytest.raises(VerifyError, match="bits 0x04923456: negative compact target"):
        bits_to_target(0x04923456)
    with pytest.raises(VerifyError, match="bits 0xff123456: compact target overflows 256 bits"):
        bits_to_target(0xFF123456)


def test_an_easy_target_does_not_pass_as_mainnet_work(first_600: list[bytes]) -> None:
    base = bytearray(split_block(first_600[1])[0])
    base[72:76] = (0x207FFFFF).to_bytes(4, "little")  # regtest's target: half of all hashes meet it
    headers = [bytes(base[:76]) + n.to_bytes(4, "little") for n in range(64)]
    easy = next(h for h in headers if meets_pow(h, limit=bits_to_target(0x207FFFFF)))
    assert not meets_pow(easy)  # above mainnet's limit
    base[72:76] = (0x04923456).to_bytes(4, "little")
    assert not meets_pow(bytes(base))  # a negative target never passes


def test_the_verifier_runs_alone_on_the_bare_standard_library(tmp_path: Path, first_600: list[bytes]) -> None:
    """Copied out of the project and run without site-packages (no numpy, no fundtrail): still works."""
    shutil.copytree(Path(fundtrail.verify.__file__).parent, tmp_path / "verify",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import verify; "
            "print(verify.header_hash(bytes.fromhex(sys.argv[1])), 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, first_600[0][:80].hex()],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [GENESIS, "False"]
