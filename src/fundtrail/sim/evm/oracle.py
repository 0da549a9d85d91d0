"""Exact taint answers for an account-model case: poison, haircut and address-level FIFO.

The input is every value movement of the chain in chain order (fees included), the seed movements
whose whole value is dirty, the *followed* addresses (the criminal's own and the mixing pools:
taint held there moves on with what they send) and the *converters* (DEX pairs: what they pay out
in a transaction carries what was paid in to them in the same transaction). A movement from any
other address is clean; a dirty movement that reaches an address not followed is a *leaf hit*
(an exchange deposit, the bridge, a relayer, another pool customer, the fee sink) and stops there.

Policies (docs/simulator-evm.md gives them in full):
- poison: once any dirty value reaches an address (per asset), everything it sends is dirty, in full;
- haircut: each address holds a dirty share of its balance per asset; a movement out takes
  dirty = amount * dirty_held / balance (exact fractions);
- fifo (Clayton's rule per address): each address's incoming value per asset is a queue of pieces in
  arrival order; a movement out takes pieces from the head, so it is dirty exactly where it
  takes dirty pieces. A converter scales the input's piece sequence to the output amount.

This is an oracle for tests and answer keys, written for clarity, not speed: it is independent of
fundtrail's trace code by construction (it lives in the simulator and reads the simulator's own
movements).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from fundtrail.errors import DataError

POLICIES = ("poison", "haircut", "fifo")
FEE_SINK = "fee"


@dataclass(frozen=True)
class Transfer:
    """One value movement; `to` None for a fee (the miner is outside the case)."""

    seq: int
    tx: str
    kind: str
    frm: str
    to: str | None
    asset: str
    amount: int


@dataclass
class PolicyResult:
    """Where the dirty value went: leaf hits (movement, dirty amount) and what followed addresses hold."""

    policy: str
    hits: list[tuple[Transfer, Fraction]]
    held: dict[tuple[str, str], Fraction]
    injected: dict[str, Fraction]


class _Poison:
    def __init__(self) -> None:
        self.dirty: set[tuple[str, str]] = set()

    def clean(self, amount: int) -> Any:
        return False

    def full(self, amount: int) -> Any:
        return True

    def take(self, key: tuple[str, str], amount: int) -> Any:
        return key in self.dirty

    def put(self, key: tuple[str, str], part: Any, amount: int) -> None:
        if part:
            self.dirty.add(key)

    def amount_dirty(self, part: Any, amount: int) -> Fraction:
        return Fraction(amount) if part else Fraction(0)

    def merge(self, parts: list[tuple[Any, int]]) -> tuple[Any, int]:
        return any(p for p, _ in parts), sum(a for _, a in parts)

    def convert(self, part: Any, amount_in: int, amount_out: int) -> Any:
        return part

    def held(self, key: tuple[str, str], balance: int) -> Fraction:
        return Fraction(balance) if key in self.dirty else Fraction(0)


class _Haircut:
    def __init__(self) -> None:
        self.balance: dict[tuple[str, str], int] = defaultdict(int)
        self.dirty: dict[tuple[str, str], Fraction] = defaultdict(Fraction)

    def clean(self, amount: int) -> Any:
        return Fraction(0)

    def full(self, amount: int) -> Any:
        return Fraction(amount)

    def take(self, key: tuple[str, str], amount: int) -> Any:
        bal = self.balance[key]
        if amount > bal:
            raise DataError(f"oracle: {key[0]} sends {amount} {key[1]} holding {bal}")
        share = self.dirty[key] * amount / bal if bal else Fraction(0)
        self.balance[key] = bal - amount
        self.dirty[key] -= share
        return share

    def put(self, key: tuple[str, str], part: Any, amount: int) -> None:
        self.balance[key] += amount
        self.dirty[key] += part

    def amount_dirty(self, part: Any, amount: int) -> Fraction:
        return part

    def merge(self, parts: list[tuple[Any, int]]) -> tuple[Any, int]:
        return sum((p for p, _ in parts), Fraction(0)), sum(a for _, a in parts)

    def convert(self, part: Any, amount_in: int, amount_out: int) -> Any:
        return part * amount_out / amount_in if amount_in else Fraction(0)

    def held(self, key: tuple[str, str], balance: int) -> Fraction:
        return self.dirty[key]


class _Fifo:
    """Pieces are [amount (Fraction), dirty (bool)]; adjacent pieces of one kind are merged."""

    def __init__(self) -> None:
        self.queue: dict[tuple[str, str], deque] = defaultdict(deque)

    def clean(self, amount: int) -> Any:
        return [(Fraction(amount), False)] if amount else []

    def full(self, amount: int) -> Any:
        return [(Fraction(amount), True)] if amount else []

    def take(self, key: tuple[str, str], amount: int) -> Any:
        q, need = self.queue[key], Fraction(amount)
        out: list[tuple[Fraction, bool]] = []
        while need > 0:
            if not q:
                raise DataError(f"oracle: {key[0]} sends more {key[1]} than it received")
            size, dirty = q[0]
            if size <= need:
                q.popleft()
                _append(out, size, dirty)
                need -= size
            else:
                q[0] = (size - need, dirty)
                _append(out, need, dirty)
                need = Fraction(0)
        return out

    def put(self, key: tuple[str, str], part: Any, amount: int) -> None:
        q = self.queue[key]
        for size, dirty in part:
            if q and q[-1][1] == dirty:
                q[-1] = (q[-1][0] + size, dirty)
            else:
                q.append((size, dirty))

    def amount_dirty(self, part: Any, amount: int) -> Fraction:
        return sum((s for s, d in part if d), Fraction(0))

    def merge(self, parts: list[tuple[Any, int]]) -> tuple[Any, int]:
        out: list = []
        for p, _ in parts:
            for size, dirty in p:
                _append(out, size, dirty)
        return out, sum(a for _, a in parts)

    def convert(self, part: Any, amount_in: int, amount_out: int) -> Any:
        return [(s * amount_out / amount_in, d) for s, d in part] if amount_in else []

    def held(self, key: tuple[str, str], balance: int) -> Fraction:
        return sum((s for s, d in self.queue[key] if d), Fraction(0))


def _append(pieces: list, size: Fraction, dirty: bool) -> None:
    if pieces and pieces[-1][1] == dirty:
        pieces[-1] = (pieces[-1][0] + size, dirty)
    else:
        pieces.append((size, dirty))


class _State(Protocol):
    """What `replay` asks of a policy's state (`_Poison`, `_Haircut`, `_Fifo`)."""

    def clean(self, amount: int) -> Any: ...
    def merge(self, parts: list[tuple[Any, int]]) -> tuple[Any, int]: ...
    def convert(self, part: Any, amount_in: int, amount_out: int) -> Any: ...
    def held(self, key: tuple[str, str], balance: int) -> Fraction: ...


_STATES: dict[str, type[_State]] = {"poison": _Poison, "haircut": _Haircut, "fifo": _Fifo}


def trace_policy(policy: str, transfers: Sequence[Transfer], seeds: Iterable[int],
                 followed: Iterable[str], converters: Iterable[str] = ()) -> PolicyResult:
    """Follow the seed movements' value through `transfers` (chain order) under `policy`."""
    if policy not in _STATES:
        raise DataError(f"unknown taint policy {policy!r}; known: {', '.join(POLICIES)}")
    state = _STATES[policy]()
    seeds, followed, converters = set(seeds), set(followed), set(converters)
    balance: dict[tuple[str, str], int] = defaultdict(int)
    hits: list[tuple[Transfer, Fraction]] = []
    injected: dict[str, Fraction] = defaultdict(Fraction)
    for group in _by_tx(transfers):
        converted: dict[str, list[tuple[Any, int]]] = defaultdict(list)  # converter -> inputs
        outputs = [t for t in group if t.frm in converters]
        for t in group:
            if t.frm in converters:
                continue
            part = _outgoing(state, t, seeds, followed, balance, injected)
            if t.to in converters:
                converted[t.to].append((part, t.amount))
            _arrive(state, t, part, followed, balance, hits)
        for t in outputs:
            inputs = converted.get(t.frm)
            if inputs:
                merged, total = state.merge(inputs)
                part = state.convert(merged, total, t.amount)
            else:
                part = state.clean(t.amount)
            _arrive(state, t, part, followed, balance, hits)
    held = {key: state.held(key, bal) for key, bal in sorted(balance.items())
            if key[0] in followed}
    return PolicyResult(policy, hits, {k: v for k, v in held.items() if v}, dict(injected))


def _by_tx(transfers: Sequence[Transfer]) -> Iterable[list[Transfer]]:
    group: list[Transfer] = []
    for t in transfers:
        if group and t.tx != group[-1].tx:
            yield group
            group = []
        group.append(t)
    if group:
        yield group


def _outgoing(state: Any, t: Transfer, seeds: set[int], followed: set[str],
              balance: dict, injected: dict) -> Any:
    if t.frm in followed:
        key = (t.frm, t.asset)
        part = state.take(key, t.amount)
        balance[key] -= t.amount
        if t.seq in seeds:
            raise DataError(f"oracle: seed movement {t.seq} starts at a followed address")
        return part
    if t.seq in seeds:
        injected[t.asset] += t.amount
        return state.full(t.amount)
    return state.clean(t.amount)


def _arrive(state: Any, t: Transfer, part: Any, followed: set[str], balance: dict,
            hits: list) -> None:
    if t.to is not None and t.to in followed:
        key = (t.to, t.asset)
        state.put(key, part, t.amount)
        balance[key] += t.amount
        return
    dirty = state.amount_dirty(part, t.amount)
    if dirty:
        hits.append((t, dirty))


def fraction_text(value: Fraction) -> str:
    """A fraction as "num/den", or the integer as a string when it is whole."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
