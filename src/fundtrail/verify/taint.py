"""The taint policies, written from their definitions in docs/taint-policies.md, for re-checking a
saved trace. This is a second, independent implementation: it shares no code with fundtrail's
tracer, so an error in one shows up as a difference.

A *state* is the taint one output (or input) carries; `None` means clean. Poison and TIHO carry a
whole number of satoshi, haircut an exact `Fraction`, FIFO and LIFO the tainted intervals inside
the output (`((start, end), ...)` in satoshi from the output's first satoshi), because under those
rules the position of the tainted satoshi inside a coin decides where it goes next.

Forward: `forward(ins, outs)` takes (value, state) per input and the output values, and returns the
output states and the fee's state. Backward: `backward(in_values, outs)` takes the input values and
(value, state) per output (the part of each output being traced back), and returns which part of
each input funded it.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

State = Any  # int | Fraction | tuple[tuple[int, int], ...] | None (clean)
Segments = tuple[tuple[int, int], ...]

#: One line per policy: printed with every recomputed trace.
DEFINITIONS = {
    "poison": "any tainted input taints every output (and the fee) in full",
    "haircut": "each output and the fee carry the tainted share of the inputs, pro rata (exact fractions)",
    "fifo": "inputs laid end to end in input order, outputs take them in output order, the fee last",
    "lifo": "as fifo, with the inputs laid end to end in reverse order",
    "tiho": "the tainted amount fills the largest outputs first (ties: lower index), then the fee",
}


def amount(state: State) -> int | Fraction:
    """The tainted value a state stands for (0 when clean)."""
    if state is None:
        return 0
    if isinstance(state, tuple):
        return sum(int(end) - int(start) for start, end in state)
    return int(state) if isinstance(state, int) else Fraction(state)


def whole_sat(value: int | Fraction) -> int:
    """Whole satoshi as the trace JSON states them (docs/tracing.md, "Haircut arithmetic"):
    rounded down, except that an amount less than 2^-64 sat under a whole satoshi counts as it."""
    return int(value) if isinstance(value, int) else int(value + Fraction(1, 1 << 64))


def _clean(states: list[State]) -> list[State]:
    return [s if s is not None and amount(s) != 0 else None for s in states]


# -- FIFO and LIFO: intervals on a line --------------------------------------------------------------

def _lay_out(parts: Sequence[tuple[int, State]]) -> tuple[list[tuple[int, int]], int]:
    """Coins laid end to end: the tainted intervals on the line, and the line's length."""
    line: list[tuple[int, int]] = []
    at = 0
    for value, segs in parts:
        line += [(at + start, at + end) for start, end in segs or ()]
        at += value
    return line, at


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

def seed(policy: str, value: int) -> State:
    """The state of an output whose whole value is tainted (a seed)."""
    if policy in ("fifo", "lifo"):
        return ((0, value),) if value else None
    return Fraction(value) if policy == "haircut" else value


def forward(policy: str, ins: Sequence[tuple[int, State]], outs: Sequence[int]) -> tuple[list[State], State]:
    """Output states and the fee's state of a transaction with input (value, state) pairs."""
    total_in = sum(v for v, _ in ins)
    fee = total_in - sum(outs)
    tainted = sum((amount(s) for _, s in ins), Fraction(0))
    if tainted == 0:
        return [None] * len(outs), None
    if policy == "poison":
        return _clean(list(outs)), fee or None
    if policy == "haircut":
        share = tainted / total_in
        return _clean([v * share for v in outs]), fee * share or None
    if policy in ("fifo", "lifo"):
        line, _ = _lay_out(list(ins) if policy == "fifo" else list(reversed(ins)))
        *out_states, fee_state = _cut(line, [*outs, fee])
        return out_states, fee_state
    if policy == "tiho":
        got = _fill(int(tainted), outs)
        rest = int(tainted) - sum(g or 0 for g in got)
        return list(got), rest or None
    raise ValueError(f"unknown policy {policy!r}")


def backward(policy: str, in_values: Sequence[int], outs: Sequence[tuple[int, State]]) -> list[State]:
    """Which part of each input funded the traced parts of the outputs."""
    traced = sum((amount(s) for _, s in outs), Fraction(0))
    total_in = sum(in_values)
    if traced == 0 or total_in == 0:
        return [None] * len(in_values)
    if policy == "poison":
        return _clean(list(in_values))
    if policy == "haircut":
        return _clean([traced * v / total_in for v in in_values])
    if policy == "fifo":
        line, _ = _lay_out(outs)
        return _cut(line, in_values)
    if policy == "lifo":
        line, _ = _lay_out(outs)
        return list(reversed(_cut(line, list(reversed(in_values)))))
    if policy == "tiho":
        return list(_fill(int(traced), in_values))
    raise ValueError(f"unknown policy {policy!r}")
