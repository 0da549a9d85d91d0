"""Header validation during ingest: proof of work and difficulty, as Bitcoin Core checks them.

Every header's hash is checked against its own target before the header may take part in ordering
(`screen`), so an altered block can never become the tip nor push real blocks off the best chain.
The target itself is checked against the network's difficulty rules wherever the parent is known:
from the blocks of this run or from the store (`DifficultyChecker`). Where an ancestor the rule needs
is not known (a range that starts mid-period, an isolated block), the weaker checks that need only
the parent are made (`pow.permitted_transition`); a block whose parent is unknown is checked against
its own target only. docs/architecture.md, "How a block becomes rows", lists what is checked where.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fundtrail.chains.bitcoin.header import Header
from fundtrail.chains.bitcoin.params import Network
from fundtrail.chains.bitcoin.pow import (
    RULES,
    Link,
    next_bits,
    own_pow_error,
    permitted_transition,
    timewarp_error,
)
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.chainorder import Candidate, Ordered

#: internal switch for `benchmarks/bench_ingest_bitcoin.py` only: measure ingest without the checks
VALIDATE = True


@dataclass(frozen=True)
class Known:
    """A header the checker knows: its height (None if unknown), bits, time and parent."""

    height: int | None
    bits: int
    time: int
    prev: bytes


StoredLookup = Callable[[bytes], "tuple[Known | None, Callable[[int], Link | None]]"]


class DifficultyChecker:
    """Checks headers against their own target and, given a known parent, the difficulty rules.

    `stored(hash)` answers for blocks already in the store: their header fields and, for the
    store's best chain, a lookup of ancestors by height.
    """

    def __init__(self, network: Network, stored: StoredLookup | None = None) -> None:
        self.network = network
        self.rules = RULES[network.name]
        self.known: dict[bytes, Known] = {}
        self._stored = stored
        self._stored_cache: dict[bytes, tuple[Known | None, Callable[[int], Link | None]]] = {}

    def own_error(self, header: Header) -> str | None:
        return own_pow_error(header.hash, header.bits, self.rules, self.network.name)

    def _lookup(self, block_hash: bytes) -> tuple[Known | None, Callable[[int], Link | None]]:
        k = self.known.get(block_hash)
        if k is not None:
            return k, lambda h: None
        if self._stored is None:
            return None, lambda h: None
        if block_hash not in self._stored_cache:
            self._stored_cache[block_hash] = self._stored(block_hash)
        return self._stored_cache[block_hash]

    def _ancestor(self, start: bytes) -> Callable[[int], Link | None]:
        """Ancestors of `start` by height, asked for in falling heights (as the rules do): along
        the parent links of this run, then from the store's best chain."""
        pos = [start]

        def at(height: int) -> Link | None:
            while True:
                k = self.known.get(pos[0])
                if k is None:
                    sk, stored_at = self._lookup(pos[0])
                    if sk is None or sk.height is None or height > sk.height:
                        return None
                    return stored_at(height)
                if k.height is None or k.height < height:
                    return None
                if k.height == height:
                    return Link(k.height, k.bits, k.time)
                pos[0] = k.prev
        return at

    def check(self, header: Header, height: int | None) -> str | None:
        """Why the header is invalid, or None; remembers it as known when it is valid."""
        reason = self.own_error(header)
        if reason is None:
            reason = self._contextual(header, height)
        if reason is None:
            self.known[header.hash] = Known(height, header.bits, header.time, header.prev_hash)
        return reason

    def _contextual(self, header: Header, height: int | None) -> str | None:
        parent, _ = self._lookup(header.prev_hash)
        if parent is None:
            return None  # parent unknown: only the header's own proof of work can be checked
        if height is None or parent.height is None:
            if not permitted_transition(self.rules, None, parent.bits, header.bits):
                return (f"bits {header.bits:#010x} are not a permitted difficulty change from the "
                        f"parent's {parent.bits:#010x}")
            return None
        warp = timewarp_error(self.rules, height, parent.time, header.time)
        if warp:
            return warp
        plink = Link(parent.height, parent.bits, parent.time)
        want = next_bits(self.rules, plink, header.time, self._ancestor(header.prev_hash))
        if want is None:  # an ancestor the retarget needs is not known: check what can be checked
            if not permitted_transition(self.rules, height, parent.bits, header.bits):
                return (f"bits {header.bits:#010x} at height {height} are not a permitted difficulty "
                        f"change from the parent's {parent.bits:#010x}")
            return None
        if want != header.bits:
            return (f"bits {header.bits:#010x} at height {height} do not match the difficulty rules of "
                    f"{self.network.name} (expected {want:#010x})")
        return None


def pow_message(origin: str, header: Header, reason: str) -> str:
    """The one-line error for a block that fails a header check: where, which block, why."""
    return f"{origin}: block {header.hash_hex}: {reason}; the block is not stored"


def screen(candidates: list[Candidate], checker: DifficultyChecker,
           order: Callable[[list[Candidate]], Ordered],
           origin: Callable[[Candidate], str]) -> tuple[Ordered, list[DataError]]:
    """Order the candidates leaving out every block that fails a header check and its descendants.

    Blocks failing their own proof of work are dropped before ordering; the best chain is then
    checked against the difficulty rules and, if a block fails, ordered again without it and its
    descendants (Core marks them failed and falls back to the best valid chain).
    """
    errors: list[DataError] = []
    good: list[Candidate] = []
    if not VALIDATE:
        return order(candidates), errors
    for c in candidates:
        reason = checker.own_error(c.header)
        if reason:
            errors.append(DataError(pow_message(origin(c), c.header, reason)))
        else:
            good.append(c)
    base_known = dict(checker.known)
    for _ in range(64):
        ordered = order(good)
        checker.known = dict(base_known)
        failed: list[Candidate] = []
        for cand, height in ordered.blocks:
            reason = checker._contextual(cand.header, height)
            if reason:
                errors.append(DataError(pow_message(origin(cand), cand.header, reason)))
                failed.append(cand)
            else:
                checker.known[cand.header.hash] = Known(height, cand.header.bits, cand.header.time,
                                                        cand.header.prev_hash)
        if not failed:
            checker.known = dict(base_known)
            return ordered, errors
        drop = _descendants(good, {c.header.hash for c in failed})
        for c in good:
            if c.header.hash in drop and c not in failed:
                errors.append(DataError(pow_message(origin(c), c.header,
                                                    "descends from a block that failed validation")))
        good = [c for c in good if c.header.hash not in drop]
    raise DataError("header validation did not settle after 64 rounds; the block files are hostile")


def _descendants(cands: Iterable[Candidate], roots: set[bytes]) -> set[bytes]:
    children: dict[bytes, list[bytes]] = {}
    for c in cands:
        children.setdefault(c.header.prev_hash, []).append(c.header.hash)
    out, stack = set(roots), list(roots)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def store_lookup(store, chain: str, is_stored: Callable[[bytes], bool],
                 hash_at: Callable[[int], bytes | None]) -> StoredLookup:
    """Header fields of stored blocks, and ancestors on the store's best chain, for the checker.

    Queried lazily (most runs need only the stored tip) and a period at a time for ancestors.
    """
    view = f"{chain.replace('-', '_')}_blocks"
    links: dict[int, Link] = {}

    def stored_at(height: int) -> Link | None:
        if height not in links:
            lo = max(0, height - 2015)
            with store.query() as con:
                rows = con.execute(f"SELECT height, bits, time FROM {view} WHERE height BETWEEN ? AND ?",
                                   [lo, height]).fetchall()
            links.update({int(h): Link(int(h), int(b), int(t)) for h, b, t in rows})
        return links.get(height)

    def lookup(block_hash: bytes) -> tuple[Known | None, Callable[[int], Link | None]]:
        if not is_stored(block_hash):
            return None, lambda h: None
        with store.query() as con:
            row = con.execute(f"SELECT height, bits, time, prev_hash FROM {view} WHERE hash = ?",
                              [block_hash]).fetchone()
        if row is None:
            return None, lambda h: None
        height = None if row[0] is None else int(row[0])
        k = Known(height, int(row[1]), int(row[2]), bytes(row[3]))
        on_best = height is not None and hash_at(height) == block_hash
        return k, (stored_at if on_best else (lambda h: None))

    return lookup
