"""Public-key recovery on secp256k1 (Ethereum's `ecrecover`): who signed a transaction.

An Ethereum transaction carries no sender field: the sender is the address of the public key that
produced its signature (r, s) over the transaction's signing hash, and the key can be recovered from
the signature and one parity bit (SEC 1 v2, section 4.1.6). The address is the last 20 bytes of
keccak256 of the 64-byte public key. Integer arithmetic only; Jacobian coordinates avoid a modular
inverse per step. Recovery proves that whoever holds that key signed these exact bytes.
"""

from __future__ import annotations

from .bitcoin import VerifyError
from .keccak import keccak256

# The curve y^2 = x^3 + 7 over the field of P, base point G of prime order N (SEC 2, section 2.4.1).
P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
     0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)

Jacobian = tuple[int, int, int]  # (X, Y, Z) stands for (X/Z^2, Y/Z^3); Z == 0 is the point at infinity
INFINITY: Jacobian = (0, 1, 0)


def _double(p: Jacobian) -> Jacobian:
    x, y, z = p
    if z == 0 or y == 0:
        return INFINITY
    s = 4 * x * y * y % P
    m = 3 * x * x % P
    x3 = (m * m - 2 * s) % P
    return x3, (m * (s - x3) - 8 * pow(y, 4, P)) % P, 2 * y * z % P


def _add(p: Jacobian, q: Jacobian) -> Jacobian:
    if p[2] == 0:
        return q
    if q[2] == 0:
        return p
    z1z1, z2z2 = p[2] * p[2] % P, q[2] * q[2] % P
    u1, u2 = p[0] * z2z2 % P, q[0] * z1z1 % P
    s1, s2 = p[1] * z2z2 * q[2] % P, q[1] * z1z1 * p[2] % P
    if u1 == u2:
        return _double(p) if s1 == s2 else INFINITY
    h, r = (u2 - u1) % P, (s2 - s1) % P
    hh = h * h % P
    hhh = h * hh % P
    x3 = (r * r - hhh - 2 * u1 * hh) % P
    return x3, (r * (u1 * hh - x3) - s1 * hhh) % P, h * p[2] * q[2] % P


def _combine(a: int, p: Jacobian, b: int, q: Jacobian) -> Jacobian:
    """a*p + b*q in one pass over the bits (Shamir's trick)."""
    pq = _add(p, q)
    out = INFINITY
    for bit in range(max(a.bit_length(), b.bit_length()) - 1, -1, -1):
        out = _double(out)
        pick = ((a >> bit) & 1, (b >> bit) & 1)
        if pick == (1, 1):
            out = _add(out, pq)
        elif pick == (1, 0):
            out = _add(out, p)
        elif pick == (0, 1):
            out = _add(out, q)
    return out


def _affine(p: Jacobian) -> tuple[int, int]:
    zinv = pow(p[2], -1, P)
    return p[0] * zinv * zinv % P, p[1] * zinv * zinv * zinv % P


def recover_public_key(msg_hash: bytes, parity: int, r: int, s: int) -> bytes:
    """The 64-byte public key (x || y) that signed `msg_hash` with (r, s) and y-parity `parity`."""
    if parity not in (0, 1):
        raise VerifyError(f"signature: y parity {parity} is not 0 or 1")
    if not (0 < r < N and 0 < s < N):
        raise VerifyError("signature: r or s out of range")
    # R, the signer's nonce point: x = r (r < P - N here), y from the curve with the given parity
    rhs = (pow(r, 3, P) + 7) % P
    y = pow(rhs, (P + 1) // 4, P)
    if y * y % P != rhs:
        raise VerifyError("signature: r is not the x coordinate of a curve point")
    if y & 1 != parity:
        y = P - y
    e = int.from_bytes(msg_hash, "big") % N
    rinv = pow(r, -1, N)
    # Q = r^-1 (s R - e G)
    q = _combine(s * rinv % N, (r, y, 1), (-e * rinv) % N, (G[0], G[1], 1))
    if q[2] == 0:
        raise VerifyError("signature: recovers the point at infinity")
    x, yq = _affine(q)
    return x.to_bytes(32, "big") + yq.to_bytes(32, "big")


def recover_address(msg_hash: bytes, parity: int, r: int, s: int) -> bytes:
    """The 20-byte Ethereum address that signed `msg_hash`: keccak256(public key)[12:]."""
    return keccak256(recover_public_key(msg_hash, parity, r, s))[12:]


def public_key(secret: int) -> bytes:
    """The 64-byte public key of a private key (for tests: secret * G)."""
    if not 0 < secret < N:
        raise VerifyError("secret key out of range")
    x, y = _affine(_combine(secret, (G[0], G[1], 1), 0, INFINITY))
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")
