"""Forward and backward traces on an account chain, under address-level taint policies, per asset.

On an account chain value is not held in outputs but in address balances, so a policy says which
part of an address's balance each outgoing transfer carries (docs/taint-policies-account.md):

- **poison**: once taint reaches an address, all its later outflows of that asset are tainted in full;
- **haircut**: each outflow carries the address's tainted share of its balance (exact `Fraction`);
- **fifo** (Clayton's rule): per address a queue of incoming lots in arrival order; an outflow takes
  from the head; taint is kept as segments inside each lot, so its position survives hops.

The balance is what the store has seen flow in minus out, clamped at 0: an outflow larger than it
spends value whose origin the store does not know (before its first block, genesis allocations);
that part is clean forward and an `unknown_history` endpoint backward, and the result lists these
gaps. Fees are outflows (their taint is counted in `fees`, not followed to the miner).

Forward, events are processed in execution order (a heap of (event, side)); an address's ledger is
built (its earlier events replayed clean) when taint first reaches it. Backward, traced transfers
are processed latest first; each is attributed to its sender's inflows as the policy's dual. Stop
reasons are those of the UTXO engine plus `burned` (sent to no address), `minted` (created from
nothing: mint, withdrawal, reward) and `unknown_history`. Hops count transfers from the seed.
"""

from __future__ import annotations

import heapq
import time as _time
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from fundtrail.errors import UsageError
from fundtrail.store.lake import Store
from fundtrail.trace.account_graph import KIND_FEE, AccountGraph
from fundtrail.trace.engine import Limits, StopRule
from fundtrail.trace.policies import Amount, clip

POLICY_NAMES = ("poison", "haircut", "fifo")
REASONS = ("service", "unspent", "burned", "minted", "unknown_history", "hop_limit", "threshold",
           "time_limit", "truncated")
Segments = tuple[tuple[int, int], ...]


# -- ledgers: one address's balance of one asset under a policy ---------------------------------
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

    def inflow(self, amount: int, state: Any) -> None:
        if self.policy == "poison":
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
            return (amount if self.tainted and amount else None), missing
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
        return sum(_seg_len(clip(lot[2], lot[1], lot[0])) for lot in self.queue[self.head:])


def _seg_len(segs: Segments | None) -> int:
    return sum(e - s for s, e in segs or ())


def amount_of(policy: str, state: Any) -> Amount:
    """Traced value a state stands for."""
    if state is None:
        return 0
    return _seg_len(state) if policy == "fifo" else state


def seed_state(policy: str, amount: int) -> Any:
    if not amount:
        return None
    return ((0, amount),) if policy == "fifo" else Fraction(amount) if policy == "haircut" else amount


def _merge(policy: str, a: Any, b: Any) -> Any:
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


# -- results ------------------------------------------------------------------------------------
@dataclass
class AccountEndpoint:
    """Traced value that stopped at one address (forward: is held or arrived there; backward: came
    from there), and why; `events` are the transfers that brought (or supplied) it."""

    address: int
    asset: int
    reason: str
    amount: Amount
    hops: int
    time: int
    events: list[int] = field(default_factory=list)
    label: str | None = None


@dataclass
class AccountEdge:
    """Traced value carried by one transfer (event position)."""

    event: int
    amount: Amount
    hops: int


@dataclass
class AccountTrace:
    """Everything an account trace found, in ids; `trace.account_report` renders it."""

    direction: str
    policy: str
    limits: Limits
    seed_events: list[int]
    seed_value: dict[int, int]
    endpoints: list[AccountEndpoint] = field(default_factory=list)
    edges: list[AccountEdge] = field(default_factory=list)
    fees: dict[int, Amount] = field(default_factory=dict)
    history_gaps: list[tuple[int, int, int, int]] = field(default_factory=list)  # address, asset, event, missing
    events_visited: int = 0
    truncated: str | None = None
    elapsed_s: float = 0.0


def trace_account(graph_or_store: AccountGraph | Store, seed: Iterable[int] | Any, *, chain: str | None = None,
                  direction: str = "forward", policy: str = "haircut", limits: Limits | None = None,
                  stop: StopRule | None = None, asset: int | None = None) -> AccountTrace:
    """Trace the value of the seed transfers (event positions, or an `AccountSeed`) forward or backward.

    `asset` keeps only seed transfers of that asset (-1 = native, else the token's address id);
    every asset is traced separately under the same policy.
    """
    g = graph_or_store if isinstance(graph_or_store, AccountGraph) else _ensure(graph_or_store, chain)
    if policy not in POLICY_NAMES:
        raise UsageError(f"unknown taint policy {policy!r}; known: {', '.join(POLICY_NAMES)}")
    events = getattr(seed, "events", seed)
    seeds = sorted({int(e) for e in events})
    for e in seeds:
        if not 0 <= e < g.n_events:
            raise UsageError(f"seed event {e} is not in the account graph index of {g.chain}")
    if asset is not None:
        seeds = [e for e in seeds if int(g.ev_asset[e]) == asset]
    # fees are not traced value; a self-transfer moves nothing; forward, a burn has nowhere to go
    seeds = [e for e in seeds if int(g.ev_kind[e]) != KIND_FEE and g.ev_from[e] != g.ev_to[e]
             and (direction == "backward" or g.ev_to[e] >= 0)]
    value: dict[int, int] = {}
    for e in seeds:
        value[int(g.ev_asset[e])] = value.get(int(g.ev_asset[e]), 0) + g.amount(e)
    limits = limits or Limits()
    res = AccountTrace(direction, policy, limits, seeds, value)
    t0 = _time.monotonic()
    if direction == "forward":
        _Forward(g, policy, limits, stop or (lambda _a: None), res, t0).run(seeds)
    elif direction == "backward":
        _Backward(g, policy, limits, stop or (lambda _a: None), res, t0).run(seeds)
    else:
        raise UsageError(f"--direction must be forward or backward, not {direction!r}")
    res.elapsed_s = _time.monotonic() - t0
    return res


def _ensure(store: Store, chain: str | None) -> AccountGraph:
    if chain is None:
        raise UsageError("trace_account needs chain= when given a store")
    return AccountGraph.ensure(store, chain)


class _Walk:
    def __init__(self, g: AccountGraph, policy: str, lim: Limits, stop: StopRule, res: AccountTrace,
                 t0: float) -> None:
        self.g, self.policy, self.lim, self.stop, self.res, self.t0 = g, policy, lim, stop, res, t0
        self.amounts: dict[int, int] = {}

    def amount(self, e: int) -> int:
        a = self.amounts.get(e)
        if a is None:
            a = self.amounts[e] = self.g.amount(e)
        return a

    def budget_hit(self) -> str | None:
        lim, res = self.lim, self.res
        if res.events_visited >= lim.max_txs:
            return (f"stopped after {lim.max_txs} transfers (--max-txs); the remaining traced value is "
                    "listed as 'truncated' endpoints")
        if _time.monotonic() - self.t0 > lim.max_seconds:
            return (f"stopped after {lim.max_seconds:g} s (time budget); the remaining traced value is "
                    "listed as 'truncated' endpoints")
        return None

    def end(self, address: int, asset: int, reason: str, amount: Amount, hops: int, e: int,
            events: list[int], label: str | None = None) -> None:
        if amount:
            self.res.endpoints.append(AccountEndpoint(address, asset, reason, amount, hops,
                                                      int(self.g.ev_time[e]), events, label))

    def replay(self, address: int, asset: int, before: int) -> Ledger:
        """The ledger of (address, asset) just before event `before`, every earlier event clean."""
        led = Ledger(self.policy)
        g = self.g
        for e in g.events_of(address):
            e = int(e)
            if e >= before:
                break
            if int(g.ev_asset[e]) != asset or g.ev_from[e] == g.ev_to[e]:
                continue
            if g.ev_to[e] == address:
                led.inflow(self.amount(e), None)
            else:
                led.outflow(self.amount(e))
        return led


class _Forward(_Walk):
    def run(self, seeds: list[int]) -> None:
        self.seed_set = set(seeds)
        self.seeded: set[int] = set()
        self.ledgers: dict[tuple[int, int], Ledger] = {}
        self.delivered: dict[int, tuple[Any, int]] = {}
        self.heap: list[tuple[int, int, int, int]] = []  # (event, side 0 out / 1 in, address, asset)
        self.cut: set[tuple[int, int]] = set()  # ledgers whose later events fall after `until`
        for e in seeds:
            self.deliver(e, seed_state(self.policy, self.amount(e)), 0)
        while self.heap:
            reason = self.budget_hit()
            if reason:
                self.res.truncated = reason
                return self.finish("truncated")
            e, side, a, x = heapq.heappop(self.heap)
            led = self.ledgers.get((a, x))
            if led is None:  # a seed's recipient: its ledger starts when the heap reaches the seed
                led = self.ledgers[(a, x)] = self.replay(a, x, e)
            elif e <= led.pos:
                continue  # scheduled twice (a seed recipient's ledger was started earlier)
            led.pos = e
            self.res.events_visited += 1
            v = self.amount(e)
            if side == 1:
                got = self.delivered.pop(e, None)
                led.inflow(v, got[0] if got else None)
                if got:
                    led.hop = got[1] if led.hop is None else min(led.hop, got[1])
                    led.sources.append(e)
            else:
                state, missing = led.outflow(v)
                if missing and state is not None:  # it spent all it held, taint included, and more
                    self.res.history_gaps.append((a, x, e, missing))
                self.deliver(e, state, (led.hop or 0) + 1)
            self.schedule(a, x, e)
        self.finish("unspent")

    def schedule(self, a: int, x: int, after: int) -> None:
        """Push the next event of (a, x) after event `after` (within `until`)."""
        g = self.g
        evs = g.events_of(a)
        i = int(evs.searchsorted(after, side="right"))
        while i < evs.shape[0]:
            e = int(evs[i])
            if int(g.ev_asset[e]) == x and g.ev_from[e] != g.ev_to[e]:
                if self.lim.until is not None and g.ev_time[e] > self.lim.until:
                    self.cut.add((a, x))
                    return
                heapq.heappush(self.heap, (e, 0 if g.ev_from[e] == a else 1, a, x))
                return
            i += 1

    def deliver(self, e: int, state: Any, hops: int) -> None:
        """Traced value leaves on transfer `e`: a stop, a fee, or the recipient's ledger."""
        g, res, pol = self.g, self.res, self.policy
        x, to = int(g.ev_asset[e]), int(g.ev_to[e])
        if e in self.seed_set:
            if e in self.seeded:
                return  # a seed keeps its full seed value; what the sender computed is superseded
            self.seeded.add(e)
            state, hops = seed_state(pol, self.amount(e)), 0
        amt = amount_of(pol, state)
        if not amt:
            return
        res.edges.append(AccountEdge(e, amt, hops))
        if int(g.ev_kind[e]) == KIND_FEE:
            res.fees[x] = res.fees.get(x, 0) + amt
            return
        if to < 0:
            return self.end(int(g.ev_from[e]), x, "burned", amt, hops, e, [e])
        if e not in self.seed_set:
            if amt < self.lim.min_value:
                return self.end(to, x, "threshold", amt, hops, e, [e])
            label = self.stop(to)
            if label is not None:
                return self.end(to, x, "service", amt, hops, e, [e], label)
            if self.lim.hops is not None and hops >= self.lim.hops:
                return self.end(to, x, "hop_limit", amt, hops, e, [e])
        if (to, x) not in self.ledgers:
            heapq.heappush(self.heap, (e, 1, to, x))
        self.delivered[e] = (state, hops)

    def finish(self, reason: str) -> None:
        g = self.g
        for e, (state, hops) in sorted(self.delivered.items()):  # delivered, not received: budget ran out
            key = (int(g.ev_to[e]), int(g.ev_asset[e]))
            led = self.ledgers.get(key) or self.ledgers.setdefault(key, self.replay(*key, e))
            led.inflow(self.amount(e), state)
            led.hop = hops if led.hop is None else min(led.hop, hops)
            led.sources.append(e)
        self.delivered.clear()
        for (a, x), led in sorted(self.ledgers.items()):
            why = reason if reason == "truncated" else "time_limit" if (a, x) in self.cut else "unspent"
            first = led.sources[0] if led.sources else 0
            self.end(a, x, why, led.held(), led.hop or 0, first, sorted(set(led.sources)))


class _Backward(_Walk):
    def run(self, seeds: list[int]) -> None:
        g, lim = self.g, self.lim
        traced: dict[int, tuple[Any, int]] = {}
        heap: list[int] = []
        for e in seeds:
            traced[e] = (seed_state(self.policy, self.amount(e)), 0)
            heapq.heappush(heap, -e)
        seed_set = set(seeds)
        while heap:
            reason = self.budget_hit()
            if reason:
                self.res.truncated = reason
                for e, (state, hops) in sorted(traced.items()):
                    self.end(int(g.ev_from[e]), int(g.ev_asset[e]), "truncated", amount_of(self.policy, state),
                             hops, e, [e])
                return
            e = -heapq.heappop(heap)
            state, hops = traced.pop(e)
            self.res.events_visited += 1
            amt = amount_of(self.policy, state)
            if not amt:
                continue
            s, r, x = int(g.ev_from[e]), int(g.ev_to[e]), int(g.ev_asset[e])
            if e not in seed_set:
                self.res.edges.append(AccountEdge(e, amt, hops))
            if s < 0:
                self.end(r, x, "minted", amt, hops, e, [e])
                continue
            if e not in seed_set:
                if amt < lim.min_value:
                    self.end(s, x, "threshold", amt, hops, e, [e])
                    continue
                label = self.stop(s)
                if label is not None:
                    self.end(s, x, "service", amt, hops, e, [e], label)
                    continue
                if lim.hops is not None and hops >= lim.hops:
                    self.end(s, x, "hop_limit", amt, hops, e, [e])
                    continue
            funding, unknown = self.attribute(s, x, e, state)
            if unknown:
                self.end(s, x, "unknown_history", unknown, hops + 1, e, [e])
            for q, qstate in funding:
                if lim.since is not None and g.ev_time[q] < lim.since:
                    self.end(s, x, "time_limit", amount_of(self.policy, qstate), hops + 1, q, [q])
                    continue
                prev = traced.get(q)
                if prev is None:
                    heapq.heappush(heap, -q)
                    traced[q] = (qstate, hops + 1)
                else:
                    traced[q] = (_merge(self.policy, prev[0], qstate), min(prev[1], hops + 1))

    def attribute(self, s: int, x: int, e: int, state: Any) -> tuple[list[tuple[int, Any]], Amount]:
        """Which of `s`'s earlier inflows funded the traced part `state` of its outflow `e`."""
        g, pol = self.g, self.policy
        v = self.amount(e)
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
            a = self.amount(q)
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
            return [(q, self.amount(q)) for q in inflows], missing if state else 0
        if pol == "haircut":
            known = v - missing
            out = []
            for q in inflows:
                rem = self.amount(q) * product / scale[q]
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
        return out, _seg_len(clip(state, offset, max(offset, v))) if offset < v else 0


def _shifted_clip(segs: Segments, lo: int, hi: int) -> list[tuple[int, int]]:
    """Segments inside [lo, hi), in the original coordinates."""
    return [(max(s, lo), min(e, hi)) for s, e in segs if max(s, lo) < min(e, hi)]
