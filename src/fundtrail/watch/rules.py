"""The rules on one batch: `moved`, `deposit`, and taint moving a frontier to `reaches-service`.

Each function reads a `BatchView`, appends alerts to a `Changes` and (for frontiers) the rows to
write; nothing touches the catalog here, so a batch that is never committed leaves no trace.
One alert per (item, transaction) for `moved` and `deposit`; one per tainted output reaching a
service for `reaches-service` (its detail is the output, part of the idempotency key).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from fundtrail.trace.policies import Haircut, TaintPolicy, whole_sat
from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES
from fundtrail.watch.alerts import Alert
from fundtrail.watch.batch import BatchView, member, sorted_keys
from fundtrail.watch.frontier import (Rows, encode_state, exact_amount, grid_amount_text, insert_rows, is_grid,
                                      item_policy, outpoint_text)
from fundtrail.watch.items import Item
from fundtrail.watch.services import Attribution

Found = dict[int, list[dict[str, Any]]]


def btc(sat: int) -> str:
    return f"{sat // 100_000_000}.{sat % 100_000_000:08d}"


@dataclass
class Changes:
    """What a batch changes: alerts, and per frontier item its rows to (re)write or prune."""

    alerts: list[Alert] = field(default_factory=list)
    # item -> how its active frontier changes: the rows the batch spends and those it adds (the
    # frontier itself is left as it is until the batch is committed: no copy of it per batch)
    delta: dict[str, tuple[set[tuple[bytes, int]], Rows]] = field(default_factory=dict)
    # rows to write whole: (item, output, amount, state, height); a spent row is rewritten with its
    # new state (spent height and transaction), a row the batch created is new
    rows: list[tuple[str, str, str, str, int | None]] = field(default_factory=list)
    journal: list[tuple[str, int, str]] = field(default_factory=list)  # (item, spent height, output) spent now
    prune: list[tuple[str, str]] = field(default_factory=list)  # (item, output) spent rows past KEEP_SPENT_BLOCKS
    heights: list[int] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.alerts or self.rows or self.prune)

    def frontier_items(self) -> list[str]:
        return sorted(self.delta)

    def low_height(self) -> int | None:
        return min(self.heights) if self.heights else None

    def write_frontier(self, con: duckdb.DuckDBPyConnection) -> None:
        """The batch's frontier rows in two bulk statements: the rows it rewrites or prunes are
        deleted, then the rewritten and new rows inserted whole. (An UPDATE of the spent rows'
        state, an INSERT OR REPLACE of the new ones and a pass over every row's JSON for the
        prune cost 3-4 times as much inside the commit at 10,000 rows a block.)"""
        rows = {(r[0], r[1]): r for r in self.rows}  # the last version of a row wins, as in order
        gone = [*rows, *(k for k in self.prune if k not in rows)]
        if gone:
            con.register("_gone_rows", pa.table({"item_id": [k[0] for k in gone], "output": [k[1] for k in gone]}))
            try:
                con.execute("DELETE FROM watch_frontier USING _gone_rows g "
                            "WHERE watch_frontier.item_id = g.item_id AND watch_frontier.output = g.output")
            finally:
                con.unregister("_gone_rows")
        insert_rows(con, list(rows.values()))


def _alert(batch: BatchView, item: Item, tx: int, title: str, detail: str, body: dict[str, Any]) -> Alert:
    height, block_hash, when = batch.block_of(tx)
    return Alert(item, height, block_hash, batch.txid_hex(tx), title, detail, body, time=when)


def _facts(outputs: list[str], amount: int, addresses: list[str | None]) -> dict[str, Any]:
    return {"facts": {"outputs": outputs, "amount": str(amount), "unit": "BTC", "decimals": 8,
                      "addresses": sorted({a for a in addresses if a})}}


def _what(item: Item) -> str:
    return {"address": f"address {item.target}", "output": f"output {item.target}", "cluster": f"cluster {item.target}",
            "category": f"an address tagged {item.target}", "frontier": f"traced funds of {item.target}"}[item.kind]


def _address_text(item: Item, aid: int, attr: Attribution | None) -> str | None:
    if item.kind == "address":
        return item.target
    return attr.text(aid) if attr is not None and aid >= 0 else None


Group = dict[tuple[str, int], tuple[Item, list[str], list[int], list[str | None]]]


def _add(groups: Group, item: Item, tx: int, outpoint: str, value: int, address: str | None) -> None:
    g = groups.setdefault((item.item_id, tx), (item, [], [], []))
    g[1].append(outpoint)
    g[2].append(value)
    g[3].append(address)


def movements(batch: BatchView, by_output: dict[tuple[bytes, int], list[Item]], by_address: dict[int, list[Item]],
              categories: list[Item], attr: Attribution | None, found: Found, changes: Changes, *,
              watched: np.ndarray | None = None) -> None:
    """`moved`: inputs spending a watched output, or an output of a watched address, cluster or
    category. `watched`: the keys of `by_address`, sorted (`batch.sorted_keys`), when the caller keeps them."""
    groups: Group = {}
    in_tx = batch.in_tx
    if by_output:
        for j, key in enumerate(batch.in_prev):
            for item in by_output.get(key, ()):
                _add(groups, item, int(in_tx[j]), outpoint_text(key), batch.in_value[j], None)
    movers = [i for i in categories if i.rule == "moved"]
    if by_address or movers:
        addr = batch.in_address
        if watched is None:
            watched = sorted_keys(np.fromiter(by_address, np.int64, len(by_address)))
        for j in np.flatnonzero(member(addr, watched) | (addr >= 0 if movers else False)).tolist():
            aid = int(addr[j])
            for item in by_address.get(aid, ()):
                if item.rule == "moved":
                    _add(groups, item, int(in_tx[j]), outpoint_text(batch.in_prev[j]), batch.in_value[j],
                         _address_text(item, aid, attr))
            for item in movers:
                if attr is not None and attr.service(aid, [item.target], found):
                    _add(groups, item, int(in_tx[j]), outpoint_text(batch.in_prev[j]), batch.in_value[j],
                         attr.text(aid))
    for (_, tx), (item, outs, values, addresses) in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        amount = sum(values)
        if amount < item.min_sat:
            continue
        title = f"{btc(amount)} BTC of watched funds moved: {_what(item)} spent in {batch.txid_hex(tx)}"
        changes.alerts.append(_alert(batch, item, tx, title, "", _facts(sorted(outs), amount, addresses)))


def deposits(batch: BatchView, by_address: dict[int, list[Item]], categories: list[Item],
             attr: Attribution | None, found: Found, changes: Changes, *, watched: np.ndarray | None = None) -> None:
    """`deposit`: an output paying a watched address, cluster or category; with a category on the
    item, only when an input of the paying transaction is attributed to that category."""
    takers = [i for i in categories if i.rule == "deposit"]
    if not by_address and not takers:
        return
    groups: Group = {}
    addr = batch.out_address
    if watched is None:
        watched = sorted_keys(np.fromiter(by_address, np.int64, len(by_address)))
    for k in np.flatnonzero(member(addr, watched) | (addr >= 0 if takers else False)).tolist():
        aid, tx = int(addr[k]), int(batch.out_tx[k])
        outpoint = f"{batch.txid_hex(tx)}:{k - batch.outputs_of(tx).start}"
        for item in by_address.get(aid, ()):
            if item.rule == "deposit":
                _add(groups, item, tx, outpoint, batch.out_value[k], _address_text(item, aid, attr))
        for item in takers:
            if attr is not None and attr.service(aid, [item.target], found):
                _add(groups, item, tx, outpoint, batch.out_value[k], attr.text(aid))
    for (_, tx), (item, outs, values, addresses) in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        amount = sum(values)
        if amount < item.min_sat:
            continue
        body = _facts(sorted(outs), amount, addresses)
        if item.categories:
            payer = _payer(batch, tx, item.categories, attr, found)
            if payer is None:
                continue
            body["payer"] = payer
        title = f"deposit of {btc(amount)} BTC to {_what(item)} in {batch.txid_hex(tx)}"
        if "payer" in body:
            title += f" from {body['payer']['label']} ({body['payer']['category']})"
        changes.alerts.append(_alert(batch, item, tx, title, "", body))


def _payer(batch: BatchView, tx: int, categories: list[str], attr: Attribution | None,
           found: Found) -> dict[str, Any] | None:
    if attr is None:
        return None
    for j in batch.inputs_of(tx):
        aid = int(batch.in_address[j])
        if aid >= 0:
            svc = attr.service(aid, categories, found)
            if svc is not None:
                return svc
    return None


def propagate(batch: BatchView, item: Item, rows: Rows, attr: Attribution | None, found: Found,
              changes: Changes, *, start: set[int] | None = None, pol: TaintPolicy | None = None,
              stops: set[int] | frozenset[int] = frozenset()) -> None:
    """Move the item's taint through the batch in chain order, as `trace` does (module
    `fundtrail.trace.engine`): outputs it reaches replace the spent frontier rows; a tainted output
    at an address attributed to one of the item's categories raises `reaches-service` (when at
    least `min_value`) and leaves the frontier, as a trace stops at a service.

    `start`: the batch's transactions spending the item's rows, and `pol` its policy, when the
    caller knows them (the evaluator's index of frontier outputs: no pass over all the rows).
    `stops`: the address ids of the saved trace's listed stops: taint reaching one is not carried
    further (a service among them has alerted above)."""
    spender = batch.spender
    if start is None:
        start = {spender[k] for k in rows if k in spender}
    heap = sorted(start)
    if not heap:
        return
    if pol is None:
        pol = item_policy(item.policy or "haircut", rows)
    cats = item.categories or list(DEFAULT_STOP_CATEGORIES)
    alerts_moved, alerts_service = item.rule == "moved", item.rule == "reaches-service"
    min_sat = item.min_sat
    grid = is_grid(pol)  # its amounts are state / 2^128: compared and written without Fractions
    grid_min = min_sat * Haircut.GRID
    in_prev, in_value, out_value, out_address = batch.in_prev, batch.in_value, batch.out_value, batch.out_address
    removed: set[tuple[bytes, int]] = set()  # rows of the frontier the batch spends
    added: Rows = {}  # tainted outputs it creates and leaves unspent
    created: dict[tuple[bytes, int], list[Any]] = {}  # key -> [state, height, spent height, amount text, output]
    queued = set(heap)
    while heap:
        tx = heapq.heappop(heap)
        height, _, _ = batch.block_of(tx)
        ins: list[tuple[int, Any]] = []
        got_states: list[Any] = []
        spent: list[str] = []
        spent_tx: str | None = None
        for j in batch.inputs_of(tx):
            key = in_prev[j]
            got = added.pop(key, None)
            if got is None and key in rows and key not in removed:
                got = rows[key]
                removed.add(key)
            if got is None:
                ins.append((in_value[j], None))
                continue
            ins.append((in_value[j], got[0]))
            got_states.append(got[0])
            text = outpoint_text(key)
            spent.append(text)
            if key in created:
                created[key][2] = height
            else:
                if spent_tx is None:
                    spent_tx = batch.txid_hex(tx)
                changes.rows.append((item.item_id, text, got[3], encode_state(got[0], spent=height, spent_tx=spent_tx),
                                     got[1]))
                if height is not None:
                    changes.journal.append((item.item_id, height, text))
        if not spent:
            continue
        if alerts_moved:
            moved = sum((pol.amount(st) for st in got_states), start=0)
            if whole_sat(moved) >= min_sat:
                changes.alerts.append(_alert(
                    batch, item, tx, f"{btc(whole_sat(moved))} BTC of traced funds ({item.target}) moved in "
                    f"{batch.txid_hex(tx)}", "", {"facts": {"outputs": sorted(spent), "amount": str(whole_sat(moved)),
                                                            "amount_exact": exact_amount(moved), "unit": "BTC",
                                                            "decimals": 8}, "policy": pol.name}))
        outs = batch.outputs_of(tx)
        states, _fee = pol.forward(ins, [out_value[k] for k in outs])
        txid, txid_hex = batch.txid(tx), batch.txid_hex(tx)
        for n, (k, state) in enumerate(zip(outs, states)):
            if state is None:
                continue
            if grid:
                if state == 0 or (alerts_service and state < grid_min):
                    continue  # (as below)
            else:
                amount = pol.amount(state)
                if amount == 0:
                    continue
                if alerts_service and amount < min_sat:
                    continue  # under the item's threshold: it stops here, as a trace's --min-value does
            key = (txid, n)
            aid = int(out_address[k])
            svc = attr.service(aid, cats, found) if attr is not None and aid >= 0 else None
            if svc is not None:
                if alerts_service:
                    changes.alerts.append(_service_alert(batch, item, tx, f"{txid_hex}:{n}", pol.amount(state), svc,
                                                         pol.name))
                continue
            if aid in stops:
                continue  # a listed stop of the saved trace: the taint stops there, as the trace stopped
            text = grid_amount_text(state) if grid else exact_amount(amount)
            added[key] = (state, height, None, text)
            created[key] = [state, height, None, text, f"{txid_hex}:{n}"]
            nxt = spender.get(key)
            if nxt is not None and nxt not in queued:
                queued.add(nxt)
                heapq.heappush(heap, nxt)
    for state, h, spent_at, text, output in created.values():
        changes.rows.append((item.item_id, output, text, encode_state(state, spent=spent_at), h))
        if spent_at is not None:
            changes.journal.append((item.item_id, spent_at, output))
    changes.delta[item.item_id] = (removed, added)
    if batch.blocks:
        changes.heights.append(min(h for h, _, _ in batch.blocks.values() if h is not None))


def _service_alert(batch: BatchView, item: Item, tx: int, outpoint: str, amount: Fraction | int,
                   svc: dict[str, Any], policy: str) -> Alert:
    sat = whole_sat(amount)
    via = ", via its cluster" if svc["via"] == "cluster" else ""
    title = (f"{btc(sat)} BTC of traced funds reached {svc['label']} "
             f"(deposit {svc['address'] or 'address'}{via})")
    body = {"facts": {"outputs": [outpoint], "amount": str(sat), "amount_exact": exact_amount(amount),
                      "unit": "BTC", "decimals": 8},
            "service": svc, "policy": policy}
    return _alert(batch, item, tx, title, outpoint, body)
