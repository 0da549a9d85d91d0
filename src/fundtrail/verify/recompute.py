"""Re-running a saved UTXO trace from the bundled transactions alone (docs/bundle.md, check 4).

The saved result says which transactions the trace went through (its graph) and where it stopped
(its endpoints, each with a reason: a tagged service, unspent, a limit). Those decisions rest on
tags and on the store, so they are taken as stated and listed. Everything else is recomputed here
from the raw transactions: the seed outputs' values, then transaction by transaction in chain order
(forward; backward in reverse order) the taint each output carries under the stated policy, with
every input's value read from the bundled transaction that created it. Each edge's amount, each
endpoint's amount and the accounting totals must equal the saved ones to the satoshi.
"""

from __future__ import annotations

from typing import Any

from . import taint
from .bitcoin import TxIn, display
from .proofs import ProvenTx
from .report import MAX_LINES_PER_TRACE, Report, TraceResult

COINBASE_PREV = bytes(32)


def _outpoint(i: TxIn) -> str:
    return f"{display(i.prev_txid)}:{i.prev_vout}"


class Recomputation:
    """The state of one trace's recomputation: the taint found on each output, and the totals."""

    def __init__(self, where: str, result: dict[str, Any], txs: dict[str, ProvenTx], exact: bool = False) -> None:
        self.where, self.result, self.txs, self.exact = where, result, txs, exact
        self.policy: str = result["policy"]
        graph = result["graph"]
        self.edges: list[dict[str, Any]] = graph["edges"]
        self.follow = {e["output"]: e["to"].removeprefix("tx:") for e in self.edges if e.get("to")}
        self.ends_listed = {o for ep in result["endpoints"] for o in ep.get("outputs") or []}
        self.seeds = set(result["seed"]["outputs"])
        self.nodes = {n["txid"] for n in graph["nodes"]} | {s.split(":")[0] for s in self.seeds}
        self.flow: dict[str, Any] = {}  # output -> recomputed state where the trace passed
        self.ends: dict[str, Any] = {}  # endpoint output -> recomputed state
        self.fees: taint.Amount = 0  # amounts in units of 2^-256 sat (taint.ONE is one satoshi)
        self.absorbed: taint.Amount = 0
        self.seed_value: taint.Amount = 0
        self.problems: list[str] = []

    def fail(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")

    def value(self, outpoint: str) -> int:
        """An output's value from the bundled transaction that created it (0 and a failure if absent)."""
        txid, _, vout = outpoint.partition(":")
        got = self.txs.get(txid)
        if got is None or not vout.isdigit() or int(vout) >= len(got.tx.outputs):
            self.fail(f"output {outpoint} is not in a proven bundled transaction: its value is unproven")
            return 0
        return got.tx.outputs[int(vout)].value

    def order(self) -> list[str] | None:
        missing = sorted(t for t in self.nodes if t not in self.txs)
        for t in missing:
            self.fail(f"traced transaction {t} is not a proven transaction of the bundle")
        return None if missing else sorted(self.nodes, key=lambda t: (self.txs[t].height, self.txs[t].index))

    def inject(self, outpoint: str, state: Any) -> Any:
        """A seed output is wholly tainted; only what was not already flowing onto it is new."""
        value = self.value(outpoint)
        self.seed_value += value * taint.ONE - taint.amount(state)
        return taint.seed(self.policy, value, self.exact)

    def reach(self, outpoint: str, state: Any, via: str | None) -> Any:
        """Taint arriving on an output: keep it, and say whether the trace goes on from it."""
        self.flow[outpoint] = state
        if outpoint in self.ends_listed:
            self.ends[outpoint] = state
            return None
        if via is None and outpoint not in self.follow:
            self.fail(f"output {outpoint} carries {taint.whole_sat(taint.amount(state))} sat in the "
                      f"recomputation ({self.policy}) but is not in the saved graph")
            return None
        return state

    def forward(self) -> None:
        order = self.order()
        live: dict[str, Any] = {}
        for txid in order or ():
            tx = self.txs[txid].tx
            prevs = [_outpoint(i) for i in tx.inputs]
            states = [live.pop(p, None) if self.follow.get(p) == txid else None for p in prevs]
            outs = [o.value for o in tx.outputs]
            out_states: list[Any] = [None] * len(outs)
            if any(s is not None for s in states):
                ins = [(0 if i.prev_txid == COINBASE_PREV else self.value(p), s)
                       for i, p, s in zip(tx.inputs, prevs, states)]
                out_states, fee_state = taint.forward(self.policy, ins, outs)
                fee = taint.amount(fee_state)
                self.fees += fee
                self.absorbed += sum(taint.amount(s) for s in out_states) + fee - sum(taint.amount(s) for s in states)
            for vout, state in enumerate(out_states):
                op = f"{txid}:{vout}"
                if op in self.seeds:
                    state = self.inject(op, state)
                if taint.amount(state):
                    kept = self.reach(op, state, None)
                    if kept is not None:
                        live[op] = kept
        for op in sorted(live):
            self.fail(f"edge {op} -> {self.follow[op]}: that transaction does not spend {op}")

    def backward(self) -> None:
        order = self.order()
        spender = {_outpoint(i): t for t in order or () for i in self.txs[t].tx.inputs}
        pending: dict[str, Any] = {}
        for op in sorted(self.seeds - spender.keys()):  # unspent seeds: nothing flows back onto them
            kept = self.reach(op, self.inject(op, None), "seed")
            if kept is not None:
                pending[op] = kept
        for txid in reversed(order or []):
            tx = self.txs[txid].tx
            outs = [(o.value, pending.pop(f"{txid}:{v}", None)) for v, o in enumerate(tx.outputs)]
            prevs = [_outpoint(i) for i in tx.inputs]
            in_states: list[Any] = [None] * len(prevs)
            traced = sum(taint.amount(s) for _, s in outs)
            if traced and tx.inputs[0].prev_txid != COINBASE_PREV:
                in_states = taint.backward(self.policy, [self.value(p) for p in prevs], outs)
                self.absorbed += sum(taint.amount(s) for s in in_states) - traced
            for op, state in zip(prevs, in_states):
                if op in self.seeds:
                    state = self.inject(op, state)
                if not taint.amount(state):
                    continue
                if self.follow.get(op) != txid:
                    self.fail(f"output {op} funds {taint.whole_sat(taint.amount(state))} sat of {txid} in the "
                              f"recomputation ({self.policy}) but that edge is not in the saved graph")
                kept = self.reach(op, state, txid)
                if kept is not None:
                    pending[op] = kept
        for op in sorted(pending):
            self.fail(f"output {op} is followed back but the transaction creating it is not in the saved graph")


def recompute(trace_id: str, result: dict[str, Any], txs: dict[str, ProvenTx], report: Report,
              exact: bool = False) -> TraceResult:
    """Recompute one saved UTXO trace (forward or backward) and compare it with what was saved;
    `exact`: haircut in exact fractions rather than on the 2^-256-sat grid."""
    where = f"traces/{trace_id}.json"
    direction = result["direction"]
    run = Recomputation(where, result, txs, exact)
    try:
        if direction == "forward":
            run.forward()
        else:
            run.backward()
        _compare(run)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        run.fail(f"the saved result is malformed ({type(exc).__name__}: {exc}); not recomputable")
    for text in run.problems[:MAX_LINES_PER_TRACE]:
        report.fail(text)
    if len(run.problems) > MAX_LINES_PER_TRACE:
        report.fail(f"{where}: … and {len(run.problems) - MAX_LINES_PER_TRACE} more differences in this trace")
    ends = sum(taint.amount(s) for s in run.ends.values())
    detail = (f"{len(run.edges)} edges, {len(result['endpoints'])} endpoints; seed {taint.whole_sat(run.seed_value)} "
              f"sat + absorbed {taint.whole_sat(run.absorbed)} = endpoints {taint.whole_sat(ends)} + fees "
              f"{taint.whole_sat(run.fees)} sat, each equal to the saved amount to the satoshi")
    if run.problems:
        detail = f"{len(run.problems)} differences from the saved trace (listed below)"
    return TraceResult(trace_id, result.get("chain", "?"), run.policy, direction,
                       "failed" if run.problems else "recomputed", detail, len(run.edges),
                       len(result["endpoints"]))


def _sat(state: Any) -> int:
    return taint.whole_sat(taint.amount(state))


def _compare(run: Recomputation) -> None:
    """Every stated amount against the recomputed one."""
    res, pol = run.result, run.policy
    for e in run.edges:
        op, stated = e["output"], e["amount_sat"]
        got = _sat(run.flow.get(op))
        if got != stated:
            run.fail(f"edge {op} amount {stated} sat, recomputed {got} sat ({pol})")
        if "value_sat" in e and op.split(":")[0] in run.txs and e["value_sat"] != run.value(op):
            run.fail(f"edge {op} value_sat {e['value_sat']}, the output holds {run.value(op)} sat")
    if res["direction"] == "forward":
        stopped = {e["output"] for e in run.edges if not e.get("to")}
        for op in sorted(stopped ^ run.ends_listed):
            run.fail(f"output {op}: an endpoint edge and the endpoints' outputs disagree")
    for ep in res["endpoints"]:
        total = sum(taint.amount(run.ends.get(o)) for o in ep.get("outputs") or [])
        if taint.whole_sat(total) != ep["amount_sat"]:
            run.fail(f"endpoint {ep.get('address')} ({ep['reason']}) amount {ep['amount_sat']} sat, recomputed "
                     f"{taint.whole_sat(total)} sat ({pol})")
        if ep["reason"] == "threshold":
            floor = res.get("limits", {}).get("min_value_sat", 0)
            for o in ep.get("outputs") or []:
                if _sat(run.ends.get(o)) >= floor:
                    run.fail(f"endpoint {o} stopped as under the threshold of {floor} sat but carries "
                             f"{_sat(run.ends.get(o))} sat")
    ends = sum(taint.amount(s) for s in run.ends.values())
    gross = sum(run.value(o) for o in run.seeds) * taint.ONE
    recomputed: dict[str, taint.Amount] = {
        "seed_sat": run.seed_value, "seed_gross_sat": gross, "retraced_sat": gross - run.seed_value,
        "absorbed_sat": run.absorbed, "endpoints_sat": ends, "fees_sat": run.fees}
    acc = res.get("accounting") or {}
    for key, value in recomputed.items():
        if key in acc and acc[key] != taint.whole_sat(value):
            run.fail(f"accounting {key} {acc[key]}, recomputed {taint.whole_sat(value)} ({pol})")
    seed = res["seed"]
    for key, value in (("value_sat", run.seed_value), ("gross_value_sat", gross)):
        if key in seed and seed[key] != taint.whole_sat(value):
            run.fail(f"seed {key} {seed[key]}, recomputed {taint.whole_sat(value)}")
    for s in res.get("seeds") or []:
        value = sum(run.value(o) for o in s["outputs"])
        if s.get("value_sat") != value:
            run.fail(f"seed {s.get('input')} value_sat {s.get('value_sat')}, its outputs hold {value} sat")
