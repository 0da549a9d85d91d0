"""Account-chain transaction hashes as text: how each chain writes them, and what is accepted.

EVM chains write a transaction hash as `0x` + 64 hex digits. TRON writes its txid as 64 lower-case
hex digits without `0x` (java-tron's `txID`, tronscan's links), so that is how a TRON hash is shown;
either form is accepted on input for any account chain, since investigators paste both. The store
keeps the 32 bytes, so both are one key.
"""

from __future__ import annotations

import re

from fundtrail.chains.tron.address import is_tron_chain
from fundtrail.errors import UsageError

_HASH = re.compile(r"(0[xX])?([0-9a-fA-F]{64})")


def is_tx_hash(text: str) -> bool:
    """Whether `text` has the shape of an account-chain transaction hash (with or without 0x)."""
    return isinstance(text, str) and _HASH.fullmatch(text.strip()) is not None


def parse_tx_hash(text: str, *, chain: str | None = None, field: str = "txid") -> bytes:
    """The 32 bytes of a transaction hash typed as `0x…` or bare hex; UsageError naming `field`."""
    m = _HASH.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        shown = text if isinstance(text, str) else type(text).__name__
        form = "64 hex digits, with or without 0x" if is_tron_chain(chain) else "0x and 64 hex digits"
        raise UsageError(f"{field} {shown!r} is not a transaction id of {chain or 'an account chain'} ({form})",
                         field=field)
    return bytes.fromhex(m.group(2))


def tx_hash_text(raw: bytes, *, chain: str | None = None, network: str | None = None) -> str:
    """The text a stored hash is shown as: bare lower-case hex on TRON chains, else `0x…`."""
    hexed = bytes(raw).hex()
    return hexed if is_tron_chain(chain, network) else "0x" + hexed
