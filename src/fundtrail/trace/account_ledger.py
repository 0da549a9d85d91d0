"""One address's balance of one asset under an address-level taint policy (account chains).

Split from `trace.account_engine` (which walks the transfers) so that each stays small. A ledger
knows the address's balance as the store has seen it (in minus out, clamped at 0) and which part
of it is traced; docs/taint-policies.md, "Taint policies on account chains", gives the rules.

Poison does not conserve value: a tainted ledger turns clean value into traced value (a clean
balance when the first taint arrives, every clean inflow after it, and the unknown-origin part of
an outflow). `Ledger.absorbed` counts exactly that, so that for every policy
seed + absorbed = endpoints + fees (haircut and FIFO absorb nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from fundtrail.trace.policies import Amount, clip

if TYPE_CHECKING:
    from fundtrail.trace.account_graph import AccountGraph

Segments = tuple[tuple[int, int], ...]


class Ledger:
    """Clean and tainted balance of one (address, asset); `state` values are policy-specific."""

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.balance = 0
        # poison: touched or not; haircut: the tainted *share* of the balance, which only inflows
        # change (an outflow takes the same share), so outflows cost one small multiplication
        self.tainted: Any = False if policy == "poison" else Fraction(0) if policy == "haircut" else None
        self.queue: list[list[Any]] = []  # fifo: [amount, consumed, segments]
        self.head = 0
        self.hop: int | None = None
        self.pos = -1  # last event processed
        self.sources: list[int] = []
        self.absorbed = 0  # poison: clean value this ledger turned into traced value

    def inflow(self, amount: int, state: Any) -> None:
        if self.policy == "poison":
            if state is not None and not self.tainted:
                self.absorbed += self.balance  # the clean balance it joins is tainted now
            elif state is None and self.tainted:
                self.absorbed += amount  # clean value joins a tainted balance
            self.tainted = self.tainted or state is not None
        elif self.policy == "haircut" and amount:
            held = self.tainted * self.balance
            self.tainted = ((held + state) if state else held) / (self.balance + amount)
        elif self.policy == "fifo":
            self.queue.append([amount, 0, state or ()])
        self.balance += amount

    def outflow(self, amount: int) -> tuple[Any, int]:
        """(state the outflow carries or None, part of it the store never saw arrive)."""
        missing = max(0, amount - self.balance)
        known = amount - missing
        if self.policy == "poison":
            self.balance -= known
            if self.tainted and amount:
                self.absorbed += missing  # value of unknown origin leaves traced in full
                return amount, missing
            return None, missing
        if self.policy == "haircut":
            out = self.tainted * known
            self.balance -= known
            if not self.balance:
                self.tainted = Fraction(0)
            return (out if out else None), missing
        line: list[tuple[int, int]] = []
        need, offset = known, 0
        while need:
            lot = self.queue[self.head]
            take = min(need, lot[0] - lot[1])
            line += [(offset + s, offset + e) for s, e in clip(lot[2], lot[1], lot[1] + take)]
            lot[1] += take
            offset += take
            need -= take
            if lot[1] == lot[0]:
                self.queue[self.head] = None  # type: ignore[call-overload]
                self.head += 1
        if self.head > 64 and self.head * 2 > len(self.queue):
            self.queue, self.head = self.queue[self.head:], 0
        self.balance -= known
        return (tuple(line) if line else None), missing

    def held(self) -> Amount:
        """Traced value still at the address."""
        if self.policy == "poison":
            return self.balance if self.tainted else 0
        if self.policy == "haircut":
            return self.tainted * self.balance
        return sum(seg_len(clip(lot[2], lot[1], lot[0])) for lot in self.queue[self.head:])


def seg_len(segs: Segments | None) -> int:
    """Total length of FIFO taint segments."""
    return sum(e - s for s, e in segs or ())


def amount_of(policy: str, state: Any) -> Amount:
    """Traced value a state stands for."""
    if state is None:
        return 0
    return seg_len(state) if policy == "fifo" else state


def seed_state(policy: str, amount: int) -> Any:
    """The state of a wholly traced transfer of `amount` (None for 0)."""
    if not amount:
        return None
    return ((0, amount),) if policy == "fifo" else Fraction(amount) if policy == "haircut" else amount


def merge(policy: str, a: Any, b: Any) -> Any:
    """Two traced states of the same transfer combined (backward: several traced outflows funded it)."""
    if a is None or b is None:
        return a if b is None else b
    if policy == "poison":
        return max(a, b)
    if policy == "haircut":
        return a + b
    out: list[tuple[int, int]] = []
    for s, e in sorted(a + b):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return tuple(out)


def attribute(g: AccountGraph, amount: Callable[[int], int], pol: str, s: int, x: int, e: int,
              state: Any) -> tuple[list[tuple[int, Any]], Amount]:
    """Which of `s`'s earlier inflows funded the traced part `state` of its outflow `e` (the
    backward dual of the ledger), and the part of unknown origin; `amount(event)` in base units."""
    v = amount(e)
    inflows: list[int] = []
    lots: list[list[Any]] = []  # fifo: [event, amount, consumed]
    head = 0
    balance = 0
    scale: dict[int, Fraction] = {}  # haircut: event -> cumulative product when it arrived
    product = Fraction(1)
    for q in g.events_of(s):
        q = int(q)
        if q >= e:
            break
        if int(g.ev_asset[q]) != x or g.ev_from[q] == g.ev_to[q]:
            continue
        a = amount(q)
        if g.ev_to[q] == s:
            balance += a
            inflows.append(q)
            lots.append([q, a, 0])
            scale[q] = product
        else:
            known = min(a, balance)
            if pol == "haircut":
                if known == balance:
                    inflows, scale, product = [], {}, Fraction(1)
                elif known:
                    product *= Fraction(balance - known, balance)
            elif pol == "fifo":
                need = known
                while need:
                    take = min(need, lots[head][1] - lots[head][2])
                    lots[head][2] += take
                    need -= take
                    if lots[head][2] == lots[head][1]:
                        head += 1
            balance -= known
    missing = max(0, v - balance)
    if pol == "poison":
        return [(q, amount(q)) for q in inflows], missing if state else 0
    if pol == "haircut":
        known = v - missing
        out = []
        for q in inflows:
            rem = amount(q) * product / scale[q]
            if rem:
                out.append((q, state * rem * known / balance / v))
        return out, state * missing / v
    out, offset = [], 0
    for q, a, consumed in lots[head:]:
        if offset >= v:
            break
        take = min(a - consumed, v - offset)
        segs = tuple((s_ - offset + consumed, e_ - offset + consumed)
                     for s_, e_ in _shifted_clip(state, offset, offset + take))
        if segs:
            out.append((q, segs))
        offset += take
    return out, seg_len(clip(state, offset, max(offset, v))) if offset < v else 0


def _shifted_clip(segs: Segments, lo: int, hi: int) -> list[tuple[int, int]]:
    """Segments inside [lo, hi), in the original coordinates."""
    return [(max(s, lo), min(e, hi)) for s, e in segs if max(s, lo) < min(e, hi)]
