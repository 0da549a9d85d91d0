"""Bitcoin addresses: Base58Check, bech32/bech32m (BIP173/BIP350), and the script <-> address map.

The store keeps each output as (script_type, payload) rather than as an address string, so that
the same data renders for any network. Payload convention (shared with the store and the fast
classifier; never change it):

    P2PKH, P2SH      20-byte hash             P2WPKH 20-byte hash, P2WSH 32-byte hash
    P2TR             32-byte x-only key       P2A    the 2-byte witness program 0x4e73
    WITNESS_UNKNOWN  version byte (1..16) + witness program
    P2PK             the public key (33 or 65 bytes), shown as the P2PKH address of its hash160
    MULTISIG, NONSTANDARD  the whole script   OP_RETURN  b""

`classify_script` is the plain-Python reference classifier: it is the test oracle for the numba
classifier, so it favours being obviously right over being fast. `render_address` runs once per
exported output, so it avoids needless work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import IntEnum
from functools import lru_cache

from fundtrail.chains.bitcoin.hashing import hash160, sha256d
from fundtrail.chains.bitcoin.params import NETWORKS, Network
from fundtrail.chains.bitcoin.script import ScriptType
from fundtrail.errors import UsageError

# --- Base58 / Base58Check ---------------------------------------------------------------------

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58_ALPHABET)}
# Two Base58 digits at a time halves the number of big-int divisions.
_B58_PAIRS = tuple(a + b for a in B58_ALPHABET for b in B58_ALPHABET)


def base58_encode(data: bytes) -> str:
    """Base58 of `data`; each leading zero byte becomes a leading '1'."""
    n = int.from_bytes(data, "big")
    parts = []
    while n:
        n, r = divmod(n, 3364)
        parts.append(_B58_PAIRS[r])
    body = "".join(reversed(parts)).lstrip("1")
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + body


def base58_decode(text: str) -> bytes:
    """Inverse of `base58_encode`; raises UsageError on a character outside the alphabet."""
    n = 0
    for ch in text:
        digit = _B58_INDEX.get(ch)
        if digit is None:
            raise UsageError(f"invalid Base58 character {ch!r}")
        n = n * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + n.to_bytes((n.bit_length() + 7) // 8, "big")


def base58check_encode(payload: bytes) -> str:
    """Base58 of payload + the first 4 bytes of its double SHA-256."""
    return base58_encode(payload + sha256d(payload)[:4])


def base58check_decode(text: str) -> bytes:
    """Payload of a Base58Check string; UsageError if it is malformed or its checksum fails."""
    raw = base58_decode(text)
    if len(raw) < 4:
        raise UsageError("too short for Base58Check")
    payload = raw[:-4]
    if sha256d(payload)[:4] != raw[-4:]:
        raise UsageError("bad checksum")
    return payload


# --- bech32 / bech32m -------------------------------------------------------------------------

BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_B32_INDEX = {c: i for i, c in enumerate(BECH32_CHARSET)}
_B32_TRANSLATE = bytes.maketrans(bytes(range(32)), BECH32_CHARSET.encode("ascii"))
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
# XOR of the generator terms selected by the 5 bits shifted out of the checksum state.
_POLYMOD_TABLE = tuple(
    _GEN[0] * (b & 1) ^ _GEN[1] * (b >> 1 & 1) ^ _GEN[2] * (b >> 2 & 1)
    ^ _GEN[3] * (b >> 3 & 1) ^ _GEN[4] * (b >> 4 & 1)
    for b in range(32)
)
MAX_BECH32_LENGTH = 90
P2A_PROGRAM = b"\x4e\x73"  # the witness program of pay-to-anchor outputs (BIP433)


class Bech32Variant(IntEnum):
    """Checksum variant, valued by the constant the checksum is XORed with."""

    BECH32 = 1  # BIP173: segwit v0
    BECH32M = 0x2BC830A3  # BIP350: segwit v1..v16


def _polymod(values: Sequence[int], chk: int) -> int:
    table = _POLYMOD_TABLE
    for v in values:
        chk = ((chk & 0x1FFFFFF) << 5) ^ v ^ table[chk >> 25]
    return chk


@lru_cache(maxsize=64)
def _hrp_state(hrp: str) -> int:
    """Checksum state after the expanded hrp; cached because there are only a few hrps."""
    if not hrp or any(not 33 <= ord(c) <= 126 for c in hrp) or hrp != hrp.lower():
        raise ValueError(f"invalid bech32 human-readable part {hrp!r}")
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    return _polymod(expanded, 1)


def bech32_encode(hrp: str, data: Sequence[int], variant: Bech32Variant) -> str:
    """Bech32 string of lowercase `hrp` and 5-bit `data` values, with the variant's checksum."""
    if any(not 0 <= d <= 31 for d in data):
        raise ValueError("bech32 data values must be 5-bit (0..31)")
    return _bech32_encode(hrp, data, variant)


def _bech32_encode(hrp: str, data: Sequence[int], variant: Bech32Variant) -> str:
    state = _polymod((0, 0, 0, 0, 0, 0), _polymod(data, _hrp_state(hrp))) ^ variant
    checksum = [(state >> 5 * (5 - i)) & 31 for i in range(6)]
    text = hrp + "1" + bytes(data).translate(_B32_TRANSLATE).decode("ascii")
    text += bytes(checksum).translate(_B32_TRANSLATE).decode("ascii")
    if len(text) > MAX_BECH32_LENGTH:
        raise ValueError(f"bech32 string would be {len(text)} characters, over {MAX_BECH32_LENGTH}")
    return text


def bech32_decode(text: str) -> tuple[str, list[int], Bech32Variant]:
    """(lowercase hrp, 5-bit data without checksum, variant); UsageError if not valid bech32(m)."""
    if any(not 33 <= ord(c) <= 126 for c in text):
        raise UsageError("character out of range (printable ASCII only)")
    lower = text.lower()
    if lower != text and text.upper() != text:
        raise UsageError("mixed case")
    if len(text) > MAX_BECH32_LENGTH:
        raise UsageError(f"too long: {len(text)} characters, at most {MAX_BECH32_LENGTH}")
    pos = lower.rfind("1")
    if pos < 0:
        raise UsageError("no separator '1'")
    if pos == 0:
        raise UsageError("empty human-readable part")
    if len(text) - pos - 1 < 6:
        raise UsageError("checksum too short")
    hrp = lower[:pos]
    try:
        data = [_B32_INDEX[c] for c in lower[pos + 1:]]
    except KeyError as exc:
        raise UsageError(f"invalid data character {exc.args[0]!r}") from None
    const = _polymod(data, _hrp_state(hrp))
    if const == Bech32Variant.BECH32:
        return hrp, data[:-6], Bech32Variant.BECH32
    if const == Bech32Variant.BECH32M:
        return hrp, data[:-6], Bech32Variant.BECH32M
    raise UsageError("bad checksum")


def _to_5bit(program: bytes) -> list[int]:
    """8-to-5 bit regrouping, zero-padded at the end (as BIP173 requires)."""
    nbits = len(program) * 8
    ngroups = (nbits + 4) // 5
    v = int.from_bytes(program, "big") << (ngroups * 5 - nbits)
    return [(v >> shift) & 31 for shift in range(5 * (ngroups - 1), -1, -5)]


def _from_5bit(groups: Sequence[int]) -> bytes:
    """5-to-8 bit regrouping; at most 4 padding bits, all zero (BIP173)."""
    nbits = 5 * len(groups)
    pad = nbits % 8
    if pad > 4:
        raise UsageError("more than 4 padding bits")
    v = 0
    for g in groups:
        v = (v << 5) | g
    if v & ((1 << pad) - 1):
        raise UsageError("non-zero padding bits")
    return (v >> pad).to_bytes(nbits // 8, "big")


def _check_witness(data: Sequence[int], variant: Bech32Variant) -> tuple[int, bytes]:
    """Apply the segwit rules of BIP173/BIP350 to decoded bech32 data."""
    if not data:
        raise UsageError("empty data section")
    version = data[0]
    if version > 16:
        raise UsageError(f"invalid witness version {version}")
    program = _from_5bit(data[1:])
    if not 2 <= len(program) <= 40:
        raise UsageError(f"witness program of {len(program)} bytes (must be 2..40)")
    if version == 0 and len(program) not in (20, 32):
        raise UsageError(f"witness v0 program of {len(program)} bytes (must be 20 or 32)")
    expected = Bech32Variant.BECH32 if version == 0 else Bech32Variant.BECH32M
    if variant != expected:
        raise UsageError(
            f"bad checksum: witness v{version} needs {expected.name.lower()},"
            f" not {variant.name.lower()}"
        )
    return version, program


def segwit_encode(hrp: str, version: int, program: bytes) -> str:
    """Segwit address: bech32 for v0, bech32m for v1..v16 (BIP350)."""
    if not 0 <= version <= 16 or not 2 <= len(program) <= 40:
        raise ValueError(f"no segwit address for v{version} with a {len(program)}-byte program")
    if version == 0 and len(program) not in (20, 32):
        raise ValueError(f"witness v0 program must be 20 or 32 bytes, not {len(program)}")
    variant = Bech32Variant.BECH32 if version == 0 else Bech32Variant.BECH32M
    return _bech32_encode(hrp, [version, *_to_5bit(program)], variant)


def segwit_decode(hrp: str, text: str) -> tuple[int, bytes]:
    """(witness version, program) of a segwit address with the given hrp; UsageError if invalid."""
    got, data, variant = bech32_decode(text)
    if got != hrp:
        raise UsageError(f"human-readable part {got!r}, expected {hrp!r}")
    return _check_witness(data, variant)


# --- rendering: (script_type, payload) -> address -------------------------------------------

_P2PKH, _P2SH, _P2PK, _P2TR, _P2A = (int(t) for t in (
    ScriptType.P2PKH, ScriptType.P2SH, ScriptType.P2PK, ScriptType.P2TR, ScriptType.P2A))
_P2WPKH, _P2WSH, _WITNESS_UNKNOWN = (int(t) for t in (
    ScriptType.P2WPKH, ScriptType.P2WSH, ScriptType.WITNESS_UNKNOWN))
_NO_ADDRESS = frozenset({ScriptType.MULTISIG, ScriptType.NONSTANDARD, ScriptType.OP_RETURN})


def render_address(script_type: int, payload: bytes, network: Network) -> str | None:
    """Address string of a stored output, or None for types without one (multisig, OP_RETURN...).

    Raises ValueError if the payload does not fit the type: that is a bug, not user input.
    """
    size = len(payload)
    if script_type == _P2PKH and size == 20:
        return base58check_encode(bytes((network.p2pkh_prefix,)) + payload)
    if (script_type == _P2WPKH and size == 20) or (script_type == _P2WSH and size == 32):
        return _bech32_encode(network.hrp, [0, *_to_5bit(payload)], Bech32Variant.BECH32)
    if script_type == _P2SH and size == 20:
        return base58check_encode(bytes((network.p2sh_prefix,)) + payload)
    if (script_type == _P2TR and size == 32) or (script_type == _P2A and payload == P2A_PROGRAM):
        return _bech32_encode(network.hrp, [1, *_to_5bit(payload)], Bech32Variant.BECH32M)
    if script_type == _P2PK and size in (33, 65):
        return base58check_encode(bytes((network.p2pkh_prefix,)) + hash160(payload))
    if script_type == _WITNESS_UNKNOWN and 3 <= size <= 41 and 1 <= payload[0] <= 16:
        return segwit_encode(network.hrp, payload[0], payload[1:])
    if script_type in _NO_ADDRESS:
        return None
    raise ValueError(f"a {size}-byte payload does not fit script type {script_type!r}")


def address_for_script(script: bytes, network: Network) -> str | None:
    """Address of a scriptPubKey (None if it has none): `render_address` of `classify_script`."""
    return render_address(*classify_script(script), network)


# --- parsing: address -> (script_type, payload) ---------------------------------------------


def _networks_with(pred: Callable[[Network], bool]) -> str:
    return "/".join(n.name for n in NETWORKS.values() if pred(n))


def _parse_base58(text: str, net: Network) -> tuple[ScriptType, bytes]:
    payload = base58check_decode(text)
    if len(payload) != 21:
        raise UsageError(f"decodes to {len(payload)} bytes, expected 21 (version byte + hash)")
    version = payload[0]
    if version == net.p2pkh_prefix:
        return ScriptType.P2PKH, payload[1:]
    if version == net.p2sh_prefix:
        return ScriptType.P2SH, payload[1:]
    others = _networks_with(lambda n: version in (n.p2pkh_prefix, n.p2sh_prefix))
    if others:
        raise UsageError(f"wrong network: this is a {others} address, expected {net.name}")
    raise UsageError(f"unknown version byte 0x{version:02x}")


def _parse_segwit(text: str, net: Network) -> tuple[ScriptType, bytes]:
    hrp, data, variant = bech32_decode(text)
    if hrp != net.hrp:
        others = _networks_with(lambda n: n.hrp == hrp)
        if others:
            raise UsageError(f"wrong network: hrp {hrp!r} is {others}, expected hrp {net.hrp!r}"
                             f" for {net.name}")
        raise UsageError(f"unknown human-readable part {hrp!r}, expected {net.hrp!r}")
    version, program = _check_witness(data, variant)
    if version == 0:
        return (ScriptType.P2WPKH if len(program) == 20 else ScriptType.P2WSH), program
    if version == 1 and len(program) == 32:
        return ScriptType.P2TR, program
    if version == 1 and program == P2A_PROGRAM:
        return ScriptType.P2A, program
    return ScriptType.WITNESS_UNKNOWN, bytes((version,)) + program


def parse_address(text: str, network: Network) -> tuple[ScriptType, bytes]:
    """(script_type, payload) of an address on `network`; UsageError naming what is wrong."""
    text = text.strip()
    if not text:
        raise UsageError("empty Bitcoin address")
    if text[:2].lower() == "0x":
        raise UsageError(f"{text!r} looks like an EVM (0x...) address, not a Bitcoin address")
    lower = text.lower()
    hrps = {n.hrp for n in NETWORKS.values()} | {network.hrp}
    try:
        if any(lower.startswith(h + "1") for h in hrps):
            return _parse_segwit(text, network)
        if all(c in _B58_INDEX for c in text):
            return _parse_base58(text, network)
        if "1" in text:
            return _parse_segwit(text, network)
    except UsageError as exc:
        raise UsageError(f"invalid Bitcoin address {text!r}: {exc.message}") from None
    raise UsageError(f"{text!r} is not a Bitcoin address (neither Base58Check nor bech32)")


def guess_network(text: str) -> Network | None:
    """The network an address seems to belong to, by hrp or version byte; checksum not verified.

    Testnet, testnet4 and signet share hrp and version bytes (regtest shares the version bytes),
    so this returns the first match in NETWORKS order (testnet). Useful for error messages.
    """
    text = text.strip()
    pos = text.rfind("1")
    if pos > 0:
        hrp = text[:pos].lower()
        for net in NETWORKS.values():
            if net.hrp == hrp:
                return net
    if text and all(c in _B58_INDEX for c in text):
        raw = base58_decode(text)
        if len(raw) == 25:
            for net in NETWORKS.values():
                if raw[0] in (net.p2pkh_prefix, net.p2sh_prefix):
                    return net
    return None


# --- scripts ----------------------------------------------------------------------------------

OP_0, OP_1, OP_16 = 0x00, 0x51, 0x60
OP_PUSHDATA1, OP_PUSHDATA2, OP_PUSHDATA4 = 0x4C, 0x4D, 0x4E
OP_RETURN, OP_CHECKSIG, OP_CHECKMULTISIG = 0x6A, 0xAC, 0xAE


def _valid_pubkey_size(data: bytes) -> bool:
    """Bitcoin Core's CPubKey::ValidSize: the header byte must match the length."""
    if len(data) == 33:
        return data[0] in (2, 3)
    if len(data) == 65:
        return data[0] in (4, 6, 7)
    return False


def _read_op(script: bytes, pos: int) -> tuple[int, bytes, int]:
    """(opcode, pushed data, next position) at `pos`; opcode -1 if the script ends mid-op."""
    if pos >= len(script):
        return -1, b"", pos
    op = script[pos]
    pos += 1
    if op > OP_PUSHDATA4:
        return op, b"", pos
    if op < OP_PUSHDATA1:
        size = op
    else:
        width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}[op]
        if pos + width > len(script):
            return -1, b"", pos
        size = int.from_bytes(script[pos:pos + width], "little")
        pos += width
    if pos + size > len(script):
        return -1, b"", pos
    return op, script[pos:pos + size], pos + size


def _is_multisig(script: bytes) -> bool:
    """Bare multisig exactly as Bitcoin Core's Solver (MatchMultisig) accepts it.

    OP_m, then n pushes of valid-size public keys (any push encoding, as Core allows), then
    OP_n and OP_CHECKMULTISIG as the last byte, with 1 <= m <= n <= 16.
    """
    if not script or script[-1] != OP_CHECKMULTISIG or not OP_1 <= script[0] <= OP_16:
        return False
    m = script[0] - 0x50
    keys, pos = 0, 1
    op, data, pos = _read_op(script, pos)
    while op >= 0 and _valid_pubkey_size(data):
        keys += 1
        op, data, pos = _read_op(script, pos)
    if not OP_1 <= op <= OP_16:
        return False
    n = op - 0x50
    return n == keys and m <= n and pos + 1 == len(script)


def classify_script(script: bytes) -> tuple[ScriptType, bytes]:
    """(type, payload) of a scriptPubKey; the reference (oracle) classifier.

    OP_RETURN means "starts with 0x6a" (provably unspendable), which is broader than Bitcoin
    Core's nulldata (that also needs push-only data after it). MULTISIG follows Core exactly,
    so keys whose header byte does not match their size (fake keys) make it NONSTANDARD.
    """
    n = len(script)
    if (n == 25 and script[0] == 0x76 and script[1] == 0xA9 and script[2] == 0x14
            and script[23] == 0x88 and script[24] == OP_CHECKSIG):
        return ScriptType.P2PKH, script[3:23]
    if n == 23 and script[0] == 0xA9 and script[1] == 0x14 and script[22] == 0x87:
        return ScriptType.P2SH, script[2:22]
    # Witness program: OP_0 or OP_1..OP_16, then one direct push of 2..40 bytes filling the rest.
    if 4 <= n <= 42 and (script[0] == OP_0 or OP_1 <= script[0] <= OP_16) and script[1] + 2 == n:
        program = script[2:]
        if script[0] == OP_0:
            if n == 22:
                return ScriptType.P2WPKH, program
            if n == 34:
                return ScriptType.P2WSH, program
            return ScriptType.NONSTANDARD, script
        if script[0] == OP_1 and n == 34:
            return ScriptType.P2TR, program
        if script[0] == OP_1 and program == P2A_PROGRAM:
            return ScriptType.P2A, program
        return ScriptType.WITNESS_UNKNOWN, bytes((script[0] - 0x50,)) + program
    if n and script[0] == OP_RETURN:
        return ScriptType.OP_RETURN, b""
    if n == 35 and script[0] == 33 and script[34] == OP_CHECKSIG and script[1] in (2, 3):
        return ScriptType.P2PK, script[1:34]
    if n == 67 and script[0] == 65 and script[66] == OP_CHECKSIG and script[1] in (4, 6, 7):
        return ScriptType.P2PK, script[1:66]
    if _is_multisig(script):
        return ScriptType.MULTISIG, script
    return ScriptType.NONSTANDARD, script


_SIMPLE_SCRIPTS: dict[int, tuple[bytes, bytes, int]] = {  # type -> (bytes before the payload, bytes after it, size)
    ScriptType.P2PKH: (b"\x76\xa9\x14", b"\x88\xac", 20),
    ScriptType.P2SH: (b"\xa9\x14", b"\x87", 20),
    ScriptType.P2WPKH: (b"\x00\x14", b"", 20),
    ScriptType.P2WSH: (b"\x00\x20", b"", 32),
    ScriptType.P2TR: (b"\x51\x20", b"", 32),
    ScriptType.P2A: (b"\x51\x02", b"", 2),
}


def script_for_address(script_type: int, payload: bytes) -> bytes:
    """The scriptPubKey for a (type, payload) pair; inverse of `classify_script`.

    P2PK gives the P2PK script itself. OP_RETURN raises ValueError: its payload keeps no data.
    """
    size = len(payload)
    simple = _SIMPLE_SCRIPTS.get(script_type)
    if simple is not None and size == simple[2]:
        if script_type == ScriptType.P2A and payload != P2A_PROGRAM:
            raise ValueError(f"P2A payload must be {P2A_PROGRAM.hex()}, not {payload.hex()}")
        return simple[0] + payload + simple[1]
    if script_type == ScriptType.WITNESS_UNKNOWN and 3 <= size <= 41 and 1 <= payload[0] <= 16:
        return bytes((0x50 + payload[0], size - 1)) + payload[1:]
    if script_type == ScriptType.P2PK and size in (33, 65):
        return bytes((size,)) + payload + bytes((OP_CHECKSIG,))
    if script_type in (ScriptType.MULTISIG, ScriptType.NONSTANDARD):
        return bytes(payload)
    if script_type == ScriptType.OP_RETURN:
        raise ValueError("OP_RETURN payloads are empty; the script cannot be rebuilt")
    raise ValueError(f"a {size}-byte payload does not fit script type {script_type!r}")
