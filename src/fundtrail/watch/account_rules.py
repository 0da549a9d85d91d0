"""The rules on one account-chain batch: `moved`, `deposit`, and taint reaching a service.

Like `watch.rules` for UTXO chains, nothing here touches the catalog: the functions read an
`AccountBatch` and append alerts and ledger rows to `AccountChanges`. One alert per (item,
transaction, asset) for `moved` and `deposit`; one per traced transfer reaching a service for
`reaches-service` (its detail names the transfer, part of the idempotency key).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from fundtrail.trace.account_ledger import amount_of, seed_state
from fundtrail.trace.policies import whole_sat
from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES
from fundtrail.watch.account_batch import AccountBatch, Event
from fundtrail.watch.account_ledgers import WatchLedger, dump, holds_taint, row_output
from fundtrail.watch.alerts import Alert
from fundtrail.watch.frontier import exact_amount
from fundtrail.watch.items import Item

Key = tuple[int, int]  # (address id, asset id)


@dataclass
class Frontier:
    """An item's taint on an account chain: its sources (every outflow traced) and ledgers."""

    sources: set[int] = field(default_factory=set)
    ledgers: dict[Key, WatchLedger] = field(default_factory=dict)

    def addresses(self) -> set[int]:
        return self.sources | {a for a, _ in self.ledgers}


@dataclass
class AccountChanges:
    alerts: list[tuple[int, Alert]] = field(default_factory=list)  # (position of the event in the batch, alert)
    rows: list[tuple[str, str, str, str, int]] = field(default_factory=list)  # item, output, amount, state, height
    live: dict[str, Frontier] = field(default_factory=dict)
    heights: list[int] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.alerts or self.rows)

    def in_chain_order(self) -> list[Alert]:
        """The alerts by the position of their event (a stable sort: `moved` before the
        `reaches-service` of the same transfer), the order the outbox delivers them in."""
        return [a for _, a in sorted(self.alerts, key=lambda pa: pa[0])]


class Context:
    """What the rules need to name things: address and asset texts, units, service tags."""

    def __init__(self, text: Callable[[int], str | None], asset_text: Callable[[int], str],
                 unit: Callable[[int], tuple[str, int | None]],
                 service: Callable[[int, list[str]], dict[str, Any] | None]) -> None:
        self.text, self.asset_text, self.unit, self.service = text, asset_text, unit, service

    def amount_text(self, asset: int, amount: int | Fraction) -> str:
        from fundtrail.trace.account_report import format_units

        symbol, decimals = self.unit(asset)
        return f"{format_units(amount, decimals)} {symbol or self.asset_text(asset)}"

    def facts(self, asset: int, amount: int | Fraction, transfers: list[Event]) -> dict[str, Any]:
        symbol, decimals = self.unit(asset)
        out: dict[str, Any] = {"amount": str(whole_sat(amount)), "asset": self.asset_text(asset), "unit": symbol,
                               "decimals": decimals,
                               "transfers": [{"from": self.text(e.sender), "to": self.text(e.receiver),
                                              "amount": str(e.amount)} for e in transfers]}
        if isinstance(amount, Fraction):
            out["amount_exact"] = exact_amount(amount)
        return out


def _alert(batch: AccountBatch, item: Item, ev: Event, title: str, detail: str, body: dict[str, Any]) -> Alert:
    height, block_hash, txid, when = batch.where(ev)
    return Alert(item, height, block_hash, txid, title, detail, body, time=when)


def _what(item: Item) -> str:
    return {"address": f"address {item.target}", "category": f"an address tagged {item.target}",
            "frontier": f"traced funds of {item.target}"}.get(item.kind, item.target)


def simple_rules(batch: AccountBatch, by_address: dict[int, list[Item]], categories: list[Item], ctx: Context,
                 changes: AccountChanges) -> None:
    """`moved` (a watched address or category address sends value) and `deposit` (one receives it;
    with categories on the item, only from a sender attributed to one of them)."""
    groups: dict[tuple[str, int, int, str], tuple[Item, list[Event]]] = {}
    movers = [i for i in categories if i.rule == "moved"]
    takers = [i for i in categories if i.rule == "deposit"]
    for ev in batch.events:
        if ev.sender == ev.receiver or not ev.amount:
            continue
        if ev.sender >= 0 and not batch.is_fee(ev):
            for item in by_address.get(ev.sender, ()):
                if item.rule == "moved":
                    groups.setdefault((item.item_id, ev.tx, ev.asset, "moved"), (item, []))[1].append(ev)
            for item in movers:
                if ctx.service(ev.sender, [item.target]):
                    groups.setdefault((item.item_id, ev.tx, ev.asset, "moved"), (item, []))[1].append(ev)
        if ev.receiver >= 0:
            for item in by_address.get(ev.receiver, ()):
                if item.rule == "deposit":
                    groups.setdefault((item.item_id, ev.tx, ev.asset, "deposit"), (item, []))[1].append(ev)
            for item in takers:
                if ctx.service(ev.receiver, [item.target]):
                    groups.setdefault((item.item_id, ev.tx, ev.asset, "deposit"), (item, []))[1].append(ev)
    for (_, _, asset, rule), (item, evs) in sorted(groups.items(), key=lambda kv: (kv[1][1][0].pos, kv[0][0])):
        amount = sum(e.amount for e in evs)
        if amount < item.min_sat:
            continue
        _, _, txid, _ = batch.where(evs[0])
        body: dict[str, Any] = {"facts": ctx.facts(asset, amount, evs)}
        if rule == "moved":
            title = f"{ctx.amount_text(asset, amount)} of watched funds moved: {_what(item)} sent in {txid}"
        else:
            if item.categories:
                payer = next((svc for e in evs if e.sender >= 0
                              for svc in [ctx.service(e.sender, item.categories)] if svc), None)
                if payer is None:
                    continue
                body["payer"] = payer
            title = f"deposit of {ctx.amount_text(asset, amount)} to {_what(item)} in {txid}"
            if "payer" in body:
                title += f" from {body['payer']['label']} ({body['payer']['category']})"
        changes.alerts.append((evs[0].pos, _alert(batch, item, evs[0], title, ctx.asset_text(asset), body)))


def propagate(batch: AccountBatch, item: Item, front: Frontier, ctx: Context,
              replay: Callable[[int, int, int, str], WatchLedger], changes: AccountChanges) -> None:
    """Move the item's taint through the batch in execution order, as the account trace engine
    does (`trace.account_engine`): a source's outflows are traced in full, a ledger's carry what
    its policy says, a receiver gets a ledger (its history replayed clean) unless it is attributed
    to one of the item's categories: then `reaches-service` is raised and the taint stops there."""
    pol = item.policy or "haircut"
    cats = item.categories or list(DEFAULT_STOP_CATEGORIES)
    sources = front.sources
    ledgers = dict(front.ledgers)  # copy-on-write: the live frontier changes only once committed
    copied: set[Key] = set()
    touched: dict[Key, int] = {}  # key -> block of its last change not yet written

    def own(key: Key) -> WatchLedger:
        if key not in copied:
            ledgers[key] = copy.deepcopy(ledgers[key])
            copied.add(key)
        return ledgers[key]

    def flush(block: int) -> None:
        for (a, x), b in list(touched.items()):
            if b != block:
                continue
            led = ledgers.get((a, x))
            keep = led is not None and holds_taint(led)
            changes.rows.append((item.item_id, row_output(ctx.text(a) or str(a), ctx.asset_text(x), b),
                                 exact_amount(led.held()) if keep and led is not None else "0",
                                 dump(led if keep else None, led.received if led is not None else 0), b))
            if not keep:
                ledgers.pop((a, x), None)
            del touched[(a, x)]

    moved: dict[tuple[int, int], list[tuple[Event, Any]]] = {}  # (tx, asset) -> traced outflows
    block = None
    for ev in batch.events:
        if block is not None and ev.block != block:
            flush(block)
        block = ev.block
        s, r, x, v = ev.sender, ev.receiver, ev.asset, ev.amount
        if s == r or not v:
            continue
        state: Any = None
        if s in sources:
            state = seed_state(pol, v)
        elif (s, x) in ledgers:
            state, _missing = own((s, x)).outflow(v)
            touched[(s, x)] = ev.block
        if state is not None and item.rule == "moved" and s not in sources and not batch.is_fee(ev):
            moved.setdefault((ev.tx, x), []).append((ev, amount_of(pol, state)))  # a saved trace's taint moves
        if r < 0 or batch.is_fee(ev) or r in sources:
            continue  # burnt, a fee (counted, not followed to the miner), or back at a source
        if state is not None:
            svc = ctx.service(r, cats)
            if svc is not None:
                amount = amount_of(pol, state)
                if item.rule == "reaches-service" and amount >= item.min_sat:
                    changes.alerts.append((ev.pos, _service_alert(batch, item, ev, amount, svc, pol, ctx)))
                continue
            if (r, x) not in ledgers:
                ledgers[(r, x)] = replay(r, x, ev.pos, pol)
                copied.add((r, x))
            own((r, x)).inflow(v, state)
            touched[(r, x)] = ev.block
        elif (r, x) in ledgers:
            own((r, x)).inflow(v, None)
            touched[(r, x)] = ev.block
    if block is not None:
        flush(block)
    for (_tx, x), hits in moved.items():
        _moved_alert(batch, item, x, hits, pol, ctx, changes)
    changes.live[item.item_id] = Frontier(set(sources), ledgers)
    if batch.blocks:
        changes.heights.append(min(batch.blocks))


def _moved_alert(batch: AccountBatch, item: Item, asset: int, hits: list[tuple[Event, Any]], policy: str,
                 ctx: Context, changes: AccountChanges) -> None:
    """`moved` on a saved trace's frontier: one alert per (transaction, asset) with the traced
    value its transfers carried out of the frontier's ledgers."""
    amount = sum((a for _, a in hits), 0)
    if amount < item.min_sat:
        return
    first = hits[0][0]
    _, _, txid, _ = batch.where(first)
    title = f"{ctx.amount_text(asset, amount)} of {_what(item)} moved in {txid}"
    body = {"facts": {**ctx.facts(asset, amount, [e for e, _ in hits]), "amount_exact": exact_amount(amount)},
            "policy": policy}
    changes.alerts.append((first.pos, _alert(batch, item, first, title, ctx.asset_text(asset), body)))


def _service_alert(batch: AccountBatch, item: Item, ev: Event, amount: int | Fraction, svc: dict[str, Any],
                   policy: str, ctx: Context) -> Alert:
    title = (f"{ctx.amount_text(ev.asset, amount)} of traced funds reached {svc['label']} "
             f"(deposit {svc['address'] or 'address'})")
    body = {"facts": {**ctx.facts(ev.asset, amount, [ev]), "amount_exact": exact_amount(amount)},
            "service": svc, "policy": policy}
    return _alert(batch, item, ev, title, f"{ctx.asset_text(ev.asset)}:{ev.transfer_id}", body)
