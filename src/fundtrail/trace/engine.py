"""Forward and backward traces over the graph index of a UTXO chain, under one taint policy.

Forward: taint starts on the seed outputs and moves transaction by transaction in chain order (a
heap of transaction ids, so a transaction is processed once, with all its tainted inputs known).
Backward: the traced value of the seed outputs is attributed to the inputs that funded it, in
reverse chain order. Each traced output either continues or becomes an *endpoint* with the reason
the trace stopped there:

- `service`: the address is in the stop list (attributed exchange or other custodial service);
- `unspent`: forward, the output is not spent (the funds still sit there);
- `coinbase`: backward, newly mined coins;
- `hop_limit`, `threshold` (traced amount under `min_value`), `time_limit` (outside since/until);
- `unresolved`: backward, the spent output is not in the store (data incomplete);
- `truncated`: the node or time budget ran out; the result says so.

Hops count transactions from the seed: outputs of the first spending transaction are hop 1.
"""

from __future__ import annotations

import heapq
import time as _time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from fundtrail.errors import UsageError
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.policies import Amount, TaintPolicy
from fundtrail.trace.policies import policy as policy_by_name

#: address id -> label of the service where a trace stops (None: keep going)
StopRule = Callable[[int], str | None]
REASONS = ("service", "unspent", "coinbase", "hop_limit", "threshold", "time_limit", "unresolved",
           "truncated")


@dataclass(frozen=True)
class Limits:
    """Bounds of one trace; `hops=None` means unbounded (the node/time budget still applies)."""

    hops: int | None = None
    min_value: int = 0
    since: int | None = None
    until: int | None = None
    max_txs: int = 200_000
    max_seconds: float = 30.0

    def as_dict(self) -> dict[str, Any]:
        return {"hops": self.hops, "min_value_sat": self.min_value, "since": self.since,
                "until": self.until, "max_txs": self.max_txs, "max_seconds": self.max_seconds}


@dataclass
class Endpoint:
    """Traced value that stopped on one output, and why."""

    output: int
    tx: int
    address: int
    reason: str
    amount: Amount
    hops: int
    time: int
    label: str | None = None


@dataclass
class Edge:
    """Traced value moving along one output from the transaction that created it to its spender."""

    output: int
    from_tx: int
    to_tx: int  # -1: the output is an endpoint
    amount: Amount


@dataclass
class Trace:
    """Everything a trace found, in ids; `trace.report` renders it for people and JSON."""

    direction: str
    policy: str
    limits: Limits
    seed_outputs: list[int]
    seed_value: int
    endpoints: list[Endpoint] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    fees: Amount = 0
    txs_visited: int = 0
    truncated: str | None = None
    elapsed_s: float = 0.0
    exact: bool = True  # False: haircut on the 2^-128-sat grid (see trace.policies.Haircut)


def trace(graph: GraphIndex, seed_outputs: Iterable[int], *, direction: str = "forward",
          policy: str | TaintPolicy = "haircut", limits: Limits = Limits(),
          stop: StopRule | None = None, exact: bool = False) -> Trace:
    """Trace the value of `seed_outputs` forward or backward; see the module docstring.

    `exact`: haircut in exact fractions (slow where many tainted histories merge) instead of the
    2^-128-satoshi grid."""
    pol = policy_by_name(policy, exact=exact) if isinstance(policy, str) else policy
    seeds = sorted({int(o) for o in seed_outputs})
    for o in seeds:
        if not 0 <= o < graph.n_outputs:
            raise UsageError(f"seed output id {o} is not in the graph index of {graph.chain}")
    result = Trace(direction, pol.name, limits, seeds,
                   int(sum(int(graph.out_value[o]) for o in seeds)),
                   fees=Fraction(0) if pol.name == "haircut" else 0)
    result.exact = getattr(pol, "exact", True)
    t0 = _time.monotonic()
    if direction == "forward":
        _forward(graph, seeds, pol, limits, stop or _no_stop, result, t0)
    elif direction == "backward":
        _backward(graph, seeds, pol, limits, stop or _no_stop, result, t0)
    else:
        raise UsageError(f"--direction must be forward or backward, not {direction!r}")
    result.elapsed_s = _time.monotonic() - t0
    return result


def _no_stop(_address: int) -> None:
    return None


def _budget_hit(result: Trace, limits: Limits, t0: float) -> str | None:
    if result.txs_visited >= limits.max_txs:
        return (f"stopped after {limits.max_txs} transactions (--max-txs); the remaining frontier is "
                "listed as 'truncated' endpoints")
    if _time.monotonic() - t0 > limits.max_seconds:
        return (f"stopped after {limits.max_seconds:g} s (time budget); the remaining frontier is listed "
                "as 'truncated' endpoints")
    return None


def _forward(g: GraphIndex, seeds: list[int], pol: TaintPolicy, lim: Limits, stop: StopRule,
             res: Trace, t0: float) -> None:
    live: dict[int, tuple[Any, int]] = {}  # output -> (state, hops): tainted, waiting for its spender
    heap: list[int] = []
    seed_set = set(seeds)
    queued: set[int] = set()

    def end(o: int, tx: int, reason: str, state: Any, hops: int, when: int, label: str | None = None) -> None:
        amount = pol.amount(state)
        res.endpoints.append(Endpoint(o, tx, int(g.out_address[o]), reason, amount, hops, when, label))
        res.edges.append(Edge(o, tx, -1, amount))

    def place(o: int, tx: int, state: Any, hops: int) -> None:
        if state is None or pol.amount(state) == 0:
            return
        when = int(g.tx_time[tx])
        if o not in seed_set:
            if pol.amount(state) < lim.min_value:
                return end(o, tx, "threshold", state, hops, when)
            label = stop(int(g.out_address[o])) if g.out_address[o] >= 0 else None
            if label is not None:
                return end(o, tx, "service", state, hops, when, label)
        spender = int(g.out_spent_by[o])
        if spender < 0:
            return end(o, tx, "unspent", state, hops, when)
        if lim.hops is not None and hops >= lim.hops:
            return end(o, tx, "hop_limit", state, hops, when)
        if lim.until is not None and g.tx_time[spender] > lim.until:
            return end(o, tx, "time_limit", state, hops, when)
        live[o] = (state, hops)
        res.edges.append(Edge(o, tx, spender, pol.amount(state)))
        if spender not in queued:
            queued.add(spender)
            heapq.heappush(heap, spender)

    for o in seeds:
        place(o, g.tx_of_output(o), pol.seed(int(g.out_value[o])), 0)
    while heap:
        reason = _budget_hit(res, lim, t0)
        if reason:
            res.truncated = reason
            for o, (state, hops) in sorted(live.items()):
                end(o, g.tx_of_output(o), "truncated", state, hops, int(g.tx_time[g.tx_of_output(o)]))
            return
        tx = heapq.heappop(heap)
        res.txs_visited += 1
        prevs = g.inputs_of(tx)
        ins, hop = [], None
        for p in prevs:
            p = int(p)
            got = live.pop(p, None) if p >= 0 else None
            value = int(g.out_value[p]) if p >= 0 else 0
            if got is not None:
                hop = got[1] if hop is None else min(hop, got[1])
            ins.append((value, got[0] if got else None))
        outs = [int(g.out_value[o]) for o in g.outputs_of(tx)]
        out_states, fee_state = pol.forward(ins, outs)
        if fee_state is not None:
            res.fees += pol.amount(fee_state)
        hops = (hop or 0) + 1
        for o, state in zip(g.outputs_of(tx), out_states):
            if o in seed_set:
                state = pol.seed(int(g.out_value[o]))
            place(o, tx, state, hops)


def _backward(g: GraphIndex, seeds: list[int], pol: TaintPolicy, lim: Limits, stop: StopRule,
              res: Trace, t0: float) -> None:
    pending: dict[int, tuple[Any, int]] = {}  # output -> (state, hops) awaiting its creating tx
    heap: list[int] = []
    queued: set[int] = set()

    def end(o: int, tx: int, reason: str, state: Any, hops: int, label: str | None = None) -> None:
        amount = pol.amount(state)
        addr = int(g.out_address[o]) if o >= 0 else -1
        res.endpoints.append(Endpoint(o, tx, addr, reason, amount, hops, int(g.tx_time[tx]), label))

    def place(o: int, state: Any, hops: int, via: int) -> None:
        if state is None or pol.amount(state) == 0:
            return
        tx = g.tx_of_output(o)
        if via >= 0:
            res.edges.append(Edge(o, tx, via, pol.amount(state)))
            if pol.amount(state) < lim.min_value:
                return end(o, tx, "threshold", state, hops)
            label = stop(int(g.out_address[o])) if g.out_address[o] >= 0 else None
            if label is not None:
                return end(o, tx, "service", state, hops, label)
        if g.is_coinbase(tx):
            return end(o, tx, "coinbase", state, hops)
        if lim.hops is not None and hops >= lim.hops:
            return end(o, tx, "hop_limit", state, hops)
        if lim.since is not None and g.tx_time[tx] < lim.since:
            return end(o, tx, "time_limit", state, hops)
        prev = pending.get(o)
        pending[o] = (state, hops) if prev is None else (state, min(hops, prev[1]))
        if tx not in queued:
            queued.add(tx)
            heapq.heappush(heap, -tx)

    for o in seeds:
        place(o, pol.seed(int(g.out_value[o])), 0, -1)
    while heap:
        reason = _budget_hit(res, lim, t0)
        if reason:
            res.truncated = reason
            for o, (state, hops) in sorted(pending.items()):
                end(o, g.tx_of_output(o), "truncated", state, hops)
            return
        tx = -heapq.heappop(heap)
        res.txs_visited += 1
        outs, hop = [], None
        for o in g.outputs_of(tx):
            got = pending.pop(o, None)
            if got is not None:
                hop = got[1] if hop is None else min(hop, got[1])
            outs.append((int(g.out_value[o]), got[0] if got else None))
        prevs = [int(p) for p in g.inputs_of(tx)]
        in_states = pol.backward([int(g.out_value[p]) if p >= 0 else 0 for p in prevs], outs)
        hops = (hop or 0) + 1
        for p, state in zip(prevs, in_states):
            if p < 0:
                if state is not None:
                    end(-1, tx, "unresolved", state, hops)
                continue
            place(p, state, hops, tx)
