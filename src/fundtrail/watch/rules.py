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

from fundtrail.trace.policies import whole_sat
from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES
from fundtrail.watch.alerts import Alert
from fundtrail.watch.batch import BatchView
from fundtrail.watch.frontier import Rows, encode_state, exact_amount, item_policy, outpoint_text
from fundtrail.watch.items import Item
from fundtrail.watch.services import Attribution

Found = dict[int, list[dict[str, Any]]]


def btc(sat: int) -> str:
    return f"{sat // 100_000_000}.{sat % 100_000_000:08d}"


@dataclass
class Changes:
    """What a batch changes: alerts, and per frontier item its rows to insert or mark spent."""

    alerts: list[Alert] = field(default_factory=list)
    live: dict[str, Rows] = field(default_factory=dict)  # item -> its active frontier after the batch
    inserts: list[tuple[str, str, str, str, int | None]] = field(default_factory=list)
    spent: list[tuple[str, str, str]] = field(default_factory=list)  # (item, output, new state)
    heights: list[int] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.alerts or self.inserts or self.spent)

    def frontier_items(self) -> list[str]:
        return sorted(self.live)

    def low_height(self) -> int | None:
        return min(self.heights) if self.heights else None

    def write_frontier(self, con: duckdb.DuckDBPyConnection) -> None:
        """The frontier rows marked spent, then the new ones, each in one bulk statement (a batch
        moves hundreds of rows: one statement per row cost ~1.6 ms each inside the commit)."""
        spent = {(i, o): st for i, o, st in self.spent}  # the last state of a row wins, as in order
        if spent:
            keys = list(spent)
            table = pa.table({"item_id": [k[0] for k in keys], "output": [k[1] for k in keys],
                              "state": [spent[k] for k in keys]})
            con.register("_spent_rows", table)
            try:
                con.execute("UPDATE watch_frontier SET state = s.state FROM _spent_rows s "
                            "WHERE watch_frontier.item_id = s.item_id AND watch_frontier.output = s.output")
            finally:
                con.unregister("_spent_rows")
        rows = {(r[0], r[1]): r for r in self.inserts}
        if rows:
            values = list(rows.values())
            table = pa.table({"item_id": [r[0] for r in values], "output": [r[1] for r in values],
                              "amount": [r[2] for r in values], "state": [r[3] for r in values],
                              "height": pa.array([r[4] for r in values], pa.int64())})
            con.register("_new_rows", table)
            try:
                con.execute("INSERT OR REPLACE INTO watch_frontier (item_id, output, amount, state, height) "
                            "SELECT item_id, output, amount, state, height FROM _new_rows")
            finally:
                con.unregister("_new_rows")


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
              categories: list[Item], attr: Attribution | None, found: Found, changes: Changes) -> None:
    """`moved`: inputs spending a watched output, or an output of a watched address, cluster or category."""
    groups: Group = {}
    in_tx = batch.in_tx
    if by_output:
        for j, key in enumerate(batch.in_prev):
            for item in by_output.get(key, ()):
                _add(groups, item, int(in_tx[j]), outpoint_text(key), batch.in_value[j], None)
    movers = [i for i in categories if i.rule == "moved"]
    if by_address or movers:
        addr = batch.in_address
        watched = np.fromiter(by_address, np.int64, len(by_address))
        for j in np.flatnonzero(np.isin(addr, watched) | (addr >= 0 if movers else False)).tolist():
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
             attr: Attribution | None, found: Found, changes: Changes) -> None:
    """`deposit`: an output paying a watched address, cluster or category; with a category on the
    item, only when an input of the paying transaction is attributed to that category."""
    takers = [i for i in categories if i.rule == "deposit"]
    if not by_address and not takers:
        return
    groups: Group = {}
    addr = batch.out_address
    watched = np.fromiter(by_address, np.int64, len(by_address))
    for k in np.flatnonzero(np.isin(addr, watched) | (addr >= 0 if takers else False)).tolist():
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
              changes: Changes) -> None:
    """Move the item's taint through the batch in chain order, as `trace` does (module
    `fundtrail.trace.engine`): outputs it reaches replace the spent frontier rows; a tainted output
    at an address attributed to one of the item's categories raises `reaches-service` (when at
    least `min_value`) and leaves the frontier, as a trace stops at a service."""
    spender = batch.spender
    heap = sorted({spender[k] for k in rows if k in spender})
    if not heap:
        return
    pol = item_policy(item.policy or "haircut", rows)
    cats = item.categories or list(DEFAULT_STOP_CATEGORIES)
    live: Rows = dict(rows)
    created: dict[tuple[bytes, int], list[Any]] = {}
    queued = set(heap)
    while heap:
        tx = heapq.heappop(heap)
        height, _, _ = batch.block_of(tx)
        ins: list[tuple[int, Any]] = []
        moved: Fraction | int = 0
        spent: list[str] = []
        for j in batch.inputs_of(tx):
            key = batch.in_prev[j]
            got = live.pop(key, None)
            ins.append((batch.in_value[j], got[0] if got else None))
            if got is None:
                continue
            moved += pol.amount(got[0])
            spent.append(outpoint_text(key))
            if key in created:
                created[key][2] = height
            else:
                changes.spent.append((item.item_id, outpoint_text(key),
                                      encode_state(got[0], spent=height, spent_tx=batch.txid_hex(tx))))
        if not spent:
            continue
        if item.rule == "moved" and whole_sat(moved) >= item.min_sat:
            changes.alerts.append(_alert(
                batch, item, tx, f"{btc(whole_sat(moved))} BTC of traced funds ({item.target}) moved in "
                f"{batch.txid_hex(tx)}", "", {"facts": {"outputs": sorted(spent), "amount": str(whole_sat(moved)),
                                                        "amount_exact": exact_amount(moved), "unit": "BTC",
                                                        "decimals": 8}, "policy": pol.name}))
        outs = batch.outputs_of(tx)
        states, _fee = pol.forward(ins, [batch.out_value[k] for k in outs])
        txid = batch.txid(tx)
        for n, (k, state) in enumerate(zip(outs, states)):
            if state is None or pol.amount(state) == 0:
                continue
            amount = pol.amount(state)
            if amount < item.min_sat and item.rule == "reaches-service":
                continue  # under the item's threshold: it stops here, as a trace's --min-value does
            key = (txid, n)
            aid = int(batch.out_address[k])
            svc = attr.service(aid, cats, found) if attr is not None and aid >= 0 else None
            if svc is not None:
                if item.rule == "reaches-service":
                    changes.alerts.append(_service_alert(batch, item, tx, outpoint_text(key), amount, svc, pol.name))
                continue
            live[key] = (state, height, None)
            created[key] = [state, height, None, batch.txid_hex(tx)]
            nxt = spender.get(key)
            if nxt is not None and nxt not in queued:
                queued.add(nxt)
                heapq.heappush(heap, nxt)
    for key, (state, h, spent_at, _tx) in created.items():
        changes.inserts.append((item.item_id, outpoint_text(key), exact_amount(pol.amount(state)),
                                encode_state(state, spent=spent_at), h))
    changes.live[item.item_id] = live
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
