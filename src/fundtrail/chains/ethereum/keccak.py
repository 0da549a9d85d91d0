"""Keccak-256 (the pre-standard Keccak that Ethereum uses), in pure Python.

Ethereum hashes with the original Keccak padding (domain byte 0x01), not FIPS-202 SHA3-256 (0x06),
so `hashlib.sha3_256` gives different digests. Block verification hashes every transaction,
receipt and trie node (about a thousand digests per mainnet block), which the pure-Python sponge
does at ~360 us each: `keccak256` therefore uses pycryptodome's C Keccak (~7 us) when it is
installed, and this module's own sponge otherwise; the pure one (`keccak256_py`) stays the test
oracle. The round constants and rotation offsets are derived from their definitions in the Keccak
reference rather than typed in, so a typo cannot hide in a table.
"""

from __future__ import annotations

try:  # pycryptodome: a C implementation of the same pre-standard Keccak
    from Crypto.Hash import keccak as _c_keccak
except ImportError:  # pragma: no cover - exercised only where pycryptodome is missing
    _c_keccak = None  # type: ignore[assignment]  # checked before use


def _round_constants() -> tuple[int, ...]:
    """The 24 iota constants, from the degree-8 LFSR x^8 + x^6 + x^5 + x^4 + 1."""
    out = []
    state = 1
    for _ in range(24):
        rc = 0
        for j in range(7):
            if state & 1:
                rc |= 1 << ((1 << j) - 1)
            state = ((state << 1) ^ 0x71) & 0xFF if state & 0x80 else state << 1
        out.append(rc)
    return tuple(out)


def _rho_pi() -> tuple[tuple[int, int, int, int, int], ...]:
    """(source lane, its column, destination lane, left and right shift) for rho and pi together."""
    rot = [[0] * 5 for _ in range(5)]
    x, y = 1, 0
    for t in range(24):
        rot[x][y] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5
    return tuple((x + 5 * y, x, y + 5 * ((2 * x + 3 * y) % 5), rot[x][y], 64 - rot[x][y])
                 for x in range(5) for y in range(5))


_RC = _round_constants()
_RHO_PI = _rho_pi()
_MASK = (1 << 64) - 1


def keccak_f1600(lanes: list[int]) -> None:
    """Permute the 25 64-bit lanes (index x + 5*y) in place."""
    a = lanes
    b = [0] * 25
    for rc in _RC:
        c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20]
        c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21]
        c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22]
        c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23]
        c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24]
        d = (
            c4 ^ (((c1 << 1) | (c1 >> 63)) & _MASK),
            c0 ^ (((c2 << 1) | (c2 >> 63)) & _MASK),
            c1 ^ (((c3 << 1) | (c3 >> 63)) & _MASK),
            c2 ^ (((c4 << 1) | (c4 >> 63)) & _MASK),
            c3 ^ (((c0 << 1) | (c0 >> 63)) & _MASK),
        )
        for src, col, dst, left, right in _RHO_PI:
            v = a[src] ^ d[col]
            b[dst] = ((v << left) | (v >> right)) & _MASK
        for y in range(0, 25, 5):
            b0, b1, b2, b3, b4 = b[y], b[y + 1], b[y + 2], b[y + 3], b[y + 4]
            a[y] = b0 ^ (~b1 & b2)
            a[y + 1] = b1 ^ (~b2 & b3)
            a[y + 2] = b2 ^ (~b3 & b4)
            a[y + 3] = b3 ^ (~b4 & b0)
            a[y + 4] = b4 ^ (~b0 & b1)
        a[0] ^= rc


def sponge(data: bytes, *, rate: int = 136, domain: int = 0x01, out_len: int = 32) -> bytes:
    """Keccak sponge over `data`; `domain` 0x01 is Keccak, 0x06 would be FIPS-202 SHA3."""
    padded = bytearray(data)
    padded.append(domain)
    padded.extend(b"\x00" * (-len(padded) % rate))
    padded[-1] |= 0x80
    lanes = [0] * 25
    words = rate // 8
    for off in range(0, len(padded), rate):
        block = padded[off:off + rate]
        for i in range(words):
            lanes[i] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        keccak_f1600(lanes)
    out = b"".join(lane.to_bytes(8, "little") for lane in lanes[:words])
    while len(out) < out_len:  # longer outputs squeeze again (not needed for 256-bit digests)
        keccak_f1600(lanes)
        out += b"".join(lane.to_bytes(8, "little") for lane in lanes[:words])
    return out[:out_len]


def keccak256_py(data: bytes) -> bytes:
    """Ethereum's keccak256 by this module's own sponge (the oracle for the C one)."""
    return sponge(bytes(data))


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak256: 32-byte digest of `data`."""
    if _c_keccak is None:
        return sponge(bytes(data))
    return _c_keccak.new(digest_bits=256, data=bytes(data)).digest()
