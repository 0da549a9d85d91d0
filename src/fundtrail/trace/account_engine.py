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

Seeds are one taint set however many there are. A seed downstream of another keeps its full
value; the part its sender's ledger had traced into it (backward: what later traced transfers
attribute to an earlier seed) is `retraced`, so `seed_value = seed_gross - retraced`, and for
every policy `seed_value + absorbed = endpoints + fees` per asset (`absorbed`: poison's clean
value). Ledgers and the backward attribution live in `trace.account_ledger`.
"""

from __future__ import annotations

import heapq
import time as _time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fundtrail.errors import UsageError
from fundtrail.store.lake import Store
from fundtrail.trace.account_graph import KIND_FEE, AccountGraph
from fundtrail.trace.account_ledger import Ledger, amount_of, attribute, merge, seed_state
from fundtrail.trace.engine import Limits, StopRule
from fundtrail.trace.policies import Amount

POLICY_NAMES = ("poison", "haircut", "fifo")
REASONS = ("service", "unspent", "burned", "minted", "unknown_history", "hop_limit", "threshold",
           "time_limit", "truncated")


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
    #: per asset: the seed transfers' total (`seed_gross`), the part of it already traced from
    #: another seed upstream (`retraced`), and the value the seeds put in: gross - overlap
    seed_gross: dict[int, int]
    seed_value: dict[int, Amount] = field(default_factory=dict)
    retraced: dict[int, Amount] = field(default_factory=dict)
    #: per asset: clean value the policy turned into traced value (poison; 0 for haircut and FIFO),
    #: so that seed_value + absorbed = endpoints + fees for every policy
    absorbed: dict[int, Amount] = field(default_factory=dict)
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
        raise UsageError(f"unknown taint policy {policy!r}; known: {', '.join(POLICY_NAMES)}", field="policy")
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
    gross: dict[int, int] = {}
    for e in seeds:
        gross[int(g.ev_asset[e])] = gross.get(int(g.ev_asset[e]), 0) + g.amount(e)
    limits = limits or Limits()
    res = AccountTrace(direction, policy, limits, seeds, gross)
    t0 = _time.monotonic()
    if direction == "forward":
        _Forward(g, policy, limits, stop or (lambda _a: None), res, t0).run(seeds)
    elif direction == "backward":
        _Backward(g, policy, limits, stop or (lambda _a: None), res, t0).run(seeds)
    else:
        raise UsageError(f"direction must be forward or backward, not {direction!r}", field="direction")
    res.retraced = {x: v for x, v in res.retraced.items() if v}
    res.absorbed = {x: v for x, v in res.absorbed.items() if v}
    res.seed_value = {x: v - res.retraced.get(x, 0) for x, v in gross.items()}
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
            self.step(led, e, side, a, x)
            self.schedule(a, x, e)
        self.finish("unspent")

    def step(self, led: Ledger, e: int, side: int, a: int, x: int) -> None:
        """Event `e` of ledger (a, x): an inflow (side 1) or an outflow delivered on (side 0)."""
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
                # a seed downstream of another seed: it keeps its full seed value, so the part its
                # sender's ledger traced into it is not added again (docs/taint-policies.md)
                res.retraced[x] = res.retraced.get(x, 0) + amount_of(pol, state)
                return
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

    def catch_up(self, reason: str) -> None:
        """Advance a ledger the walk left early (budget, `until`) to each later seed it sends: the
        seed's part must leave it, or it is counted there and in the seed. Outflows on the way stop
        at their recipients with `reason`."""
        g = self.g
        for s in sorted(self.seed_set):
            key = (int(g.ev_from[s]), int(g.ev_asset[s]))
            led = self.ledgers.get(key)
            if led is None or led.pos >= s:
                continue
            a, x = key
            for q in g.events_of(a):
                q = int(q)
                if q > s:
                    break
                if q <= led.pos or int(g.ev_asset[q]) != x or g.ev_from[q] == g.ev_to[q]:
                    continue
                led.pos = q
                if g.ev_to[q] == a:
                    self.step(led, q, 1, a, x)
                    continue
                state, missing = led.outflow(self.amount(q))
                if missing and state is not None:
                    self.res.history_gaps.append((a, x, q, missing))
                amt = amount_of(self.policy, state)
                if q in self.seed_set:
                    self.res.retraced[x] = self.res.retraced.get(x, 0) + amt
                elif amt and int(g.ev_kind[q]) == KIND_FEE:
                    self.res.fees[x] = self.res.fees.get(x, 0) + amt
                elif amt:
                    to = int(g.ev_to[q])
                    self.end(to if to >= 0 else a, x, reason if to >= 0 else "burned", amt,
                             (led.hop or 0) + 1, q, [q])

    def finish(self, reason: str) -> None:
        g = self.g
        self.catch_up(reason if reason == "truncated" else "time_limit")
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
            if led.absorbed:
                self.res.absorbed[x] = self.res.absorbed.get(x, 0) + led.absorbed


class _Backward(_Walk):
    def run(self, seeds: list[int]) -> None:
        g, lim = self.g, self.lim
        traced: dict[int, tuple[Any, int]] = {}
        overlap: dict[int, tuple[Any, int]] = {}  # seed -> the traced state later seeds attribute to it
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
                break
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
            funding, unknown = attribute(g, self.amount, self.policy, s, x, e, state)
            if unknown:
                self.end(s, x, "unknown_history", unknown, hops + 1, e, [e])
            pol, res = self.policy, self.res
            if pol == "poison":  # every earlier inflow funded it in full: more than it carried
                pulled = sum((amount_of(pol, q_) for _, q_ in funding), 0) + unknown - amt
                res.absorbed[x] = res.absorbed.get(x, 0) + pulled
            for q, qstate in funding:
                if lim.since is not None and g.ev_time[q] < lim.since:
                    self.end(s, x, "time_limit", amount_of(pol, qstate), hops + 1, q, [q])
                    continue
                # an earlier seed stays whole: what later traced transfers attribute to it is retraced
                into = overlap if q in seed_set else traced
                prev = into.get(q)
                if prev is None:
                    into[q] = (qstate, hops + 1)
                    if into is traced:
                        heapq.heappush(heap, -q)
                    continue
                both = merge(pol, prev[0], qstate)
                # poison reaches a transfer from several traced outflows and counts it once
                twice = amount_of(pol, prev[0]) + amount_of(pol, qstate) - amount_of(pol, both)
                if twice:
                    res.absorbed[x] = res.absorbed.get(x, 0) - twice
                into[q] = (both, min(prev[1], hops + 1))
        for q, (qstate, _) in overlap.items():
            x = int(g.ev_asset[q])
            self.res.retraced[x] = self.res.retraced.get(x, 0) + amount_of(self.policy, qstate)
