"""Stablecoin issuers' freeze actions decoded from event logs (EVM chains and TRON's TVM).

Tether (USDT on Ethereum and TRON) emits `AddedBlackList(address)`, `RemovedBlackList(address)` and
`DestroyedBlackFunds(address,uint256)` with the address in the *data*, not a topic; Circle (USDC)
emits `Blacklisted(address indexed)` and `UnBlacklisted(address indexed)`. A freeze is a fact an
investigator cites ("frozen by the issuer at block X"); which contract emitted it is kept with it,
because anyone can emit any event: whether the emitter is a known issuer is decided by the reader.
Like `tokens`, a log without the shape its signature implies yields nothing, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from fundtrail.chains.ethereum.keccak import keccak256

ADDED_BLACK_LIST = keccak256(b"AddedBlackList(address)")
REMOVED_BLACK_LIST = keccak256(b"RemovedBlackList(address)")
DESTROYED_BLACK_FUNDS = keccak256(b"DestroyedBlackFunds(address,uint256)")
BLACKLISTED = keccak256(b"Blacklisted(address)")
UN_BLACKLISTED = keccak256(b"UnBlacklisted(address)")

#: action names, as stored in the `freezes` table
ACTIONS = ("blacklisted", "unblacklisted", "destroyed")

_ZERO12 = bytes(12)
_IN_DATA = {ADDED_BLACK_LIST: "blacklisted", REMOVED_BLACK_LIST: "unblacklisted"}
_IN_TOPIC = {BLACKLISTED: "blacklisted", UN_BLACKLISTED: "unblacklisted"}
FREEZE_TOPICS = frozenset({*_IN_DATA, *_IN_TOPIC, DESTROYED_BLACK_FUNDS})


@dataclass(frozen=True)
class FreezeEvent:
    """One freeze action: `address` the 20-byte account; `amount` in the token's base units (only
    `destroyed` gives one)."""

    action: str
    address: bytes
    amount: int | None = None


def _word_address(word: bytes) -> bytes | None:
    return word[12:] if len(word) == 32 and word[:12] == _ZERO12 else None


def decode_freeze(topics: list[bytes], data: bytes) -> FreezeEvent | None:
    """The freeze action a log records, or None (not a freeze event, or malformed)."""
    if not topics or not isinstance(topics[0], bytes):
        return None
    sig = topics[0]
    if sig in _IN_DATA:
        if len(topics) != 1 or len(data) != 32:
            return None
        addr = _word_address(data)
        return FreezeEvent(_IN_DATA[sig], addr) if addr is not None else None
    if sig == DESTROYED_BLACK_FUNDS:
        if len(topics) != 1 or len(data) != 64:
            return None
        addr = _word_address(data[:32])
        return FreezeEvent("destroyed", addr, int.from_bytes(data[32:], "big")) if addr is not None else None
    if sig in _IN_TOPIC:
        if len(topics) != 2 or data:
            return None
        addr = _word_address(topics[1]) if isinstance(topics[1], bytes) else None
        return FreezeEvent(_IN_TOPIC[sig], addr) if addr is not None else None
    return None
