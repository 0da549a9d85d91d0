"""Answer-key oracle: the true taint that reached each cash-out point, under each taint policy.

Tracing (the graph-index implementation) is measured against these numbers, so this module is the
reference: deliberately simple, one pass over an in-memory transaction list, exact arithmetic, no
shortcuts. It is meant for a case subgraph (up to a few hundred thousand transactions), not a chain.

Input, one dict per transaction in chain order (blocks in order, transactions in block order)::

    {"txid": str, "time": int,
     "inputs": [{"txid": str, "vout": int, "value": int}],
     "outputs": [{"value": int, "address": str | None}]}

Values are satoshi. An input spending an outpoint that is not in the list is clean (it comes from
outside the case subgraph). Seeds are outpoints whose whole value is tainted. When tainted value
lands on a target address it has *arrived*: it is counted there and not propagated further, as a
trace stops at a service where funds can be frozen. Tainted value in outputs never spent (or spent
outside the list) is *unspent*; tainted value paid as transaction fees is *fees*.

The list is the case subgraph the simulator writes (docs/simulator.md, the boundary rule): for a
CoinJoin it holds the whole transaction, but only the criminal's own outputs are spent further in
it; other participants' outputs are leaves, so their share of the taint is *unspent* there, and
comes back exactly if a listed transaction spends that output again (a remix with the criminal's
coin). Null-data outputs (address ``None``, value 0) carry nothing.

Policies (see docs/taint-policies.md for sources, uses and weaknesses):

- ``poison``: a transaction with any tainted input taints every output entirely. Amounts are full
  output values, so arrived + unspent + fees may exceed the seed value: no conservation.
- ``haircut`` (pro rata): output taint = output value x tainted input value / total input value,
  in `fractions.Fraction`; the fee carries its share the same way. Conservation is exact.
- ``fifo`` (Clayton's rule): inputs' value intervals are laid end to end in input order, outputs'
  intervals in output order; an output's taint is its overlap with the tainted segments, and the
  interval past the last output is the fee. Taint is tracked as intervals *within* each output,
  so the position of tainted satoshi is kept across hops. Integer satoshi, conservation exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Protocol

from fundtrail.errors import DataError, UsageError

Outpoint = tuple[str, int]
Amount = int | Fraction
Segments = tuple[tuple[int, int], ...]  # half-open [start, end) offsets within one output, sorted

POLICIES: tuple[str, ...] = ("poison", "haircut", "fifo")


class _Policy(Protocol):
    """How taint on a transaction's inputs becomes taint on its outputs and fee.

    A taint state is whatever the policy needs to carry on one output (an amount, or segments);
    ``None`` means clean, so clean value costs nothing to carry.
    """

    def seed(self, value: int) -> Any: ...

    def spend(self, ins: Sequence[tuple[int, Any]], outs: Sequence[int]) -> tuple[list[Any], Any]:
        """Taint states of the outputs and of the fee, from (value, state) per input."""
        ...

    def amount(self, state: Any) -> Amount: ...


class _Poison:
    def seed(self, value: int) -> int:
        return value

    def spend(self, ins: Sequence[tuple[int, Any]], outs: Sequence[int]) -> tuple[list[Any], Any]:
        if all(state is None for _, state in ins):
            return [None] * len(outs), None
        return list(outs), sum(v for v, _ in ins) - sum(outs)

    def amount(self, state: int) -> int:
        return state


class _Haircut:
    def seed(self, value: int) -> Fraction:
        return Fraction(value)

    def spend(self, ins: Sequence[tuple[int, Any]], outs: Sequence[int]) -> tuple[list[Any], Any]:
        tainted = sum((s for _, s in ins if s is not None), Fraction(0))
        total_in = sum(v for v, _ in ins)
        if tainted == 0:
            return [None] * len(outs), None
        share = tainted / total_in  # total_in > 0 because tainted > 0
        return [v * share for v in outs], (total_in - sum(outs)) * share

    def amount(self, state: Fraction) -> Fraction:
        return state


class _Fifo:
    def seed(self, value: int) -> Segments:
        return ((0, value),) if value else ()

    def spend(self, ins: Sequence[tuple[int, Any]], outs: Sequence[int]) -> tuple[list[Any], Any]:
        # Tainted segments in the transaction's input value line [0, total_in).
        line: list[tuple[int, int]] = []
        offset = 0
        for value, segments in ins:
            line += [(offset + s, offset + e) for s, e in segments or ()]
            offset += value
        if not line:
            return [None] * len(outs), None
        # Output i covers [start_i, start_i + value_i); the fee covers [sum(outs), total_in).
        states: list[Any] = []
        start = 0
        for value in list(outs) + [offset - sum(outs)]:
            states.append(_clip(line, start, start + value) or None)
            start += value
        return states[:-1], states[-1]

    def amount(self, state: Segments) -> int:
        return sum(e - s for s, e in state)


def _clip(line: Sequence[tuple[int, int]], lo: int, hi: int) -> Segments:
    """The parts of sorted segments inside [lo, hi), relative to lo, adjacent ones merged."""
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


_IMPLS: dict[str, _Policy] = {"poison": _Poison(), "haircut": _Haircut(), "fifo": _Fifo()}


def case_answers(
    txs: Sequence[Mapping[str, Any]],
    seeds: Iterable[Outpoint],
    targets: set[str] | frozenset[str],
    *,
    policies: Sequence[str] = POLICIES,
) -> dict[str, dict[str, Any]]:
    """Per policy, the tainted amounts that arrived at each target, stayed unspent, or went to fees.

    Returns ``{policy: {"policy", "seed_total", "injected", "by_target", "first_arrival",
    "total_arrived", "arrived_outputs", "unspent", "fees", "by_target_sat", "total_arrived_sat",
    "unspent_sat", "fees_sat"}}``. ``injected`` is the taint the seeds added: ``seed_total`` less
    taint already on a seed downstream of another seed (so it is not counted twice); under haircut
    and FIFO ``injected == total_arrived + sum(unspent) + fees`` exactly. ``first_arrival`` is the
    time of the first tainted arrival per target. Amounts are ``Fraction`` under haircut and
    ``int`` otherwise; the ``*_sat`` keys are the same amounts rounded down to whole satoshi (equal
    to the exact ones for poison and FIFO). Only targets and outpoints holding non-zero taint are
    listed. Raises `DataError` on an inconsistent chain (double spend, forward reference, value
    mismatch, value created, unknown seed) and `UsageError` on an unknown policy.
    """
    unknown = [p for p in policies if p not in _IMPLS]
    if unknown:
        raise UsageError(f"unknown taint policy {unknown[0]!r}; known: {', '.join(_IMPLS)}")
    values = _check_chain(txs)
    seed_set = set(seeds)
    for op in seed_set:
        if op not in values:
            raise DataError(f"seed {op[0]}:{op[1]} is not an output of any listed transaction")
    seed_total = sum(values[op] for op in seed_set)
    return {p: _run(_IMPLS[p], p, txs, seed_set, seed_total, targets) for p in policies}


def _check_chain(txs: Sequence[Mapping[str, Any]]) -> dict[Outpoint, int]:
    """Output values by outpoint, after checking the list is a consistent chain fragment."""
    listed = {tx["txid"] for tx in txs}
    if len(listed) != len(txs):
        raise DataError("duplicate txid in the transaction list")
    values: dict[Outpoint, int] = {}
    spent: set[Outpoint] = set()
    for tx in txs:
        txid = tx["txid"]
        total_in = 0
        for inp in tx["inputs"]:
            op = (inp["txid"], inp["vout"])
            if op in spent:
                raise DataError(f"{txid} spends {op[0]}:{op[1]}, which is already spent")
            if inp["txid"] in listed and op not in values:
                raise DataError(f"{txid} spends {op[0]}:{op[1]}, not an earlier output in the list")
            if op in values and values[op] != inp["value"]:
                raise DataError(f"{txid} input {op[0]}:{op[1]} has value {inp['value']}, "
                                f"but that output holds {values[op]}")
            if inp["value"] < 0:
                raise DataError(f"{txid} has a negative input value")
            spent.add(op)
            total_in += inp["value"]
        outs = [o["value"] for o in tx["outputs"]]
        if any(v < 0 for v in outs):
            raise DataError(f"{txid} has a negative output value")
        if tx["inputs"] and sum(outs) > total_in:  # no inputs = coinbase, which creates value
            raise DataError(f"{txid} pays out {sum(outs)} sat from {total_in} sat of inputs")
        values.update(((txid, i), v) for i, v in enumerate(outs))
    return values


def _run(
    impl: _Policy,
    name: str,
    txs: Sequence[Mapping[str, Any]],
    seeds: set[Outpoint],
    seed_total: int,
    targets: set[str] | frozenset[str],
) -> dict[str, Any]:
    """One forward pass: carry taint states on unspent outputs; stop at targets."""
    zero: Amount = Fraction(0) if name == "haircut" else 0
    live: dict[Outpoint, Any] = {}  # tainted, not yet spent, not at a target
    arrived: dict[Outpoint, tuple[str, Amount]] = {}
    first_arrival: dict[str, int] = {}
    fees = injected = zero

    def place(op: Outpoint, address: str | None, state: Any, time: int) -> None:
        if state is None or impl.amount(state) == 0:
            return
        if address is not None and address in targets:
            arrived[op] = (address, impl.amount(state))
            first_arrival.setdefault(address, time)
        else:
            live[op] = state

    for tx in txs:
        txid = tx["txid"]
        ins = [(i["value"], live.pop((i["txid"], i["vout"]), None)) for i in tx["inputs"]]
        outs = [o["value"] for o in tx["outputs"]]
        if tx["inputs"]:
            out_states, fee_state = impl.spend(ins, outs)
        else:
            out_states, fee_state = [None] * len(outs), None
        if fee_state is not None:
            fees += impl.amount(fee_state)
        for vout, (out, state) in enumerate(zip(tx["outputs"], out_states, strict=True)):
            op = (txid, vout)
            if op in seeds:  # wholly tainted; only what was not tainted already is new taint
                before = zero if state is None else impl.amount(state)
                state = impl.seed(out["value"])
                injected += impl.amount(state) - before
            place(op, out["address"], state, tx["time"])

    by_target: dict[str, Amount] = {}
    for address, amount in arrived.values():
        by_target[address] = by_target.get(address, 0) + amount
    unspent = {op: impl.amount(s) for op, s in live.items()}
    total: Amount = sum(by_target.values(), zero)
    return {
        "policy": name,
        "seed_total": seed_total,
        "injected": injected,
        "by_target": by_target,
        "first_arrival": first_arrival,
        "total_arrived": total,
        "arrived_outputs": {op: amt for op, (_, amt) in arrived.items()},
        "unspent": unspent,
        "fees": fees,
        "by_target_sat": {a: int(v) for a, v in by_target.items()},
        "total_arrived_sat": int(total),
        "unspent_sat": {op: int(v) for op, v in unspent.items()},
        "fees_sat": int(fees),
    }


def to_jsonable(answers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The answers as JSON-ready data: outpoints as ``"txid:vout"``, fractions as ``"num/den"``.

    Ground-truth files must round-trip exactly, so fractions are written as strings, never floats.
    """

    def conv(x: Any) -> Any:
        if isinstance(x, Fraction):
            return str(x)
        if isinstance(x, Mapping):
            return {(f"{k[0]}:{k[1]}" if isinstance(k, tuple) else k): conv(v) for k, v in x.items()}
        return x

    return {policy: conv(result) for policy, result in answers.items()}
