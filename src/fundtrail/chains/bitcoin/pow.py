"""Proof of work as Bitcoin Core checks it: a header's hash against its own target, and the target
(`bits`) against the network's difficulty rules (Core's `pow.cpp`).

A store is evidence, so a block whose header was altered (one flipped nonce bit) or forged at an
easier difficulty must be rejected before it can become part of a chain. Pure functions over
integers: the caller supplies the parent and the ancestors it knows; where an ancestor needed for a
retarget is not known, `next_bits` returns None and the caller falls back to `permitted_transition`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

INTERVAL = 2016  # blocks between retargets
TIMESPAN = 14 * 24 * 3600  # target time of one interval
SPACING = 600  # target time between blocks
MAX_TIMEWARP = 600  # BIP94: the first block of a period may be at most this much older than its parent
_U256 = (1 << 256) - 1


@dataclass(frozen=True)
class PowRules:
    """The consensus parameters of one network's proof of work (Core's Consensus::Params)."""

    pow_limit: int
    min_difficulty_blocks: bool  # testnet/regtest: a block 20 minutes late may use the pow limit
    no_retargeting: bool  # regtest: difficulty never changes
    bip94: bool  # testnet4: retarget from the period's first block; time-warp rule

    @property
    def limit_bits(self) -> int:
        return encode_compact(self.pow_limit)


_MAIN_LIMIT = (1 << 224) - 1  # 00000000ffff...ff
RULES: dict[str, PowRules] = {
    "mainnet": PowRules(_MAIN_LIMIT, False, False, False),
    "testnet": PowRules(_MAIN_LIMIT, True, False, False),
    "testnet4": PowRules(_MAIN_LIMIT, True, False, True),
    "signet": PowRules(0x0377AE << 216, False, False, False),
    "regtest": PowRules((1 << 255) - 1, True, True, False),
}


def decode_compact(bits: int) -> tuple[int, bool, bool]:
    """Core's arith_uint256::SetCompact: (target, negative, overflow)."""
    size = bits >> 24
    word = bits & 0x007FFFFF
    if size <= 3:
        value = word >> (8 * (3 - size))
    else:
        value = word << (8 * (size - 3))
    negative = word != 0 and (bits & 0x00800000) != 0
    overflow = word != 0 and (size > 34 or (word > 0xFF and size > 33) or (word > 0xFFFF and size > 32))
    return value & _U256, negative, overflow


def encode_compact(target: int) -> int:
    """Core's arith_uint256::GetCompact (never sets the sign bit)."""
    size = (target.bit_length() + 7) // 8
    if size <= 3:
        compact = (target << (8 * (3 - size))) & 0xFFFFFFFF
    else:
        compact = target >> (8 * (size - 3))
    if compact & 0x00800000:
        compact >>= 8
        size += 1
    return (compact | (size << 24)) & 0xFFFFFFFF


def own_pow_error(block_hash: bytes, bits: int, rules: PowRules, network: str) -> str | None:
    """Why the hash does not satisfy its own `bits` (Core's CheckProofOfWork), or None if it does."""
    target, negative, overflow = decode_compact(bits)
    if negative or overflow or target == 0:
        return f"bits {bits:#010x} do not encode a valid target"
    if target > rules.pow_limit:
        return f"bits {bits:#010x} are easier than the {network} proof-of-work limit"
    if int.from_bytes(block_hash, "little") > target:
        return f"hash is above the target of its bits {bits:#010x} (proof of work fails)"
    return None


@dataclass(frozen=True)
class Link:
    """What the difficulty rules need of a block: its height, bits and time."""

    height: int
    bits: int
    time: int


Ancestor = Callable[[int], "Link | None"]  # the parent's ancestor at a height, if known


def next_bits(rules: PowRules, parent: Link, new_time: int, ancestor: Ancestor) -> int | None:
    """The bits a child of `parent` must carry (Core's GetNextWorkRequired); None if an ancestor
    the rule needs is not known."""
    height = parent.height + 1
    if height % INTERVAL != 0:
        if not rules.min_difficulty_blocks:
            return parent.bits
        if new_time > parent.time + 2 * SPACING:
            return rules.limit_bits
        walk: Link | None = parent
        while walk is not None and walk.height > 0 and walk.height % INTERVAL != 0 \
                and walk.bits == rules.limit_bits:
            walk = ancestor(walk.height - 1)
        return None if walk is None else walk.bits
    if rules.no_retargeting:
        return parent.bits
    first = ancestor(height - INTERVAL)
    if first is None:
        return None
    return retarget(rules, parent, first)


def retarget(rules: PowRules, last: Link, first: Link) -> int:
    """Core's CalculateNextWorkRequired: scale the target by the period's actual timespan, clamped
    to 4x either way, never easier than the pow limit."""
    span = min(max(last.time - first.time, TIMESPAN // 4), TIMESPAN * 4)
    base = decode_compact(first.bits if rules.bip94 else last.bits)[0]
    new = (base * span) & _U256
    new //= TIMESPAN
    return encode_compact(min(new, rules.pow_limit))


def permitted_transition(rules: PowRules, height: int | None, old_bits: int, new_bits: int) -> bool:
    """Could `new_bits` follow `old_bits` at all (Core's PermittedDifficultyTransition)? Used where
    the ancestors a full check needs are not known; `height` None means not known either."""
    if rules.min_difficulty_blocks:
        return True
    if height is not None and height % INTERVAL != 0:
        return old_bits == new_bits
    if old_bits == new_bits:
        return True
    old = decode_compact(old_bits)[0]
    largest = min(old * 4, rules.pow_limit)
    smallest = old // 4
    new = decode_compact(new_bits)[0]
    # compare at compact precision, as Core does
    return decode_compact(encode_compact(smallest))[0] <= new <= decode_compact(encode_compact(largest))[0]


def timewarp_error(rules: PowRules, height: int, parent_time: int, new_time: int) -> str | None:
    """BIP94 (testnet4): the first block of a period may not be older than its parent by > 10 min."""
    if rules.bip94 and height % INTERVAL == 0 and new_time < parent_time - MAX_TIMEWARP:
        return f"time {new_time} breaks the BIP94 time-warp rule (parent time {parent_time})"
    return None
