"""Taint frontiers: the unspent tainted outputs a `frontier` item follows (table `watch_frontier`).

A frontier row is one output (`TXID:VOUT`) with its taint *state* under the item's policy
(`fundtrail.trace.policies`) and the height of the block that created it. When a batch spends
frontier outputs, the taint moves through the batch's transactions in chain order, exactly as
`trace` moves it, and the new tainted outputs become rows: the frontier moves forward with the
blocks instead of being re-traced from the seed.

Undo journal (for rollbacks): a spent row is not deleted but marked with the height that spent
it (`state.spent`). A rollback to height H deletes the rows created above H and clears the mark
of rows spent above H, which is the frontier as it was at H. Spent rows older than
`KEEP_SPENT_BLOCKS` below the batch are pruned (no reorganisation is that deep).
"""

from __future__ import annotations

import json
from collections import deque
from fractions import Fraction
from collections.abc import Sequence
from typing import Any

from fundtrail.trace.engine import Limits, StopRule, trace
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.policies import Amount, Haircut, TaintPolicy
from fundtrail.trace.policies import policy as policy_by_name

KEEP_SPENT_BLOCKS = 288  # two days of Bitcoin blocks
#: A saved trace's listed stop address kept with its frontier item: row `stop:ADDRESS` (height NULL:
#: a rollback leaves it alone), its label in the state; taint reaching it is not carried further.
STOP_PREFIX = "stop:"

#: A frontier in memory: (txid in internal byte order, vout) -> (state, created height, spent height,
#: the `amount` column's text)
Rows = dict[tuple[bytes, int], tuple[Any, int | None, int | None, str]]


class Journal:
    """The undo journal's spent rows of each item, oldest first, as (spent height, output): the
    evaluator keeps their keys so that the rows past KEEP_SPENT_BLOCKS are pruned by key (no pass
    over every row's JSON in the batch's commit). Heights only grow between loads (a rollback
    reloads it from the catalog)."""

    def __init__(self, spent: dict[str, list[tuple[int, str]]]) -> None:
        self._rows: dict[str, deque[tuple[int, str]]] = {k: deque(sorted(v)) for k, v in spent.items()}

    def rows(self, item_id: str) -> list[tuple[int, str]]:
        return list(self._rows.get(item_id, ()))

    def due(self, item_ids: list[str], below: int) -> tuple[list[tuple[str, str]], dict[str, int]]:
        """The (item, output) spent under height `below`, and how many per item."""
        keys: list[tuple[str, str]] = []
        counts: dict[str, int] = {}
        for item_id in item_ids:
            for spent, output in self._rows.get(item_id, ()):
                if spent >= below:
                    break
                keys.append((item_id, output))
                counts[item_id] = counts.get(item_id, 0) + 1
        return keys, counts

    def commit(self, pruned: dict[str, int], spent: list[tuple[str, int, str]]) -> None:
        """Drop the pruned rows (the oldest of each item), add a committed batch's (item, height, output)."""
        for item_id, n in pruned.items():
            for _ in range(n):
                self._rows[item_id].popleft()
        for item_id, height, output in sorted(spent, key=lambda j: j[1]):
            self._rows.setdefault(item_id, deque()).append((height, output))


def insert_rows(con: Any, rows: Sequence[tuple[str, str, str, str, int | None]], *, replace: bool = False) -> None:
    """Frontier rows (item, output, amount, state, height) inserted in one bulk statement (`replace`:
    a row of the same key is overwritten)."""
    if not rows:
        return
    import pyarrow as pa

    table = pa.table({"item_id": [r[0] for r in rows], "output": [r[1] for r in rows],
                      "amount": [r[2] for r in rows], "state": [r[3] for r in rows],
                      "height": pa.array([r[4] for r in rows], pa.int64())})
    con.register("_frontier_rows", table)
    try:
        con.execute(f"INSERT {'OR REPLACE ' if replace else ''}INTO watch_frontier (item_id, output, amount, state, "
                    "height) SELECT item_id, output, amount, state, height FROM _frontier_rows")
    finally:
        con.unregister("_frontier_rows")


def stop_row(address: str, label: str) -> tuple[str, str, str, None]:
    """The frontier row (output, amount, state, height) of a listed stop address."""
    return (STOP_PREFIX + address, "0", json.dumps({"taint": {"int": "0"}, "spent": None, "spent_tx": None,
                                                    "stop": {"label": label}}, separators=(",", ":")), None)


def encode_state(state: Any, *, spent: int | None = None, spent_tx: str | None = None) -> str:
    """The `state` column: the policy state as JSON (whole numbers as text, so 2^128-scaled
    haircut amounts survive any JSON reader), with the undo journal's spending height."""
    # Formatted directly (a batch at scale encodes ~10,000 states; json.dumps was a tenth of the
    # evaluation): the text is byte for byte what json.dumps(..., separators=(",", ":")) gives.
    if isinstance(state, Fraction):
        taint = f'{{"frac":"{state.numerator}/{state.denominator}"}}'
    elif isinstance(state, int):
        taint = f'{{"int":"{state}"}}'
    else:
        taint = '{"segs":[' + ",".join(f"[{int(s)},{int(e)}]" for s, e in state) + "]}"
    tx = "null" if spent_tx is None else json.dumps(spent_tx)
    return f'{{"taint":{taint},"spent":{"null" if spent is None else int(spent)},"spent_tx":{tx}}}'


def decode_state(text: str) -> tuple[Any, int | None]:
    """(policy state, spent height or None) of a `state` column."""
    doc = json.loads(text)
    taint = doc["taint"]
    if "frac" in taint:
        num, den = taint["frac"].split("/")
        state: Any = Fraction(int(num), int(den))
    elif "int" in taint:
        state = int(taint["int"])
    else:
        state = tuple((int(s), int(e)) for s, e in taint["segs"])
    return state, doc.get("spent")


def exact_amount(amount: Amount) -> str:
    """An amount as exact text: whole satoshi, or "num/den"."""
    if isinstance(amount, Fraction):
        return str(amount.numerator) if amount.denominator == 1 else f"{amount.numerator}/{amount.denominator}"
    return str(int(amount))


def is_grid(pol: TaintPolicy) -> bool:
    """Haircut on its integer grid (states in units of 2^-128 sat; `trace.policies.Haircut`)."""
    return isinstance(pol, Haircut) and not pol.exact


def grid_amount_text(state: int) -> str:
    """`exact_amount(Haircut().amount(state))` for a positive grid state, without building the
    Fraction (the reduction of state / 2^128 is a shift: a batch at scale writes ~10,000 of these)."""
    k = min((state & -state).bit_length() - 1, 128)
    num, den = state >> k, Haircut.GRID >> k
    return str(num) if den == 1 else f"{num}/{den}"


def item_policy(name: str, rows: Rows) -> TaintPolicy:
    """The policy object of an item: haircut in exact fractions when its states are fractions."""
    exact = any(isinstance(r[0], Fraction) for r in rows.values())
    return policy_by_name(name, exact=exact)


def outpoint_key(text: str) -> tuple[bytes, int]:
    txid, vout = text.split(":")
    return bytes.fromhex(txid)[::-1], int(vout)


def outpoint_text(key: tuple[bytes, int]) -> str:
    return f"{key[0][::-1].hex()}:{key[1]}"


class _Recording:
    """A policy that remembers the output states of each transaction it moves taint through."""

    def __init__(self, pol: TaintPolicy) -> None:
        self.pol, self.name = pol, pol.name
        self.exact = getattr(pol, "exact", True)
        self.calls: list[list[Any]] = []

    def seed(self, value: int) -> Any:
        return self.pol.seed(value)

    def forward(self, ins: Any, outs: Any) -> tuple[list[Any], Any]:
        states, fee = self.pol.forward(ins, outs)
        self.calls.append(list(states))
        return states, fee

    def backward(self, ins: Any, outs: Any) -> list[Any]:
        return self.pol.backward(ins, outs)

    def amount(self, state: Any) -> Amount:
        return self.pol.amount(state)


def frontier_of_trace(graph: GraphIndex, seeds: list[int], policy: str, *, exact: bool, limits: Limits,
                      stop: StopRule | None) -> tuple[list[tuple[int, Any]], bool]:
    """(unspent tainted outputs with their policy state, truncated?) of a forward trace.

    The trace engine reports endpoint amounts, not states (FIFO keeps the tainted intervals); the
    policy is wrapped to record the output states of each visited transaction. The engine visits
    transactions in ascending id order and calls `forward` exactly for those spending a live
    output (the `to_tx` of its edges), so the k-th recorded call belongs to the k-th of them."""
    rec = _Recording(policy_by_name(policy, exact=exact))
    result = trace(graph, seeds, direction="forward", policy=rec, limits=limits, stop=stop)
    visited = sorted({e.to_tx for e in result.edges if e.to_tx >= 0})
    by_tx = dict(zip(visited, rec.calls)) if len(visited) == len(rec.calls) else {}
    seed_set = set(seeds)
    out: list[tuple[int, Any]] = []
    for e in result.endpoints:
        if e.reason != "unspent":
            continue
        if e.output in seed_set:
            state = rec.pol.seed(int(graph.out_value[e.output]))
        elif e.tx in by_tx:
            state = by_tx[e.tx][e.output - int(graph.tx_first_out[e.tx])]
        else:  # not expected: the engine's visiting order changed; refuse rather than guess
            raise RuntimeError("cannot map the trace's transactions to policy states")
        out.append((e.output, state))
    return out, result.truncated is not None
