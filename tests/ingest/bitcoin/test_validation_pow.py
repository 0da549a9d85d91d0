"""Proof of work (issue 13 item 1): every header against its own target, and its target against the
network's difficulty rules where the parent is known, as Bitcoin Core's pow.cpp checks them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.pow import (
    RULES,
    Link,
    decode_compact,
    encode_compact,
    next_bits,
    own_pow_error,
    permitted_transition,
    retarget,
    timewarp_error,
)
from fundtrail.chains.bitcoin.samplechain import build_sample_chain
from fundtrail.cli.main import main
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir, ingest_raw_files
from fundtrail.store import Store

from support import reliability as rs

MAIN = RULES["mainnet"]


# --- Core's own test vectors (src/test/pow_tests.cpp) ------------------------------------------

@pytest.mark.parametrize(("first_time", "last_height", "last_time", "last_bits", "want"), [
    (1261130161, 32255, 1262152739, 0x1D00FFFF, 0x1D00D86A),  # get_next_work
    (1231006505, 2015, 1233061996, 0x1D00FFFF, 0x1D00FFFF),  # get_next_work_pow_limit
    (1279008237, 68543, 1279297671, 0x1C05A3F4, 0x1C0168FD),  # lower_limit_actual
    (1263163443, 46367, 1269211443, 0x1C387F6F, 0x1D00E1FD),  # upper_limit_actual
])
def test_retarget_matches_core(first_time: int, last_height: int, last_time: int, last_bits: int,
                               want: int) -> None:
    first = Link(last_height - 2015, last_bits, first_time)
    last = Link(last_height, last_bits, last_time)
    assert retarget(MAIN, last, first) == want
    assert next_bits(MAIN, last, last_time + 600, lambda h: first if h == first.height else None) == want
    assert permitted_transition(MAIN, last_height + 1, last_bits, want)


def test_compact_encoding_round_trips_and_flags() -> None:
    assert decode_compact(0x1D00FFFF)[0] == 0xFFFF << 208
    assert encode_compact(0xFFFF << 208) == 0x1D00FFFF
    assert decode_compact(0x04923456) == (0x12345600, True, False)  # the sign bit
    assert decode_compact(0xFF123456)[2]  # overflow
    assert encode_compact(0x80) == 0x02008000  # a mantissa with the sign bit set moves a byte


def test_own_target_and_pow_limit() -> None:
    genesis = bytes.fromhex("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")[::-1]
    assert own_pow_error(genesis, 0x1D00FFFF, MAIN, "mainnet") is None
    assert "proof of work fails" in own_pow_error(genesis, 0x1B00FFFF, MAIN, "mainnet")
    assert "limit" in own_pow_error(genesis, 0x207FFFFF, MAIN, "mainnet")
    assert own_pow_error(genesis, 0x207FFFFF, RULES["regtest"], "regtest") is None
    assert "valid target" in own_pow_error(genesis, 0x1D80FFFF, MAIN, "mainnet")


def test_difficulty_rules_per_network() -> None:
    parent = Link(100, 0x1C05A3F4, 1_000_000)
    none = lambda h: None  # noqa: E731
    assert next_bits(MAIN, parent, 1_000_600, none) == 0x1C05A3F4  # no retarget between periods
    assert not permitted_transition(MAIN, 101, 0x1C05A3F4, 0x1D00FFFF)
    assert not permitted_transition(MAIN, 2016, 0x1C05A3F4, 0x1D00FFFF)  # more than 4x easier
    # testnet: 20 minutes late may use the pow limit; otherwise the last real difficulty
    test3 = RULES["testnet"]
    assert next_bits(test3, parent, 1_000_000 + 1201, none) == 0x1D00FFFF
    chain = {99: Link(99, 0x1C05A3F4, 999_000), 100: Link(100, 0x1D00FFFF, 1_000_000)}
    assert next_bits(test3, chain[100], 1_000_100, chain.get) == 0x1C05A3F4
    # signet: mainnet's rules with its own limit; regtest: never retargets
    assert RULES["signet"].limit_bits == 0x1E0377AE
    reg = RULES["regtest"]
    assert next_bits(reg, Link(2015, 0x207FFFFF, 5), 6, none) == 0x207FFFFF
    # testnet4 (BIP94): the period's first block's bits, and the time-warp rule
    t4 = RULES["testnet4"]
    first, last = Link(0, 0x1C05A3F4, 0), Link(2015, 0x1D00FFFF, 1_209_600)
    assert retarget(t4, last, first) == 0x1C05A3F4 and retarget(test3, last, first) == 0x1D00FFFF
    assert timewarp_error(t4, 4032, 10_000, 10_000 - 601) and not timewarp_error(t4, 4032, 10_000, 9_400)


# --- end to end on real blocks -------------------------------------------------------------------

def _heights(store: Path) -> dict[str, int | None]:
    with Store(store).query() as con:
        return {bytes(h)[::-1].hex(): ht for h, ht in con.execute("SELECT hash, height FROM btc_blocks").fetchall()}


def _snapshot(root: Path) -> tuple:
    """Catalog rows and lake files: what must not change when an input is rejected."""
    with Store(root).connect(read_only=True) as con:
        batches = con.execute("SELECT * FROM batches ORDER BY ALL").fetchall()
        index = con.execute("SELECT * FROM block_index ORDER BY ALL").fetchall()
    files = sorted((str(p.relative_to(root)), p.read_bytes()) for p in (root / "lake").rglob("*") if p.is_file())
    return batches, index, files


def test_flipped_nonce_in_block_300_is_refused_and_the_chain_kept(tmp_path: Path, testdata: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    for name in ("blk00000.dat", "blk00001.dat"):
        shutil.copy(testdata / "btc-raw-blocks" / "nbitcoin" / name, blocks / name)
    blk1 = blocks / "blk00001.dat"
    data = bytearray(blk1.read_bytes())
    good300 = bytes(data[8:8 + int.from_bytes(data[4:8], "little")])
    data[8 + 76] ^= 0x01  # block 300 is the first record of blk00001.dat; its nonce's lowest bit
    blk1.write_bytes(data)
    bad_hash = w.display_hex(w.block_hash(bytes(data[8:88])))
    store = tmp_path / "s"
    code = main(["--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(blocks)])
    out, err = capsys.readouterr()
    assert code == 3 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{blk1} at byte offset 0: block {bad_hash}: hash is above the target" in err
    heights = _heights(store)
    assert bad_hash not in heights and len(heights) == 599
    known = [h for h in heights.values() if h is not None]
    assert sorted(known) == list(range(300))  # the tip is 299, not the altered block
    # 301..599 are stored; their heights come back once a good copy of block 300 arrives
    raw300 = tmp_path / "block300.raw"
    raw300.write_bytes(good300)
    report = ingest_raw_files(Store.open(store), [raw300])
    assert report.blocks == 1 and report.heights_filled == 299
    assert sorted(_heights(store).values()) == list(range(600))


def test_rejected_header_leaves_the_store_as_it_was(tmp_path: Path, testdata: Path) -> None:
    blk = (testdata / "btc-raw-blocks" / "nbitcoin" / "blk00001.dat").read_bytes()
    store = tmp_path / "s"
    rs_blocks = tmp_path / "b"
    rs_blocks.mkdir()
    shutil.copy(testdata / "btc-raw-blocks" / "nbitcoin" / "blk00000.dat", rs_blocks)
    ingest_blocks_dir(Store.open(store), rs_blocks)
    before = _snapshot(store)
    raw = bytearray(blk[8:8 + int.from_bytes(blk[4:8], "little")])
    raw[76] ^= 0x80
    path = tmp_path / "bad300.raw"
    path.write_bytes(raw)
    with pytest.raises(DataError, match="proof of work fails"):
        ingest_raw_files(Store.open(store), [path])
    assert _snapshot(store) == before


def test_wrong_difficulty_is_refused_with_its_descendants(tmp_path: Path) -> None:
    """A regtest block at a harder-than-required target has valid proof of work of its own but
    breaks the rule (regtest never retargets): it and its child are refused, the rest stored."""
    chain = build_sample_chain(seed=5, n_blocks=12, stale_branch=False).blocks
    header = w.block_header(0x20000000, w.block_hash(chain[7]), chain[8][36:68],
                            int.from_bytes(chain[8][68:72], "little"), 0x207FFFF0, 0)
    nonce = next(n for n in range(1 << 16) if w.check_pow(header[:76] + n.to_bytes(4, "little")))
    bad = header[:76] + nonce.to_bytes(4, "little") + chain[8][80:]
    child = w.build_block(w.block_hash(bad), [w.coinbase_tx(9, [w.TxOut(50 * w.COIN, w.p2wpkh(b"\x09" * 20))])],
                          1_700_009_000)
    stream = rs.blk_stream(tmp_path / "s.dat", chain[:8] + [bad, child])
    store = Store.open(tmp_path / "store")
    with pytest.raises(DataError) as info:
        ingest_raw_files(store, [stream])
    msg = info.value.message
    assert "do not match the difficulty rules of regtest (expected 0x207fffff)" in msg
    assert "descends from a block that failed validation" in info.value.report.errors[1]  # type: ignore[attr-defined]
    assert info.value.report.blocks == 8  # type: ignore[attr-defined]


def test_simulator_and_sample_chain_carry_valid_regtest_pow() -> None:
    from fundtrail.chains.bitcoin.header import Header

    for raw in build_sample_chain(seed=3, n_blocks=40).blocks:
        h = Header.parse(raw[:80])
        assert own_pow_error(h.hash, h.bits, RULES["regtest"], "regtest") is None
