"""Taint policies behind one interface: how value on a transaction's inputs maps onto its outputs.

A taint *state* is what a policy carries on one output (`None` = clean, so clean value costs
nothing): poison carries the whole output value, haircut an exact `Fraction` amount, FIFO the
tainted intervals inside the output (so the position of tainted satoshi is kept across hops).
Forward, a transaction's input states become output states and a fee state; backward, output
states become input states (which part of each input funded the traced outputs). See
docs/taint-policies.md for the definitions, their sources and when each is appropriate.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Protocol

from fundtrail.errors import UsageError

Amount = int | Fraction
Segments = tuple[tuple[int, int], ...]


class TaintPolicy(Protocol):
    """One taint convention, applied transaction by transaction."""

    name: str

    def seed(self, value: int) -> Any:
        """State of an output whose whole value is traced."""

    def forward(self, ins: Sequence[tuple[int, Any]], outs: Sequence[int]) -> tuple[list[Any], Any]:
        """Output states and fee state from (value, state) per input."""

    def backward(self, ins: Sequence[int], outs: Sequence[tuple[int, Any]]) -> list[Any]:
        """Input states (which part of each input funded the traced outputs) from output states."""

    def amount(self, state: Any) -> Amount:
        """Traced value a state stands for."""


class Poison:
    """Any contact taints everything: a transaction with a tainted input taints all its outputs."""

    name = "poison"

    def seed(self, value: int) -> int:
        return value

    def forward(self, ins: Sequence[tuple[int, Any]], outs: Sequence[int]) -> tuple[list[Any], Any]:
        if all(s is None for _, s in ins):
            return [None] * len(outs), None
        return list(outs), sum(v for v, _ in ins) - sum(outs)

    def backward(self, ins: Sequence[int], outs: Sequence[tuple[int, Any]]) -> list[Any]:
        if all(s is None for _, s in outs):
            return [None] * len(ins)
        return list(ins)

    def amount(self, state: int) -> int:
        return state


class Haircut:
    """Pro rata: every output (and the fee) carries the tainted share of the inputs.

    Two arithmetics. `exact=True`: `Fraction`s, exact but unbounded: every merge of tainted inputs
    with different histories multiplies denominators, so big traces slow down badly. The default
    keeps amounts as integers in units of 2^-128 satoshi, each output's share rounded to nearest
    and the fee taking the remainder, so the traced total is conserved exactly in those units and
    each amount is within (transactions traced) x 2^-128 sat of the exact value; `amount_sat`
    ignores differences under 2^-64 sat so that an exact whole satoshi is never floored one lower.
    """

    name = "haircut"
    GRID = 1 << 128

    def __init__(self, exact: bool = False) -> None:
        self.exact = exact

    def seed(self, value: int) -> Fraction | int:
        return Fraction(value) if self.exact else value * self.GRID

    def forward(self, ins: Sequence[tuple[int, Any]], outs: Sequence[int]) -> tuple[list[Any], Any]:
        if self.exact:
            tainted = sum((s for _, s in ins if s is not None), Fraction(0))
            if tainted == 0:
                return [None] * len(outs), None
            total_in = sum(v for v, _ in ins)
            share = tainted / total_in
            return [v * share if v else None for v in outs], (total_in - sum(outs)) * share
        tainted_g = sum(s for _, s in ins if s is not None)
        if tainted_g == 0:
            return [None] * len(outs), None
        total_in = sum(v for v, _ in ins)
        states = [(v * tainted_g * 2 + total_in) // (2 * total_in) if v else None for v in outs]
        fee = tainted_g - sum(x for x in states if x)
        return [x or None for x in states], fee or None

    def backward(self, ins: Sequence[int], outs: Sequence[tuple[int, Any]]) -> list[Any]:
        total_in = sum(ins)
        if self.exact:
            traced = sum((s for _, s in outs if s is not None), Fraction(0))
            if traced == 0 or total_in == 0:
                return [None] * len(ins)
            return [traced * v / total_in if v else None for v in ins]
        traced_g = sum(s for _, s in outs if s is not None)
        if traced_g == 0 or total_in == 0:
            return [None] * len(ins)
        states = [(traced_g * v * 2 + total_in) // (2 * total_in) if v else None for v in ins]
        last = max((i for i, x in enumerate(states) if x), default=None)
        if last is not None:  # conserve exactly: the rounding remainder goes to the last funded input
            states[last] += traced_g - sum(x for x in states if x)
        return [x or None for x in states]

    def amount(self, state: Amount) -> Amount:
        # exact: the state is already the amount (a Fraction); grid: integer units of 2^-128 sat
        return state if self.exact else Fraction(state, self.GRID)


def whole_sat(amount: int | Fraction) -> int:
    """Whole satoshi of an amount: rounded down, but an amount within 2^-64 sat under a whole
    satoshi counts as that satoshi (grid-rounded haircut amounts; see `Haircut`)."""
    if isinstance(amount, Fraction):
        return int(amount + Fraction(1, 1 << 64))
    return int(amount)


class Fifo:
    """Clayton's rule: input value laid end to end in input order, outputs take it in output order."""

    name = "fifo"

    def seed(self, value: int) -> Segments:
        return ((0, value),) if value else ()

    def forward(self, ins: Sequence[tuple[int, Any]], outs: Sequence[int]) -> tuple[list[Any], Any]:
        line: list[tuple[int, int]] = []
        offset = 0
        for value, segs in ins:
            line += [(offset + s, offset + e) for s, e in segs or ()]
            offset += value
        if not line:
            return [None] * len(outs), None
        states, start = [], 0
        for value in [*outs, offset - sum(outs)]:
            states.append(clip(line, start, start + value) or None)
            start += value
        return states[:-1], states[-1]

    def backward(self, ins: Sequence[int], outs: Sequence[tuple[int, Any]]) -> list[Any]:
        line: list[tuple[int, int]] = []
        offset = 0
        for value, segs in outs:
            line += [(offset + s, offset + e) for s, e in segs or ()]
            offset += value
        if not line:
            return [None] * len(ins)
        states, start = [], 0
        for value in ins:
            states.append(clip(line, start, start + value) or None)
            start += value
        return states

    def amount(self, state: Segments) -> int:
        return sum(e - s for s, e in state)


class Lifo(Fifo):
    """Last in, first out: as FIFO with the inputs taken in reverse order (the last coin spent in
    a transaction is the first to be paid out); positions inside each coin are kept."""

    name = "lifo"

    def forward(self, ins: Sequence[tuple[int, Any]], outs: Sequence[int]) -> tuple[list[Any], Any]:
        return super().forward(list(reversed(ins)), outs)

    def backward(self, ins: Sequence[int], outs: Sequence[tuple[int, Any]]) -> list[Any]:
        return list(reversed(super().backward(list(reversed(ins)), outs)))


class Tiho:
    """Tainted in, highest out (Tironsakkul et al. 2019): the tainted amount goes to the largest
    outputs first, then to the fee; backward, the traced amount comes from the largest inputs
    first. Amounts are whole satoshi; value is conserved."""

    name = "tiho"

    def seed(self, value: int) -> int:
        return value

    @staticmethod
    def _fill(amount: int, sizes: Sequence[int]) -> list[int | None]:
        got: list[int | None] = [None] * len(sizes)
        for i in sorted(range(len(sizes)), key=lambda k: (-sizes[k], k)):
            if amount <= 0:
                break
            take = min(sizes[i], amount)
            got[i] = take or None
            amount -= take
        return got

    def forward(self, ins: Sequence[tuple[int, Any]], outs: Sequence[int]) -> tuple[list[Any], Any]:
        tainted = sum(s for _, s in ins if s is not None)
        if not tainted:
            return [None] * len(outs), None
        fee = sum(v for v, _ in ins) - sum(outs)
        states = self._fill(tainted, list(outs))
        rest = tainted - sum(x for x in states if x)
        return states, (min(rest, fee) or None)

    def backward(self, ins: Sequence[int], outs: Sequence[tuple[int, Any]]) -> list[Any]:
        traced = sum(s for _, s in outs if s is not None)
        return self._fill(traced, list(ins)) if traced else [None] * len(ins)

    def amount(self, state: int) -> int:
        return state


def clip(line: Sequence[tuple[int, int]], lo: int, hi: int) -> Segments:
    """The parts of sorted segments inside [lo, hi), shifted to start at 0, adjacent ones merged."""
    out: list[tuple[int, int]] = []
    for s, e in line:
        s, e = max(s, lo), min(e, hi)
        if s >= e:
            continue
        if out and out[-1][1] == s - lo:
            out[-1] = (out[-1][0], e - lo)
        else:
            out.append((s - lo, e - lo))
    return tuple(out)


POLICIES: dict[str, type] = {p.name: p for p in (Poison, Haircut, Fifo, Lifo, Tiho)}


def policy(name: str, *, exact: bool = False) -> TaintPolicy:
    """The policy called `name` (`exact`: haircut in exact fractions); UsageError otherwise."""
    if name not in POLICIES:
        raise UsageError(f"unknown taint policy {name!r}; known: {', '.join(POLICIES)}", field="policy")
    return Haircut(exact=exact) if name == "haircut" else POLICIES[name]()
