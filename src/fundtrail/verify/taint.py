"""The taint policies, written from their definitions in docs/taint-policies.md, for re-checking a
saved trace. This is a second, independent implementation: it shares no code with fundtrail's
tracer, so an error in one shows up as a difference.

Amounts are integers in units of 2^-256 satoshi (`ONE` is one satoshi): whole for every policy but
haircut, whose pro-rata shares are rounded to the nearest unit (docs/verify.md, "Haircut on a
2^-256 grid", proves this equals exact arithmetic to the satoshi except within a stated bound);
`seed(..., exact=True)` gives haircut exact `Fraction`s of units instead, for `--exact` and tests.

A *state* is the taint one output (or input) carries; `None` means clean. Poison, haircut and TIHO
carry an amount; FIFO and LIFO the tainted intervals inside the output (`((start, end), ...)` in
satoshi from the output's first satoshi), because under those rules the position of the tainted
satoshi inside a coin decides where it goes next.

Forward: `forward(ins, outs)` takes (value, state) per input and the output values, and returns the
output states and the fee's state. Backward: `backward(in_values, outs)` takes the input values and
(value, state) per output (the part of each output being traced back), and returns which part of
each input funded it. Values are in satoshi.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

State = Any  # int | Fraction (units of 2^-256 sat) | tuple[tuple[int, int], ...] (sat) | None (clean)
Segments = tuple[tuple[int, int], ...]
Amount = int | Fraction

SHIFT = 256
ONE = 1 << SHIFT  #: one satoshi, in units
NEAR = ONE >> 64  #: 2^-64 sat: an amount this close under a whole satoshi counts as it

#: One line per policy: printed with every recomputed trace.
DEFINITIONS = {
    "poison": "any tainted input taints every output (and the fee) in full",
    "haircut": "each output and the fee carry the tainted share of the inputs, pro rata (2^-256-sat grid)",
    "fifo": "inputs laid end to end in input order, outputs take them in output order, the fee last",
    "lifo": "as fifo, with the inputs laid end to end in reverse order",
    "tiho": "the tainted amount fills the largest outputs first (ties: lower index), then the fee",
}


def amount(state: State) -> Amount:
    """The tainted value a state stands for, in units of 2^-256 sat (0 when clean)."""
    if state is None:
        return 0
    if isinstance(state, tuple):
        covered: int = sum(end - start for start, end in state)
        return covered * ONE
    units: Amount = state
    return units


def whole_sat(units: Amount) -> int:
    """Whole satoshi as the trace JSON states them (docs/tracing.md, "Haircut arithmetic"):
    rounded down, except that an amount less than 2^-64 sat under a whole satoshi counts as it.
    (Toward zero for a negative amount, as Python's `int()` of a fraction: only rounding noise
    of a total that is exactly 0 can be negative.)"""
    near = units + NEAR
    whole = int((near if near >= 0 else -near) // ONE)
    return whole if near >= 0 else -whole


def _units(sats: Sequence[int | None]) -> list[State]:
    """Whole satoshi (or None) to states in units; 0 is clean."""
    return [s * ONE if s else None for s in sats]


def _share(part: int, of: int, amount_: Amount) -> Amount:
    """`amount_ * part / of`: exact for a Fraction, else rounded to the nearest unit (half up)."""
    if isinstance(amount_, Fraction):
        return amount_ * part / of
    return (2 * part * amount_ + of) // (2 * of)


# -- FIFO and LIFO: intervals on a line --------------------------------------------------------------

def _lay_out(parts: Sequence[tuple[int, State]]) -> list[tuple[int, int]]:
    """Coins laid end to end: the tainted intervals on the line."""
    line: list[tuple[int, int]] = []
    at = 0
    for value, segs in parts:
        line += [(at + start, at + end) for start, end in segs or ()]
        at += value
    return line


def _window(line: list[tuple[int, int]], lo: int, hi: int) -> Segments | None:
    """The tainted intervals of [lo, hi), counted from lo, touching intervals joined."""
    out: list[tuple[int, int]] = []
    for start, end in line:
        start, end = max(start, lo) - lo, min(end, hi) - lo
        if start >= end:
            continue
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return tuple(out) or None


def _cut(line: list[tuple[int, int]], sizes: Sequence[int]) -> list[Segments | None]:
    """Cut the line into consecutive windows of the given sizes, from 0."""
    out, at = [], 0
    for size in sizes:
        out.append(_window(line, at, at + size))
        at += size
    return out


# -- TIHO: fill the largest first --------------------------------------------------------------------

def _fill(total: int, sizes: Sequence[int]) -> list[int | None]:
    """`total` poured into the largest sizes first (ties: the lower index first)."""
    got: list[int | None] = [None] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda k: (-sizes[k], k)):
        take = min(sizes[i], total)
        got[i], total = take or None, total - take
    return got


# -- the policies ------------------------------------------------------------------------------------

def seed(policy: str, value: int, exact: bool = False) -> State:
    """The state of an output whose whole value (satoshi) is tainted (a seed); `exact`: haircut in
    exact fractions."""
    if not value:
        return None
    if policy in ("fifo", "lifo"):
        return ((0, value),)
    return Fraction(value * ONE) if exact and policy == "haircut" else value * ONE


def forward(policy: str, ins: Sequence[tuple[int, State]], outs: Sequence[int]) -> tuple[list[State], State]:
    """Output states and the fee's state of a transaction with input (value, state) pairs."""
    total_in = sum(v for v, _ in ins)
    fee = total_in - sum(outs)
    tainted = sum(amount(s) for _, s in ins)
    if tainted == 0:
        return [None] * len(outs), None
    if policy == "poison":
        return _units(outs), fee * ONE or None
    if policy == "haircut":  # each output's share rounded; the fee takes the rest, so nothing is lost
        states = [_share(v, total_in, tainted) for v in outs]
        return [s or None for s in states], tainted - sum(states) or None
    if policy in ("fifo", "lifo"):
        line = _lay_out(list(ins) if policy == "fifo" else list(reversed(ins)))
        *out_states, fee_state = _cut(line, [*outs, fee])
        return out_states, fee_state
    if policy == "tiho":
        got = _fill(int(tainted // ONE), outs)
        return _units(got), tainted - sum(g or 0 for g in got) * ONE or None
    raise ValueError(f"unknown policy {policy!r}")


def backward(policy: str, in_values: Sequence[int], outs: Sequence[tuple[int, State]]) -> list[State]:
    """Which part of each input funded the traced parts of the outputs."""
    traced = sum(amount(s) for _, s in outs)
    total_in = sum(in_values)
    if traced == 0 or total_in == 0:
        return [None] * len(in_values)
    if policy == "poison":
        return _units(in_values)
    if policy == "haircut":  # each input's share rounded on its own
        return [_share(v, total_in, traced) or None for v in in_values]
    if policy == "fifo":
        return _cut(_lay_out(outs), in_values)
    if policy == "lifo":
        return list(reversed(_cut(_lay_out(outs), list(reversed(in_values)))))
    if policy == "tiho":
        return _units(_fill(int(traced // ONE), in_values))
    raise ValueError(f"unknown policy {policy!r}")
