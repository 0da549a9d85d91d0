"""Forward and backward traces over the graph index of a UTXO chain, under one taint policy.

Forward: taint moves transaction by transaction in chain order (a heap of transaction ids, so a
transaction is processed once, with all its tainted inputs known). Backward: the traced value is
attributed to the inputs that funded it, in reverse chain order. Each traced output either
continues or becomes an *endpoint* with the reason the trace stopped there:

- `service`: the address is in the stop list (attributed exchange or other custodial service);
- `unspent`: forward, the output is not spent (the funds still sit there);
- `coinbase`: backward, newly mined coins;
- `hop_limit`, `threshold` (traced amount under `min_value`), `time_limit` (outside since/until);
- `unresolved`: backward, value funded by inputs whose spent outputs are not in the store;
- `truncated`: the node or time budget ran out; the result says so.

**Seed sets** (docs/tracing.md): every seed output is wholly traced. Seeds are injected in chain
order (backward: reverse chain order) when the transaction that creates them (backward: spends
them) is processed, so a seed that descends from another seed is placed once: the taint already
flowing onto it is kept and only the untraced remainder is new. `Trace.seed_value` is the sum of
these new amounts (value counted once); `seed_gross` the seed outputs' value. Hops restart at 0 on
a seed, and seeds never stop as `service` or `threshold`.

**Accounting**: `absorbed` is, per transaction, traced-out + fee - traced-in (forward) or
traced-in - traced-out (backward): clean value a policy pulls into the trace (poison), 0 for the
conserving policies. For every policy `seed_value + absorbed == sum(endpoints) + fees` exactly.

Hops count transactions from the seed: outputs of the first spending transaction are hop 1.
"""

from __future__ import annotations

import heapq
import math
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
    """Bounds of one trace; `hops=None` means unbounded (the node/time budget still applies).

    Checked on construction, so every interface (CLI, API, account chains) refuses nonsense the
    same way instead of silently returning an empty or instantly truncated trace."""

    hops: int | None = None
    min_value: int = 0
    since: int | None = None
    until: int | None = None
    max_txs: int = 200_000
    max_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.hops is not None and self.hops < 1:
            raise UsageError(f"--hops must be at least 1 (got {self.hops})")
        if self.min_value < 0:
            raise UsageError(f"--min-value must not be negative (got {self.min_value})")
        if self.max_txs < 1:
            raise UsageError(f"--max-txs must be at least 1 (got {self.max_txs})")
        if not (self.max_seconds > 0 and math.isfinite(self.max_seconds)):
            raise UsageError(f"--max-seconds must be a positive number of seconds (got {self.max_seconds:g})")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise UsageError(f"--since ({self.since}) is after --until ({self.until}): the time window is empty")

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
    seed_value: Amount = 0  # new traced value: each seed output's untraced remainder, counted once
    endpoints: list[Endpoint] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    fees: Amount = 0
    txs_visited: int = 0
    truncated: str | None = None
    elapsed_s: float = 0.0
    exact: bool = True  # False: haircut on the 2^-128-sat grid (see trace.policies.Haircut)
    seed_gross: int = 0  # the seed outputs' value
    absorbed: Amount = 0  # clean value pulled into the trace (poison); 0 for conserving policies
    seed_new: dict[int, Amount] = field(default_factory=dict)  # seed output -> its new amount

    @property
    def retraced(self) -> Amount:
        """Seed value that was already flowing from an earlier seed (not counted twice)."""
        return self.seed_gross - self.seed_value

    @property
    def endpoint_total(self) -> Amount:
        return sum((e.amount for e in self.endpoints), Fraction(0))

    @property
    def balanced(self) -> bool:
        """seed + absorbed == endpoints + fees, exactly."""
        return Fraction(self.seed_value) + self.absorbed == self.endpoint_total + self.fees


def trace(graph: GraphIndex, seed_outputs: Iterable[int], *, direction: str = "forward",
          policy: str | TaintPolicy = "haircut", limits: Limits = Limits(),
          stop: StopRule | None = None, exact: bool = False) -> Trace:
    """Trace the value of the seed set `seed_outputs` forward or backward; see the module docstring.

    `exact`: haircut in exact fractions (slow where many tainted histories merge) instead of the
    2^-128-satoshi grid."""
    pol = policy_by_name(policy, exact=exact) if isinstance(policy, str) else policy
    seeds = sorted({int(o) for o in seed_outputs})
    for o in seeds:
        if not 0 <= o < graph.n_outputs:
            raise UsageError(f"seed output id {o} is not in the graph index of {graph.chain}")
    zero: Amount = Fraction(0) if pol.name == "haircut" else 0
    result = Trace(direction, pol.name, limits, seeds, zero, fees=zero, absorbed=zero,
                   seed_gross=int(sum(int(graph.out_value[o]) for o in seeds)))
    result.exact = getattr(pol, "exact", True)
    t0 = _time.monotonic()
    if direction == "forward":
        _forward(graph, seeds, pol, limits, stop or _no_stop, result, t0)
    elif direction == "backward":
        _backward(graph, seeds, pol, limits, stop or _no_stop, result, t0)
    else:
        raise UsageError(f"direction must be forward or backward, not {direction!r}", field="direction")
    result.seed_value = _tidy(result.seed_value)
    result.absorbed = _tidy(result.absorbed)
    result.elapsed_s = _time.monotonic() - t0
    return result


def _tidy(x: Amount) -> Amount:
    """A whole-number Fraction as int (a seed value of whole satoshi reads as an integer)."""
    return int(x) if isinstance(x, Fraction) and x.denominator == 1 else x


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


def _inject(g: GraphIndex, pol: TaintPolicy, res: Trace, o: int, state: Any) -> Any:
    """Make seed output `o` wholly traced; count only what `state` (flow already on it) lacks."""
    full = pol.seed(int(g.out_value[o]))
    new = pol.amount(full) - (pol.amount(state) if state is not None else 0)
    res.seed_new[o] = _tidy(new)
    res.seed_value += new
    return full


def _forward(g: GraphIndex, seeds: list[int], pol: TaintPolicy, lim: Limits, stop: StopRule,
             res: Trace, t0: float) -> None:
    live: dict[int, tuple[Any, int]] = {}  # output -> (state, hops): tainted, waiting for its spender
    heap: list[int] = []
    seed_set = set(seeds)
    inject: dict[int, list[int]] = {}  # creating tx -> the seed outputs it creates (not yet injected)
    queued: set[int] = set()

    def push(tx: int) -> None:
        if tx not in queued:
            queued.add(tx)
            heapq.heappush(heap, tx)

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
        push(spender)

    for o in seeds:
        inject.setdefault(g.tx_of_output(o), []).append(o)
    for tx in inject:
        push(tx)
    while heap:
        reason = _budget_hit(res, lim, t0)
        if reason:
            res.truncated = reason
            for o, (state, hops) in sorted(live.items()):
                end(o, g.tx_of_output(o), "truncated", state, hops, int(g.tx_time[g.tx_of_output(o)]))
            for tx, outs in sorted(inject.items()):  # seeds whose creating tx was never reached
                for o in outs:
                    end(o, tx, "truncated", _inject(g, pol, res, o, None), 0, int(g.tx_time[tx]))
            return
        tx = heapq.heappop(heap)
        ins: list[tuple[int, Any]] = []
        hop: int | None = None
        traced_in: Amount = 0
        for p in g.inputs_of(tx):
            p = int(p)
            got = live.pop(p, None) if p >= 0 else None
            value = int(g.out_value[p]) if p >= 0 else 0
            if got is not None:
                hop = got[1] if hop is None else min(hop, got[1])
                traced_in += pol.amount(got[0])
            ins.append((value, got[0] if got else None))
        outs = [int(g.out_value[o]) for o in g.outputs_of(tx)]
        if hop is not None:  # a tainted input: the policy moves it (a seed-only tx is not a visit)
            res.txs_visited += 1
            out_states, fee_state = pol.forward(ins, outs)
        else:
            out_states, fee_state = [None] * len(outs), None
        fee = pol.amount(fee_state) if fee_state is not None else 0
        res.fees += fee
        res.absorbed += sum((pol.amount(s) for s in out_states if s is not None), 0) + fee - traced_in
        here = set(inject.pop(tx, ()))
        hops = (hop or 0) + 1
        for o, state in zip(g.outputs_of(tx), out_states):
            if o in here:
                place(o, tx, _inject(g, pol, res, o, state), 0)
            else:
                place(o, tx, state, hops)


def _backward(g: GraphIndex, seeds: list[int], pol: TaintPolicy, lim: Limits, stop: StopRule,
              res: Trace, t0: float) -> None:
    pending: dict[int, tuple[Any, int]] = {}  # output -> (state, hops) awaiting its creating tx
    heap: list[int] = []
    seed_set = set(seeds)
    inject: dict[int, list[int]] = {}  # spending tx -> the seed outputs it spends (not yet injected)
    queued: set[int] = set()

    def push(tx: int) -> None:
        if tx not in queued:
            queued.add(tx)
            heapq.heappush(heap, -tx)

    def end(o: int, tx: int, reason: str, amount: Amount, hops: int, label: str | None = None) -> None:
        addr = int(g.out_address[o]) if o >= 0 else -1
        res.endpoints.append(Endpoint(o, tx, addr, reason, amount, hops, int(g.tx_time[tx]), label))

    def place(o: int, state: Any, hops: int, via: int) -> None:
        if state is None or pol.amount(state) == 0:
            return
        amount = pol.amount(state)
        tx = g.tx_of_output(o)
        if via >= 0:
            res.edges.append(Edge(o, tx, via, amount))
        if o not in seed_set:
            if amount < lim.min_value:
                return end(o, tx, "threshold", amount, hops)
            label = stop(int(g.out_address[o])) if g.out_address[o] >= 0 else None
            if label is not None:
                return end(o, tx, "service", amount, hops, label)
        if g.is_coinbase(tx):
            return end(o, tx, "coinbase", amount, hops)
        if lim.hops is not None and hops >= lim.hops:
            return end(o, tx, "hop_limit", amount, hops)
        if lim.since is not None and g.tx_time[tx] < lim.since:
            return end(o, tx, "time_limit", amount, hops)
        pending[o] = (state, hops)
        push(tx)

    for o in seeds:
        spender = int(g.out_spent_by[o])
        if spender >= 0:
            inject.setdefault(spender, []).append(o)
            push(spender)
        else:  # unspent: no traced value can flow back onto it, inject now
            place(o, _inject(g, pol, res, o, None), 0, -1)
    while heap:
        reason = _budget_hit(res, lim, t0)
        if reason:
            res.truncated = reason
            for o, (state, hops) in sorted(pending.items()):
                end(o, g.tx_of_output(o), "truncated", pol.amount(state), hops)
            for spent in inject.values():  # seeds whose spending tx was never reached
                for o in spent:
                    end(o, g.tx_of_output(o), "truncated", pol.amount(_inject(g, pol, res, o, None)), 0)
            return
        tx = -heapq.heappop(heap)
        outs: list[tuple[int, Any]] = []
        hop: int | None = None
        traced_out: Amount = 0
        for o in g.outputs_of(tx):
            got = pending.pop(o, None)
            if got is not None:
                hop = got[1] if hop is None else min(hop, got[1])
                traced_out += pol.amount(got[0])
            outs.append((int(g.out_value[o]), got[0] if got else None))
        prevs = [int(p) for p in g.inputs_of(tx)]
        if hop is not None:
            res.txs_visited += 1
            in_states = pol.backward([int(g.out_value[p]) if p >= 0 else 0 for p in prevs], outs)
        else:
            in_states = [None] * len(prevs)
        hops = (hop or 0) + 1
        attributed = sum((pol.amount(s) for p, s in zip(prevs, in_states) if s is not None and p >= 0), 0)
        missing = traced_out - attributed
        if missing > 0 and any(p < 0 for p in prevs):
            # value the policy could not place on a known input: funded by inputs not in the store
            end(-1, tx, "unresolved", missing, hops)
            attributed += missing
        res.absorbed += attributed - traced_out
        here = set(inject.pop(tx, ()))
        for p, state in zip(prevs, in_states):
            if p < 0:
                continue
            if p in here:
                place(p, _inject(g, pol, res, p, state), 0, tx)
            else:
                place(p, state, hops, tx)
