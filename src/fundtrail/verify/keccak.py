"""Keccak-256 as Ethereum uses it, in plain standard-library Python.

Ethereum hashes with the Keccak submitted to the SHA-3 competition, padded with the domain byte 0x01;
the FIPS-202 standard that `hashlib.sha3_256` implements pads with 0x06, so its digests differ. The
permutation (Keccak-f[1600]) is the same: `sponge(data, domain=0x06)` must equal `hashlib.sha3_256`,
which is how the tests check this code against an implementation it shares nothing with.

Keccak-f works on 25 lanes of 64 bits, indexed x + 5*y, for 24 rounds of theta (column parity),
rho (rotate each lane), pi (move lanes), chi (the only non-linear step) and iota (a round constant).
The constants are written out, as in the Keccak reference (keccak.team, "Keccak specifications").
"""

from __future__ import annotations

ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)
# rho's rotation of lane (x, y), as ROTATION[x + 5*y]
ROTATION = (
    0, 1, 62, 28, 27,
    36, 44, 6, 55, 20,
    3, 10, 43, 25, 39,
    41, 45, 15, 21, 8,
    18, 2, 61, 56, 14,
)
MASK64 = (1 << 64) - 1
# pi moves lane (x, y) to (y, 2x + 3y): (source index, destination index, rotation) for rho and pi
_MOVES = tuple((x + 5 * y, y + 5 * ((2 * x + 3 * y) % 5), ROTATION[x + 5 * y])
               for y in range(5) for x in range(5))


def permute(a: list[int]) -> None:
    """Keccak-f[1600] on the 25 lanes `a`, in place (theta and chi written out for speed)."""
    b = [0] * 25
    for rc in ROUND_CONSTANTS:
        c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20]  # theta: the parity of each column...
        c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21]
        c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22]
        c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23]
        c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24]
        d = (c4 ^ (((c1 << 1) | (c1 >> 63)) & MASK64),  # ...mixed into its neighbours
             c0 ^ (((c2 << 1) | (c2 >> 63)) & MASK64),
             c1 ^ (((c3 << 1) | (c3 >> 63)) & MASK64),
             c2 ^ (((c4 << 1) | (c4 >> 63)) & MASK64),
             c3 ^ (((c0 << 1) | (c0 >> 63)) & MASK64))
        for src, dst, rot in _MOVES:  # rho and pi
            lane = a[src] ^ d[src % 5]
            b[dst] = ((lane << rot) | (lane >> (64 - rot))) & MASK64
        for y in (0, 5, 10, 15, 20):  # chi: each bit with the two next in its row
            b0, b1, b2, b3, b4 = b[y], b[y + 1], b[y + 2], b[y + 3], b[y + 4]
            a[y] = b0 ^ (~b1 & b2)
            a[y + 1] = b1 ^ (~b2 & b3)
            a[y + 2] = b2 ^ (~b3 & b4)
            a[y + 3] = b3 ^ (~b4 & b0)
            a[y + 4] = b4 ^ (~b0 & b1)
        a[0] ^= rc  # iota


def sponge(data: bytes, *, rate: int = 136, domain: int = 0x01, out_len: int = 32) -> bytes:
    """Absorb `data` `rate` bytes at a time, then squeeze `out_len` bytes.

    Padding: the domain byte after the data, zeros, and the top bit of the last byte of the block
    set (pad10*1); with 135 bytes of data the domain byte and the final bit share one byte."""
    padded = bytearray(data)
    padded.append(domain)
    padded += bytes(-len(padded) % rate)
    padded[-1] |= 0x80
    lanes = [0] * 25
    for start in range(0, len(padded), rate):
        for i in range(rate // 8):
            lanes[i] ^= int.from_bytes(padded[start + 8 * i:start + 8 * i + 8], "little")
        permute(lanes)
    out = bytearray()
    while True:
        out += b"".join(lane.to_bytes(8, "little") for lane in lanes[:rate // 8])
        if len(out) >= out_len:
            return bytes(out[:out_len])
        permute(lanes)


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak256: the 32-byte digest of `data` (rate 136 bytes, domain byte 0x01)."""
    return sponge(bytes(data))
