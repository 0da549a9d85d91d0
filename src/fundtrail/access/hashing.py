"""Slow salted hashes of secrets (API token and web session secrets, user passwords).

A token or session secret is 256 random bits, so a fast hash would already resist guessing; the
slow hash (scrypt, n=2**14, r=8, p=1, 16-byte salt) protects a stolen catalog from offline attack
on the weaker secrets stored here too, the users' passwords. The parameters are stored with each
hash so they can be raised without invalidating old hashes.
Format: `scrypt$n=16384,r=8,p=1$<salt b64>$<hash b64>`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os

_N, _R, _P, _DKLEN, _SALT = 2**14, 8, 1, 32, 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_secret(secret: str) -> str:
    """The stored form of `secret`: algorithm, parameters, salt and hash."""
    salt = os.urandom(_SALT)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_DKLEN)
    return f"scrypt$n={_N},r={_R},p={_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """True when `secret` hashes to `stored` (compared in constant time); False for a stored
    value this version cannot read."""
    try:
        algo, params, salt_b64, hash_b64 = stored.split("$")
        if algo != "scrypt":
            return False
        p = dict(item.split("=", 1) for item in params.split(","))
        n, r, par = int(p["n"]), int(p["r"]), int(p["p"])
        salt, want = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
    except (ValueError, KeyError):
        return False
    if n > 2**20 or r > 32 or par > 16:  # a forged row must not make us burn memory and CPU
        return False
    got = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=par, dklen=len(want),
                         maxmem=256 * 1024 * 1024)
    return hmac.compare_digest(got, want)


@functools.cache
def dummy_hash() -> str:
    """A hash of nothing in particular, verified against when a token or session id or a user name
    is unknown (or the user has no password) so that it costs as much time as a wrong secret (no
    timing hint about which ids or names exist).
    Made on first use: importing this module must not cost a slow hash."""
    return hash_secret(base64.urlsafe_b64encode(os.urandom(32)).decode())
