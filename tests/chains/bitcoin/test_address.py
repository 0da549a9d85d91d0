"""Known-answer and cross-check tests for Bitcoin hashing, Base58Check, bech32(m) and addresses.

Vectors are typed in from BIP173, BIP350, and Bitcoin Core's src/test/data (base58_encode_decode,
key_io_valid). Random payloads are cross-checked against two independent libraries (embit,
bip-utils); real scripts against bitcoin-etl's expected output and embit on real blocks.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

import bip_utils
import pytest
from embit import compact
from embit.networks import NETWORKS as EMBIT_NETWORKS
from embit.script import Script, address_to_scriptpubkey
from embit.transaction import Transaction

from fundtrail.chains.bitcoin.address import (
    Bech32Variant,
    address_for_script,
    base58_decode,
    base58_encode,
    base58check_decode,
    base58check_encode,
    bech32_decode,
    bech32_encode,
    classify_script,
    guess_network,
    parse_address,
    render_address,
    script_for_address,
    segwit_decode,
    segwit_encode,
)
from fundtrail.chains.bitcoin.hashing import hash160, ripemd160, ripemd160_pure, sha256d
from fundtrail.chains.bitcoin.params import MAINNET, REGTEST, SIGNET, TESTNET, TESTNET4, Network
from fundtrail.chains.bitcoin.script import ScriptType as T
from fundtrail.errors import UsageError

GENESIS_SCRIPT = bytes.fromhex(
    "4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51"
    "ec112de5c384df7ba0b8d578a4c702b6bf11d5fac"
)
HRP_NETWORK = {"bc": MAINNET, "tb": TESTNET, "bcrt": REGTEST}

# --- hashing -----------------------------------------------------------------------------------

RIPEMD160_VECTORS = [  # from the RIPEMD-160 specification page (Bosselaers)
    (b"", "9c1185a5c5e9fc54612808977ee8f548b2258d31"),
    (b"a", "0bdc9d2d256b3ee9daae347be6f4dc835a467ffe"),
    (b"abc", "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"),
    (b"message digest", "5d0689ef49d2fae572b881b123a85ffa21595f36"),
    (b"abcdefghijklmnopqrstuvwxyz", "f71c27109c692c1b56bbdceb5b9d2865b3708dbc"),
    (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "12a053384a9c0c88e405a06c27dcf49ada62eb2b"),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "b0e20b6e3116640286ed3a87a5713079b21f5189"),
    (b"1234567890" * 8, "9b752e45573d4b39f4dbd3323cab82bf63326bfb"),
    (b"a" * 1_000_000, "52783243c1697bdbe16d37f97f68f08325dc1528"),
]


@pytest.mark.parametrize(("message", "digest"), RIPEMD160_VECTORS, ids=range(len(RIPEMD160_VECTORS)))
def test_ripemd160_vectors(message: bytes, digest: str) -> None:
    assert ripemd160_pure(message).hex() == digest
    assert ripemd160(message).hex() == digest


def test_ripemd160_pure_matches_hashlib_on_all_padding_lengths() -> None:
    try:
        hashlib.new("ripemd160")
    except ValueError:
        pytest.skip("this OpenSSL has no ripemd160; the fixed vectors cover the fallback")
    rng = random.Random(160)
    for n in range(300):
        data = rng.randbytes(n)
        assert ripemd160_pure(data) == hashlib.new("ripemd160", data).digest()


def test_sha256d_and_hash160() -> None:
    assert sha256d(b"").hex() == "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
    # hash160 of the genesis coinbase key, the payload of 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa
    assert hash160(GENESIS_SCRIPT[1:66]).hex() == "62e907b15cbf27d5425399ebf6f0fb50ebb88f18"


# --- Base58 ------------------------------------------------------------------------------------

BASE58_VECTORS = [  # Bitcoin Core src/test/data/base58_encode_decode.json
    ("", ""),
    ("61", "2g"),
    ("626262", "a3gV"),
    ("636363", "aPEr"),
    ("73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"),
    ("00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"),
    ("516b6fcd0f", "ABnLTmg"),
    ("bf4f89001e670274dd", "3SEo3LWLoPntC"),
    ("572e4794", "3EFU7m"),
    ("ecac89cad93923c02321", "EJDM8drfXA6uyA"),
    ("10c8511e", "Rt5zm"),
    ("00000000000000000000", "1111111111"),
    ("00" * 40, "1" * 40),
    ("00" * 39 + "01", "1" * 39 + "2"),
    ("00" * 86 + "ec39d04c37e71e5d591881f6", "1" * 86 + "5TYzLYH1udmLdzCLM"),
    ("000111d38e5fc9071ffcd20b4a763cc9ae4f252bb4e48fd66a835e252ada93ff480d6dd43dc62a641155a5",
     "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"),
    (bytes(range(256)).hex(),
     "1cWB5HCBdLjAuqGGReWE3R3CguuwSjw6RHn39s2yuDRTS5NsBgNiFpWgAnEx6VQi8csexkgYw3mdYrMHr8x9i7aEwP8k"
     "Z7vccXWqKDvGv3u1GxFKPuAkn8JCPPGDMf3vMMnbzm6Nh9zh1gcNsMvH3ZNLmP5fSG6DGbbi2tuwMWPthr4boWwCxf7ew"
     "SgNQeacyozhKDDQQ1qL5fQFUW52QKUZDZ5fw3KXNQJMcNTcaB723LchjeKun7MuGW5qyCBZYzA1KjofN1gYBV3NqyhQJ3"
     "Ns746GNuf9N2pQPmHz4xpnSrrfCvy6TVVz5d4PdrjeshsWQwpZsZGzvbdAdN8MKV5QsBDY"),
    ("271F359E", "zzzzy"),
    ("271F359F", "zzzzz"),
    ("271F35A0", "211111"),
    ("271F35A1", "211112"),
]


@pytest.mark.parametrize(("hexdata", "text"), BASE58_VECTORS, ids=range(len(BASE58_VECTORS)))
def test_base58_vectors(hexdata: str, text: str) -> None:
    assert base58_encode(bytes.fromhex(hexdata)) == text
    assert base58_decode(text) == bytes.fromhex(hexdata)


@pytest.mark.parametrize("bad", ["0", "O", "I", "l", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0", " ", "é"])
def test_base58_rejects_characters_outside_alphabet(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid Base58 character"):
        base58_decode(bad)


def test_base58check_checksum() -> None:
    payload = bytes.fromhex("0062e907b15cbf27d5425399ebf6f0fb50ebb88f18")
    assert base58check_encode(payload) == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    assert base58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa") == payload
    with pytest.raises(UsageError, match="bad checksum"):
        base58check_decode("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb")
    with pytest.raises(UsageError, match="too short"):
        base58check_decode("2g")


# --- bech32 / bech32m strings (BIP173, BIP350) --------------------------------------------------

BECH32_VALID = [  # BIP173
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]
BECH32M_VALID = [  # BIP350
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]
BECH32_INVALID = [  # (string, fragment of our message); BIP173 then BIP350, reasons as given there
    ("\x201nwldj5", "out of range"),  # HRP character out of range
    ("\x7f1axkwrx", "out of range"),
    ("\x801eym55h", "out of range"),
    ("an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
     "too long"),  # overall max length exceeded
    ("pzry9x0s0muk", "no separator"),
    ("1pzry9x0s0muk", "empty human-readable part"),
    ("x1b4n0q5v", "invalid data character"),
    ("li1dgmt3", "checksum too short"),
    ("de1lg7wt\xff", "out of range"),  # invalid character in checksum
    ("A1G7SGD8", "bad checksum"),  # checksum calculated with uppercase form of HRP
    ("10a06t8", "empty human-readable part"),
    ("1qzzfhee", "empty human-readable part"),
    ("\x201xj0phk", "out of range"),
    ("\x7f1g6xzxy", "out of range"),
    ("\x801vctc34", "out of range"),
    ("an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
     "too long"),
    ("qyrz8wqd2c9m", "no separator"),
    ("1qyrz8wqd2c9m", "empty human-readable part"),
    ("y1b0jsk6g", "invalid data character"),
    ("lt1igcx5c0", "invalid data character"),
    ("in1muywd", "checksum too short"),
    ("mm1crxm3i", "invalid data character"),  # invalid character in checksum
    ("au1s5cgom", "invalid data character"),
    ("M1VUXWEZ", "bad checksum"),
    ("16plkw9", "empty human-readable part"),
    ("1p2gdwpf", "empty human-readable part"),
]


@pytest.mark.parametrize(
    ("text", "variant"),
    [(s, Bech32Variant.BECH32) for s in BECH32_VALID] + [(s, Bech32Variant.BECH32M) for s in BECH32M_VALID],
)
def test_bech32_valid_strings(text: str, variant: Bech32Variant) -> None:
    hrp, data, got = bech32_decode(text)
    assert got is variant  # "no string is both valid bech32 and bech32m": the other variant fails
    assert bech32_encode(hrp, data, variant) == text.lower()
    # one flipped data character always breaks the checksum
    pos = text.rfind("1") + 1
    flipped = text[:pos] + ("p" if text[pos].lower() == "q" else "q") + text[pos + 1:]
    with pytest.raises(UsageError):
        bech32_decode(flipped.lower())


@pytest.mark.parametrize(("text", "reason"), BECH32_INVALID, ids=range(len(BECH32_INVALID)))
def test_bech32_invalid_strings(text: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        bech32_decode(text)


# --- segwit addresses (BIP173, BIP350) ---------------------------------------------------------

SEGWIT_VALID = [  # (address, scriptPubKey hex); BIP173 v0 entries, then BIP350
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
     "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"),
    ("tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
     "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"),
    ("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
     "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6"),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    ("tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
     "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
     "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
]
SEGWIT_SUPERSEDED = [  # BIP173's v1+ examples use bech32; BIP350 makes them invalid
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
    "BC1SW50QA3JX3S",
    "bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj",
]
SEGWIT_INVALID = [  # (address, fragment of our message); BIP173 then BIP350
    ("tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", "human-readable part"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "bad checksum"),
    ("BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", "invalid witness version"),
    ("bc1rw5uspcuh", "must be 2..40"),
    ("bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",
     "must be 2..40"),
    ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "must be 20 or 32"),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7", "mixed case"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", "more than 4 padding bits"),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv", "non-zero padding"),
    ("bc1gmk9yu", "empty data section"),
    ("tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", "human-readable part"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "needs bech32m"),
    ("tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf", "needs bech32m"),
    ("BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", "needs bech32m"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "not bech32m"),
    ("tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47", "not bech32m"),
    ("bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", "invalid data character"),
    ("BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", "invalid witness version"),
    ("bc1pw5dgrnzv", "must be 2..40"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
     "must be 2..40"),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq", "mixed case"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", "more than 4 padding bits"),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j", "non-zero padding"),
    ("bc1gmk9yu", "empty data section"),
]


@pytest.mark.parametrize(("address", "spk_hex"), SEGWIT_VALID, ids=range(len(SEGWIT_VALID)))
def test_segwit_valid_addresses(address: str, spk_hex: str) -> None:
    hrp = address.lower()[:2]
    net = HRP_NETWORK[hrp]
    spk = bytes.fromhex(spk_hex)
    version, program = segwit_decode(hrp, address)
    assert bytes((version + 0x50 if version else 0, len(program))) + program == spk
    assert segwit_encode(hrp, version, program) == address.lower()
    stype, payload = parse_address(address, net)
    assert classify_script(spk) == (stype, payload)
    assert script_for_address(stype, payload) == spk
    assert render_address(stype, payload, net) == address.lower()
    assert bip_utils.SegwitBech32Decoder.Decode(hrp, address.lower()) == (version, program)


@pytest.mark.parametrize("address", SEGWIT_SUPERSEDED)
def test_bip173_v1_plus_addresses_are_invalid_under_bip350(address: str) -> None:
    assert bech32_decode(address)[2] is Bech32Variant.BECH32
    with pytest.raises(UsageError, match="needs bech32m"):
        segwit_decode("bc", address)
    with pytest.raises(UsageError, match="needs bech32m"):
        parse_address(address, MAINNET)


@pytest.mark.parametrize(("address", "reason"), SEGWIT_INVALID, ids=range(len(SEGWIT_INVALID)))
def test_segwit_invalid_addresses(address: str, reason: str) -> None:
    own_hrp = address[: address.rfind("1")].lower()
    with pytest.raises(UsageError, match=reason):
        segwit_decode(own_hrp if own_hrp in HRP_NETWORK else "bc", address)
    for hrp, net in HRP_NETWORK.items():
        with pytest.raises(UsageError):
            segwit_decode(hrp, address)
        with pytest.raises(UsageError, match="invalid Bitcoin address"):
            parse_address(address, net)


@pytest.mark.parametrize("groups", [9, 17, 25, 33, 41, 49, 57])
def test_segwit_rejects_five_padding_bits(groups: int) -> None:
    # 5*groups % 8 == 5: a whole spare 5-bit group, which BIP173 forbids even when it is zero
    text = bech32_encode("bc", [1] + [0] * groups, Bech32Variant.BECH32M)
    with pytest.raises(UsageError, match="more than 4 padding bits"):
        segwit_decode("bc", text)
    shorter = bech32_encode("bc", [1] + [0] * (groups - 1), Bech32Variant.BECH32M)
    assert segwit_decode("bc", shorter) == (1, bytes(5 * (groups - 1) // 8))


def test_segwit_encode_rejects_invalid_programs() -> None:
    for version, size in [(0, 21), (0, 2), (1, 1), (1, 41), (17, 20), (-1, 20)]:
        with pytest.raises(ValueError):
            segwit_encode("bc", version, bytes(size))


# --- classify_script ---------------------------------------------------------------------------

KEY33 = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
KEY65 = GENESIS_SCRIPT[1:66]
H20, H32 = bytes(range(1, 21)), bytes(range(1, 33))


def _ms(m: int, keys: list[bytes], n: int | None = None) -> bytes:
    """OP_m <keys> OP_n OP_CHECKMULTISIG with direct pushes."""
    body = b"".join(bytes((len(k),)) + k for k in keys)
    return bytes((0x50 + m,)) + body + bytes((0x50 + (len(keys) if n is None else n), 0xAE))


CLASSIFY_CASES = [  # (script, expected type, expected payload; None means "the whole script")
    (b"\x76\xa9\x14" + H20 + b"\x88\xac", T.P2PKH, H20),
    (b"\xa9\x14" + H20 + b"\x87", T.P2SH, H20),
    (b"\x00\x14" + H20, T.P2WPKH, H20),
    (b"\x00\x20" + H32, T.P2WSH, H32),
    (b"\x51\x20" + H32, T.P2TR, H32),
    (bytes.fromhex("51024e73"), T.P2A, b"\x4e\x73"),
    (bytes.fromhex("51024e74"), T.WITNESS_UNKNOWN, b"\x01\x4e\x74"),
    (bytes.fromhex("5103aabbcc"), T.WITNESS_UNKNOWN, b"\x01\xaa\xbb\xcc"),
    (b"\x51\x14" + H20, T.WITNESS_UNKNOWN, b"\x01" + H20),  # v1 but not 32 bytes: not P2TR
    (b"\x60\x28" + bytes(40), T.WITNESS_UNKNOWN, b"\x10" + bytes(40)),
    (b"\x52\x02\x4e\x73", T.WITNESS_UNKNOWN, b"\x02\x4e\x73"),  # anchor program, but v2
    (b"\x00\x10" + bytes(16), T.NONSTANDARD, None),  # v0 must be 20 or 32 bytes
    (b"\x00\x02\x4e\x73", T.NONSTANDARD, None),
    (b"\x51\x01\xaa", T.NONSTANDARD, None),  # program of 1 byte
    (b"\x51\x29" + bytes(41), T.NONSTANDARD, None),  # program of 41 bytes
    (b"\x51\x4c\x02\x4e\x73", T.NONSTANDARD, None),  # OP_PUSHDATA1: not a direct push
    (b"\x51\x20" + H32 + b"\x00", T.NONSTANDARD, None),  # trailing byte
    (b"\x4f\x02\x4e\x73", T.NONSTANDARD, None),  # OP_1NEGATE is no witness version
    (b"\x50\x02\x4e\x73", T.NONSTANDARD, None),  # OP_RESERVED neither
    (b"\x76\xa9\x14" + H20 + b"\x88\xac\x00", T.NONSTANDARD, None),
    (b"\x76\xa9\x14" + H20 + b"\x88\xad", T.NONSTANDARD, None),
    (b"\xa9\x14" + H20 + b"\x88", T.NONSTANDARD, None),
    (b"", T.NONSTANDARD, b""),
    (b"\x6a", T.OP_RETURN, b""),
    (b"\x6a\x04abcd", T.OP_RETURN, b""),
    (b"\x6a\xff\xff", T.OP_RETURN, b""),  # any script starting with OP_RETURN is unspendable
    (b"\x21" + KEY33 + b"\xac", T.P2PK, KEY33),
    (b"\x21\x03" + KEY33[1:] + b"\xac", T.P2PK, b"\x03" + KEY33[1:]),
    (b"\x41" + KEY65 + b"\xac", T.P2PK, KEY65),
    (b"\x41\x06" + KEY65[1:] + b"\xac", T.P2PK, b"\x06" + KEY65[1:]),  # hybrid keys are valid
    (b"\x41\x07" + KEY65[1:] + b"\xac", T.P2PK, b"\x07" + KEY65[1:]),
    (b"\x21\x04" + KEY33[1:] + b"\xac", T.NONSTANDARD, None),  # header does not match size
    (b"\x41\x02" + KEY65[1:] + b"\xac", T.NONSTANDARD, None),
    (b"\x41\x05" + KEY65[1:] + b"\xac", T.NONSTANDARD, None),
    (b"\x21" + KEY33 + b"\xad", T.NONSTANDARD, None),
    (b"\x4c\x21" + KEY33 + b"\xac", T.NONSTANDARD, None),  # P2PK needs the direct push
    (_ms(1, [KEY33]), T.MULTISIG, None),
    (_ms(2, [KEY33, KEY65, KEY33]), T.MULTISIG, None),
    (_ms(16, [KEY33] * 16), T.MULTISIG, None),
    (_ms(3, [KEY33, KEY33]), T.NONSTANDARD, None),  # m > n
    (_ms(1, [KEY33, KEY33], n=3), T.NONSTANDARD, None),  # n != number of keys
    (_ms(1, [KEY33, KEY33], n=1), T.NONSTANDARD, None),
    (b"\x00" + _ms(1, [KEY33])[1:], T.NONSTANDARD, None),  # m = OP_0
    (_ms(1, [KEY33])[:-1] + b"\xaf", T.NONSTANDARD, None),  # OP_CHECKMULTISIGVERIFY
    (_ms(1, [KEY33])[:-1] + b"\x00\xae", T.NONSTANDARD, None),  # extra op before the end
    (_ms(1, [b"\x04" + KEY33[1:]]), T.NONSTANDARD, None),  # invalid key header
    (_ms(1, [b"\x05" + KEY65[1:]]), T.NONSTANDARD, None),
    (_ms(1, [b"\x03" + KEY65[1:]]), T.NONSTANDARD, None),
    (_ms(2, [KEY33, b"\x06" + KEY65[1:]]), T.MULTISIG, None),
    (_ms(1, [KEY33[:20]]), T.NONSTANDARD, None),  # not a key size
    (bytes.fromhex("5100ae"), T.NONSTANDARD, None),  # 1-of-0
    (bytes.fromhex("5151ae"), T.NONSTANDARD, None),  # n = 1 but no keys
    (b"\x51\x4c\x21" + KEY33 + b"\x51\xae", T.MULTISIG, None),  # Core accepts any push encoding
    (b"\x51\x4d\x21\x00" + KEY33 + b"\x51\xae", T.MULTISIG, None),
    (b"\x51\x4c\x21" + KEY33[:10] + b"\xae", T.NONSTANDARD, None),  # truncated push
    # Real mainnet outputs from block 300025: Counterparty 1-of-2 "multisig" whose second key has
    # an invalid header byte; Bitcoin Core (and so bitcoin-etl) calls them nonstandard.
    (bytes.fromhex("51210264af1414a01efb0c0381767acc16cf5f271ba49d3a3272b60520da7c95a85c2b21"
                   "1c434e54525052545900000000000000000000000100000002fe293fb30000000052ae"),
     T.NONSTANDARD, None),
    (bytes.fromhex("5121027ed37d607ad691646dbc091d26866b8951fb50b300d33e9093c4d2bb7aad5d5b21"
                   "04666666670000000000000000000000000000000000000000000000000000000052ae"),
     T.NONSTANDARD, None),
    (b"\x20" + H32, T.NONSTANDARD, None),
    (b"\x51", T.NONSTANDARD, None),
    (b"\x00", T.NONSTANDARD, None),
]


@pytest.mark.parametrize(("script", "stype", "payload"), CLASSIFY_CASES,
                         ids=range(len(CLASSIFY_CASES)))
def test_classify_script(script: bytes, stype: T, payload: bytes | None) -> None:
    assert classify_script(script) == (stype, script if payload is None else payload)
    if stype != T.OP_RETURN:
        assert script_for_address(stype, classify_script(script)[1]) == script


def test_payload_convention_is_lossless_on_mutated_scripts() -> None:
    """Every script except OP_RETURN must be rebuilt exactly from its (type, payload)."""
    rng = random.Random(2024)
    seeds = [case[0] for case in CLASSIFY_CASES if case[0]]
    for _ in range(20_000):
        script = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            action, pos = rng.randrange(4), rng.randrange(len(script) + 1)
            if action == 0 and pos < len(script):
                script[pos] = rng.choice((0, 0x14, 0x20, 0x21, 0x41, 0x51, 0x60, 0xAE, rng.randrange(256)))
            elif action == 1:
                script.insert(pos, rng.randrange(256))
            elif action == 2 and pos < len(script):
                del script[pos]
        stype, payload = classify_script(bytes(script))
        if stype != T.OP_RETURN:
            assert script_for_address(stype, payload) == script
        embit_type = Script(bytes(script)).script_type()
        assert EMBIT_TYPES.get(embit_type) == (stype if stype in EMBIT_TYPES.values() else None)


# --- render / parse known answers ---------------------------------------------------------------

KEY_IO_VALID = [  # Bitcoin Core src/test/data/key_io_valid.json (address entries)
    ("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo", "76a914a31c06bd463e3923bc1aadbde48b16976c08071788ac", MAINNET),
    ("36j4NfKv6Akva9amjWrLG6MuSQym1GuEmm", "a914373b819a068f32b7a6b38b6b38729647cfde01c287", MAINNET),
    ("mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ", "76a914ce28b26c57472737f5c3561a1761185bd8589a4388ac", TESTNET4),
    ("2NC2hEhe28ULKAJkW5MjZ3jtTMJdvXmByvK", "a914ce0bba75891ff9ec60148d4bd4a09ee2dc5c933187", TESTNET4),
    ("mww4LvqtTMKvmeQvizPz2EQv26xTneWrbg", "76a914b4110ba93ac54afc14da3bdd19614774a2d55d2988ac", SIGNET),
    ("2N1r7aC69VHeE7yQJPDLi9T1PYq4wnwvjuT", "a9145e5a35ab44b3efaea5129ba22b88ba3e2976614587", SIGNET),
    ("n4fajahJrAuKbN7uNsKjLjQkz9Qn5ewJXQ", "76a914fdeca3b08e38af53d7c4c60e3ad208ce5066441088ac", REGTEST),
    ("2MxFajLApXpYk4VodBSZSt7rw8y4ryABkfA", "a91436e9f191e0b75036a77f65e2eaa4752443233fbe87", REGTEST),
    ("bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhv", "00146100fc6343edc8c874496cb2f5bbfec88ea9b77c", MAINNET),
    ("bc1qyucykdlhp62tezs0hagqury402qwhk589q80tqs5myh3rxq34nwqhkdhv7",
     "002027304b37f70e94bc8a0fbf500e0c957a80ebda87280ef58214d92f119811acdc", MAINNET),
    ("bc1p83n3au0rjylefxq2nc2xh2y4jzz4pm6zxj4mw5pagdjjr2a9f36s6jjnnu",
     "51203c671ef1e3913f94980a9e146ba895908550ef4234abb7503d436521aba54c75", MAINNET),
    ("bc1z2rksukkjr8", "520250ed", MAINNET),
    ("tb1qcrh3yqn4nlleplcez2yndq2ry8h9ncg3qh7n54", "0014c0ef1202759fff90ff19128936814321ee59e111", TESTNET4),
    ("tb1quyl9ujpgwr2chdzdnnalen48sup245vdfnh2jxhsuq3yx80rrwlq5hqfe4",
     "0020e13e5e482870d58bb44d9cfbfccea78702aad18d4ceea91af0e022431de31bbe", TESTNET4),
    ("tb1p35n52jy6xkm4wd905tdy8qtagrn73kqdz73xe4zxpvq9t3fp50aqk3s6gz",
     "51208d2745489a35b75734afa2da43817d40e7e8d80d17a26cd4460b0055c521a3fa", TESTNET4),
    ("tb1rgv5m6uvdk3kc7qsuz0c79v88ycr5w4wa", "53104329bd718db46d8f021c13f1e2b0e726", TESTNET4),
    ("bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9", "00146f58bac9506f9bfb821d62e69330410bb56f0085", REGTEST),
    ("bcrt1qan8gntac7z7me2ejt4hpru42ad2f759fmy0m3ejvs98656znv7eqga4uhv",
     "0020ecce89afb8f0bdbcab325d6e11f2aaeb549f50a9d91fb8e64c814faa685367b2", REGTEST),
    ("bcrt1pfwxjqvtt4tcxrtdluukfmy2dv7xd2qzdfy6kajv5nwn4yam3wxkq3553uh",
     "51204b8d20316baaf061adbfe72c9d914d678cd5004d49356ec9949ba752777171ac", REGTEST),
    ("bcrt1sx6p8njlx7h9mc2agz4yg82dzne23050ncq72cneeecez2pst8mahn8xecsf8g6hzx94420",
     "6028368279cbe6f5cbbc2ba8154883a9a29e5517d1f3c03cac4f39ce3225060b3efb799cd9c412746ae2", REGTEST),
    ("1FjL87pn8ky6Vbavd1ZHeChRXtoxwRGCRd", "76a914a19331b7b2627e663e25a7b001e4c0dcc5e21bc788ac", MAINNET),
    ("3BZECeAH8gSKkjrTx8PwMrNQBLG18yHpvf", "a9146c382dcdf5b284760c8e3fead91f7422cd76aa8787", MAINNET),
]


@pytest.mark.parametrize(("address", "spk_hex", "net"), KEY_IO_VALID, ids=range(len(KEY_IO_VALID)))
def test_key_io_vectors(address: str, spk_hex: str, net: Network) -> None:
    spk = bytes.fromhex(spk_hex)
    stype, payload = classify_script(spk)
    assert render_address(stype, payload, net) == address
    assert address_for_script(spk, net) == address
    assert parse_address(address, net) == (stype, payload)
    if address[:2].lower() in ("bc", "tb"):
        assert parse_address(address.upper(), net) == (stype, payload)  # case flip is allowed
    guessed = guess_network(address)
    assert guessed is not None
    # regtest shares testnet's version bytes, so only what the text carries can be compared
    assert (guessed.hrp, guessed.p2pkh_prefix) == (net.hrp, net.p2pkh_prefix) or (
        address[0] in "mn2" and guessed is TESTNET and net.p2pkh_prefix == TESTNET.p2pkh_prefix)


def test_genesis_coinbase_p2pk_renders_as_p2pkh() -> None:
    stype, payload = classify_script(GENESIS_SCRIPT)
    assert (stype, payload) == (T.P2PK, GENESIS_SCRIPT[1:66])
    assert render_address(stype, payload, MAINNET) == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    assert parse_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", MAINNET) == (T.P2PKH, hash160(payload))
    assert script_for_address(stype, payload) == GENESIS_SCRIPT


def test_pay_to_anchor() -> None:
    assert render_address(T.P2A, b"\x4e\x73", MAINNET) == "bc1pfeessrawgf"
    assert parse_address("bc1pfeessrawgf", MAINNET) == (T.P2A, b"\x4e\x73")
    assert render_address(T.P2A, b"\x4e\x73", TESTNET) == "tb1pfees9rn5nz"
    assert render_address(T.P2A, b"\x4e\x73", REGTEST) == "bcrt1pfeesnyr2tx"
    assert script_for_address(T.P2A, b"\x4e\x73") == bytes.fromhex("51024e73")


def test_real_witness_unknown_output() -> None:
    # a v12 output in mainnet block 951658 (someone embedding data)
    script = bytes.fromhex("5c1b2281000000000000000000c0843dda0564c801099b813aed060000")
    stype, payload = classify_script(script)
    assert stype == T.WITNESS_UNKNOWN and payload[0] == 12
    address = render_address(stype, payload, MAINNET)
    assert address == bip_utils.SegwitBech32Encoder.Encode("bc", 12, script[2:])
    assert parse_address(address, MAINNET) == (stype, payload)


def test_types_without_address_render_none() -> None:
    assert render_address(T.MULTISIG, _ms(1, [KEY33]), MAINNET) is None
    assert render_address(T.NONSTANDARD, b"\x51", MAINNET) is None
    assert render_address(T.OP_RETURN, b"", MAINNET) is None
    assert address_for_script(b"\x6a\x00", MAINNET) is None


@pytest.mark.parametrize(("stype", "payload"), [
    (T.P2PKH, bytes(19)), (T.P2SH, bytes(32)), (T.P2WPKH, bytes(32)), (T.P2WSH, bytes(20)),
    (T.P2TR, bytes(20)), (T.P2A, b"\x4e\x74"), (T.P2PK, bytes(20)),
    (T.WITNESS_UNKNOWN, b"\x00" + bytes(20)), (T.WITNESS_UNKNOWN, b"\x11" + bytes(20)),
    (T.WITNESS_UNKNOWN, b"\x02\x00"), (T.WITNESS_UNKNOWN, b"\x02" + bytes(41)), (99, bytes(20)),
])
def test_payload_that_does_not_fit_the_type_is_a_bug(stype: int, payload: bytes) -> None:
    with pytest.raises(ValueError):
        render_address(stype, payload, MAINNET)
    with pytest.raises(ValueError):
        script_for_address(stype, payload)


@pytest.mark.parametrize(("text", "net", "reason"), [
    ("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", MAINNET, "wrong network: hrp 'tb'"),
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", TESTNET, "expected hrp 'tb'"),
    ("bc1pfeessrawgf", REGTEST, "expected hrp 'bcrt'"),
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", TESTNET, "wrong network: this is a mainnet address"),
    ("mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ", MAINNET, "wrong network"),
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", MAINNET, "bad checksum"),
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN", MAINNET, "bad checksum"),
    ("ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9", MAINNET, "unknown human-readable part 'ltc'"),
    ("LM2WMpR1Rp6j3Sa59cMXMs1SPzj9eXpGc1", MAINNET, "unknown version byte 0x30"),
    (base58check_encode(bytes(15)), MAINNET, "decodes to 15 bytes"),
    ("0xde0B295669a9FD93d5F28D9Ec85E40f4cb697BAe", MAINNET, "EVM"),
    ("", MAINNET, "empty"),
    ("hello world", MAINNET, "not a Bitcoin address"),
])
def test_parse_address_errors_name_the_problem(text: str, net: Network, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        parse_address(text, net)


def test_guess_network() -> None:
    assert guess_network("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa") is MAINNET
    assert guess_network("3BZECeAH8gSKkjrTx8PwMrNQBLG18yHpvf") is MAINNET
    assert guess_network("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4") is MAINNET
    assert guess_network("tb1qcrh3yqn4nlleplcez2yndq2ry8h9ncg3qh7n54") is TESTNET
    assert guess_network("mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ") is TESTNET
    assert guess_network("bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9") is REGTEST
    assert guess_network("0xde0B295669a9FD93d5F28D9Ec85E40f4cb697BAe") is None
    assert guess_network("") is None


# --- cross-checks against embit and bip-utils on random payloads -----------------------------

EMBIT_TYPES = {"p2pkh": T.P2PKH, "p2sh": T.P2SH, "p2wpkh": T.P2WPKH, "p2wsh": T.P2WSH, "p2tr": T.P2TR}
NETS = [(MAINNET, "main"), (TESTNET, "test"), (REGTEST, "regtest")]
ROUNDS = 300


def _random_payload(rng: random.Random, stype: T) -> bytes:
    if stype == T.WITNESS_UNKNOWN:
        while True:
            version, size = rng.randint(1, 16), rng.randint(2, 40)
            if version != 1 or size not in (2, 32):
                return bytes((version,)) + rng.randbytes(size)
    return rng.randbytes({T.P2PKH: 20, T.P2SH: 20, T.P2WPKH: 20, T.P2WSH: 32, T.P2TR: 32}[stype])


def _reference_address(stype: T, payload: bytes, net: Network, embit_name: str) -> str:
    """The address per bip-utils, also checked against embit where embit knows the type."""
    if stype in (T.P2PKH, T.P2SH):
        prefix = net.p2pkh_prefix if stype == T.P2PKH else net.p2sh_prefix
        expected = bip_utils.Base58Encoder.CheckEncode(bytes((prefix,)) + payload)
    elif stype == T.WITNESS_UNKNOWN:
        expected = bip_utils.SegwitBech32Encoder.Encode(net.hrp, payload[0], payload[1:])
    else:
        expected = bip_utils.SegwitBech32Encoder.Encode(net.hrp, 0 if stype != T.P2TR else 1, payload)
    if stype in EMBIT_TYPES.values():
        spk = script_for_address(stype, payload)
        assert Script(spk).address(EMBIT_NETWORKS[embit_name]) == expected
        assert address_to_scriptpubkey(expected).data == spk
    return expected


@pytest.mark.parametrize(("net", "embit_name"), NETS, ids=[n.name for n, _ in NETS])
@pytest.mark.parametrize("stype", [T.P2PKH, T.P2SH, T.P2WPKH, T.P2WSH, T.P2TR, T.WITNESS_UNKNOWN])
def test_random_payloads_match_embit_and_bip_utils(stype: T, net: Network, embit_name: str) -> None:
    rng = random.Random(f"{stype.name}-{net.name}")
    for _ in range(ROUNDS):
        payload = _random_payload(rng, stype)
        address = render_address(stype, payload, net)
        assert address == _reference_address(stype, payload, net, embit_name)
        assert parse_address(address, net) == (stype, payload)
        assert classify_script(script_for_address(stype, payload)) == (stype, payload)


@pytest.mark.parametrize(("net", "embit_name"), NETS, ids=[n.name for n, _ in NETS])
def test_random_p2pk_keys_match_bip_utils(net: Network, embit_name: str) -> None:
    rng = random.Random(f"p2pk-{net.name}")
    prefix = bytes((net.p2pkh_prefix,))
    for _ in range(ROUNDS // 2):
        public = bip_utils.Secp256k1PrivateKey.FromBytes(rng.randbytes(32)).PublicKey()
        for key, mode in [(public.RawCompressed().ToBytes(), bip_utils.P2PKHPubKeyModes.COMPRESSED),
                          (public.RawUncompressed().ToBytes(), bip_utils.P2PKHPubKeyModes.UNCOMPRESSED)]:
            script = script_for_address(T.P2PK, key)
            assert classify_script(script) == (T.P2PK, key)
            expected = bip_utils.P2PKHAddrEncoder.EncodeKey(key, net_ver=prefix, pub_key_mode=mode)
            assert render_address(T.P2PK, key, net) == expected
            assert parse_address(expected, net) == (T.P2PKH, hash160(key))


# --- real data ---------------------------------------------------------------------------------

ETL_TYPES = {"pubkey": T.P2PK, "pubkeyhash": T.P2PKH, "scripthash": T.P2SH,
             "witness_v0_keyhash": T.P2WPKH, "witness_v0_scripthash": T.P2WSH}


def test_bitcoin_etl_expected_outputs(testdata: Path) -> None:
    files = sorted((testdata / "btc-raw-blocks" / "bitcoin-etl").glob("*/expected_transactions.json"))
    assert files, "no bitcoin-etl expected_transactions.json files found"
    checked = 0
    for path in files:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            for output in json.loads(line)["outputs"]:
                if output["type"] not in ETL_TYPES or len(output["addresses"]) != 1:
                    continue
                stype, payload = classify_script(bytes.fromhex(output["script_hex"]))
                assert stype == ETL_TYPES[output["type"]], output
                assert render_address(stype, payload, MAINNET) == output["addresses"][0]
                checked += 1
    assert checked >= 10  # 7 P2PK and 4 P2PKH outputs (blocks 0, 1, 50000-50002)


REAL_BLOCKS = [
    "electrumx/block951658.hex",  # 2026: taproot, OP_RETURN runes, a v12 witness output
    "bitcoinj/block481829.dat",  # 2017: first days of segwit
    "bcoin/block300025.raw",  # 2014: bare multisig and Counterparty fake-key outputs
    "btcd/block-00000000000000000021868c2cefc52a480d173c849412fe81c4e5ab806f94ab.blk",
    "bitcoinj/block169482.dat",  # 2012: P2PK and nonstandard outputs
]


@pytest.mark.parametrize("name", REAL_BLOCKS)
def test_real_block_outputs_match_embit(testdata: Path, name: str) -> None:
    raw = (testdata / "btc-raw-blocks" / name).read_bytes()
    if name.endswith(".hex"):
        raw = bytes.fromhex(raw.decode().strip())
    stream = io.BytesIO(raw)
    stream.read(80)
    outputs = 0
    for _ in range(compact.read_from(stream)):
        for out in Transaction.read_from(stream).vout:
            script = out.script_pubkey.data
            stype, payload = classify_script(script)
            embit_type = EMBIT_TYPES.get(out.script_pubkey.script_type())
            assert embit_type == (stype if stype in EMBIT_TYPES.values() else None), script.hex()
            if embit_type is not None:
                assert render_address(stype, payload, MAINNET) == out.script_pubkey.address()
            if stype != T.OP_RETURN:
                assert script_for_address(stype, payload) == script
            outputs += 1
    assert stream.read() == b"" and outputs > 0
