"""Service operations: watch items and alerts (domain: `fundtrail.watch`; docs/watch.md).

Targets are resolved as `trace` resolves seeds (the service layer's `search`): an address, an
output `TXID:VOUT`, a transaction (one item per output), `cluster:N`, `category:NAME`, or a trace
saved in a case (`T-…`, with `case`): its unspent endpoints become the item's frontier, with
their exact amounts and policy states. A `reaches-service` item on an address or output starts
its frontier the same way, from a forward trace of the target now. Each bad target is one error
naming it. Only the owner, or members of the item's case, see an item and its alerts.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any


from fundtrail.cases import ids
from fundtrail.cases import store as case_store
from fundtrail.errors import UsageError
from fundtrail.model.amounts import parse_sat
from fundtrail.model.times import parse_time
from fundtrail.trace.policies import policy as policy_by_name
from fundtrail.trace.policies import whole_sat
from fundtrail.watch import alerts as alert_rows
from fundtrail.watch import delivery
from fundtrail.watch import items as watch_items
from fundtrail.workspace.core import Page, check_limit, decode_cursor, encode_cursor
from fundtrail.workspace.watch_models import (AlertCount, AlertDelivery, AlertPage, AlertRecord, WatchAddResult,
                                              WatchItem, WatchListResult)
from fundtrail.workspace.watch_saved import Frontier
from fundtrail.workspace.watch_targets import WatchTargets


__all__ = ["AlertCount", "AlertPage", "AlertRecord", "WatchAddResult", "WatchItem", "WatchListResult", "WatchOps"]



def _iso(t: dt.datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


class WatchOps(WatchTargets):
    """Watch items, their alerts, acknowledgement."""

    # -- items --------------------------------------------------------------------------------------
    def watch_add(self, targets: list[str], *, chain: str | None = None, rule: str = "moved",
                  category: str | None = None, policy: str | None = None, min_value: str | None = None,
                  threshold: float | None = None, name: str | None = None, severity: str | None = None,
                  case: str | None = None) -> WatchAddResult:
        """Watch each target under `rule`; all targets are checked before any item is stored."""
        self.require_writable("watch add")
        user = case_store.check_user(self.actor.user, field="as")
        if not targets:
            raise UsageError("no target: give an address, TXID:VOUT, txid, cluster:N, category:NAME or a saved "
                             "trace T-… (with --case)", field="targets")
        if rule not in watch_items.RULES:
            raise UsageError(f"rule {rule!r} is not a watch rule (known: {', '.join(watch_items.RULES)})",
                             field="rule")
        severity = watch_items.check_severity(severity or watch_items.DEFAULT_SEVERITY[rule])
        if case is not None:
            ids.check_case_id(case)
            row = case_store.get_case(self.store, case, user, read_only=False)
            case_store.check_writable(row, "watching for the case")
        if policy is not None and rule != "reaches-service":
            raise UsageError("policy applies to rule reaches-service (taint follows a policy)", field="policy")
        if policy is not None:
            policy_by_name(policy)
        if threshold is not None and rule != "risk-above":
            raise UsageError("threshold applies to rule risk-above", field="threshold")
        if rule == "risk-above" and (threshold is None or not 0 <= threshold <= 100):
            raise UsageError("rule risk-above needs a threshold between 0 and 100 (a risk score)", field="threshold")
        min_sat = parse_sat(min_value, "min_value") if min_value is not None and not (
            chain is not None and self.chain(chain, what="watch").family == "account") else None
        cats = self._watch_categories(rule, category)
        made: list[tuple[watch_items.Item, Frontier]] = []
        notes: list[str] = []
        seen = self._seen_addresses(targets, chain, rule)
        for text in targets:
            for kind, chain_name, target, frontier, note in self._resolve_target(text, chain, rule, policy, cats,
                                                                                 category is not None, case, seen):
                try:
                    watch_items.check_rule(kind, rule)
                except UsageError as exc:
                    raise UsageError(f"target {text.strip()[:120]!r}: {exc.message}", field="rule") from None
                pol = policy or (note.get("policy") if note else None) or "haircut"
                item_min = min_sat
                if min_value is not None and self.chain(chain_name).family == "account":
                    if not min_value.strip().isdigit():  # amounts differ in decimals per asset there
                        raise UsageError("on an account chain min_value is in base units of the asset moved "
                                         "(wei, token units): a whole number", field="min_value")
                    item_min = int(min_value.strip())
                item = watch_items.Item(
                    item_id=watch_items.new_item_id(), chain=chain_name, kind=kind, target=target, rule=rule,
                    name=name or f"{rule} {target}", severity=severity,
                    category=",".join((note or {}).get("categories") or cats) or None,
                    policy=pol if rule == "reaches-service" or kind == "frontier" else None,
                    min_value=str(item_min) if item_min is not None else None, threshold=threshold, case_id=case,
                    owner=user, created_at=watch_items.now())
                made.append((item, frontier))
                if note and note.get("text"):
                    notes.append(f"{item.item_id}: {note['text']}")
        if rule in watch_items.NOT_EVALUATED:
            notes.append(f"rule {rule} is stored but not evaluated yet: no alert will be raised for it until a "
                         "later version evaluates it (docs/watch.md)")
        unique = self._unique_ids(made)
        renamed = {a.item_id: b.item_id for (a, _), (b, _) in zip(made, unique) if a.item_id != b.item_id}
        made = unique
        notes = [_renamed(n, renamed) for n in notes]
        with self.store.connect() as con:
            con.execute("BEGIN")
            watch_items.insert_many(con, [i for i, _ in made], [(item.item_id, output, amount, state, height)
                                                                 for item, frontier in made
                                                                 for output, amount, state, height in frontier])
            con.execute("COMMIT")
        return WatchAddResult(items=self._item_models([i for i, _ in made]), notes=notes)

    def watch_list(self, *, all: bool = False) -> WatchListResult:
        """The items the user may see (with `all`, removed ones too), oldest first."""
        user = case_store.check_user(self.actor.user, field="as")
        with self.store.connect(read_only=not self.writable) as con:
            found = watch_items.visible_items(con, user, removed=all)
        return WatchListResult(items=self._item_models(found))

    def watch_remove(self, item_id: str) -> WatchItem:
        """Stop watching (the item is marked removed; its alerts stay and keep naming it)."""
        self.require_writable("watch remove")
        user = case_store.check_user(self.actor.user, field="as")
        with self.store.connect() as con:
            con.execute("BEGIN")
            item = watch_items.get_item(con, item_id, user)
            if item.removed_at is None:
                watch_items.remove(con, item, user)
            con.execute("COMMIT")
            item = watch_items.get_item(con, item_id, user)
        return self._item_models([item])[0]

    # -- alerts -------------------------------------------------------------------------------------
    def alerts_list(self, *, item: str | None = None, unacked: bool = False, since: str | None = None,
                    limit: int = 100, cursor: str | None = None) -> AlertPage:
        """Alerts of the items the user may see, newest first, a page at a time."""
        user = case_store.check_user(self.actor.user, field="as")
        check_limit(limit)
        pos = decode_cursor(cursor, ("at", "id"))
        when = parse_time(since, "since")
        since_dt = dt.datetime.fromtimestamp(when, dt.UTC).replace(tzinfo=None) if when is not None else None
        with self.store.connect(read_only=not self.writable) as con:
            if item is not None:
                watch_items.get_item(con, item, user)
            rows = alert_rows.list_alerts(con, user, item=item, unacked=unacked, since=since_dt, limit=limit + 1,
                                          after=(pos["at"], pos["id"]) if pos else None)
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = encode_cursor({"at": rows[-1]["created_at"].isoformat(), "id": rows[-1]["alert_id"]}) if more else None
        return AlertPage(alerts=[_alert_model(r) for r in rows], page=Page(limit=limit, next_cursor=nxt))

    def alerts_unacked(self) -> AlertCount:
        """How many of the user's alerts are unacknowledged (the workbench's navigation badge)."""
        user = case_store.check_user(self.actor.user, field="as")
        with self.store.connect(read_only=not self.writable) as con:
            return AlertCount(unacked=alert_rows.count_unacked(con, user))

    def alert_show(self, alert_id: str) -> AlertRecord:
        """One alert with its document; NotFoundError (field `alert`) for one the user may not see."""
        user = case_store.check_user(self.actor.user, field="as")
        with self.store.connect(read_only=not self.writable) as con:
            record = _alert_model(alert_rows.get_alert(con, alert_id, user))
            record.deliveries = [AlertDelivery(**{**d, "next_attempt_at": _iso(d["next_attempt_at"]),
                                                  "delivered_at": _iso(d["delivered_at"])})
                                 for d in delivery.deliveries_of(con, alert_id)]
        return record

    def alert_ack(self, alert_id: str) -> AlertRecord:
        """Acknowledge an alert (the first acknowledgement is kept)."""
        self.require_writable("alerts ack")
        user = case_store.check_user(self.actor.user, field="as")
        with self.store.connect() as con:
            return _alert_model(alert_rows.ack(con, alert_id, user))

    # -- helpers ------------------------------------------------------------------------------------
    def _item_models(self, items: list[watch_items.Item]) -> list[WatchItem]:
        """The items as results, with the live frontier of those that have one (one query for all)."""
        follows = [i.item_id for i in items if i.kind == "frontier" or i.rule == "reaches-service"]
        live: dict[str, list[str]] = {i: [] for i in follows}
        if follows:
            with self.store.connect(read_only=not self.writable) as con:
                newest: dict[tuple[str, str], tuple[int, str]] = {}  # account ledgers: the newest row per key
                for item_id, output, amount, state, height in con.execute(
                        "SELECT item_id, output, amount, state, height FROM watch_frontier WHERE "
                        "list_contains(?, item_id) AND NOT starts_with(output, 'stop:') AND NOT "
                        "starts_with(output, 'risk:')", [follows]).fetchall():
                    if output.startswith("acct:"):
                        key = (item_id, output.rpartition("@")[0])
                        if key not in newest or newest[key][0] < (height or 0):
                            newest[key] = (height or 0, amount)
                    elif '"spent":null' in state:
                        live[item_id].append(amount)
                for (item_id, _key), (_h, amount) in newest.items():
                    if amount != "0":
                        live[item_id].append(amount)
        out = []
        for item in items:
            rows = live.get(item.item_id)
            out.append(WatchItem(
                id=item.item_id, chain=item.chain, kind=item.kind, target=item.target, rule=item.rule,
                name=item.name, severity=item.severity, categories=item.categories, policy=item.policy,
                min_value=item.min_value, threshold=item.threshold, case_id=item.case_id, owner=item.owner,
                created_at=_iso(item.created_at) or "", removed_at=_iso(item.removed_at), removed_by=item.removed_by,
                evaluated=item.rule not in watch_items.NOT_EVALUATED,
                frontier=len(rows) if rows is not None else None,
                frontier_amount=str(whole_sat(sum((_amount(a) for a in rows), Fraction(0)))) if rows is not None
                else None))
        return out


def _renamed(note: str, renamed: dict[str, str]) -> str:
    """A note `W-…: text` under the item's final id (`_unique_ids` drew a new one)."""
    head, sep, rest = note.partition(": ")
    return f"{renamed[head]}{sep}{rest}" if head in renamed else note


def _amount(text: str) -> Fraction:
    return Fraction(text)


def _alert_model(r: dict[str, Any]) -> AlertRecord:
    return AlertRecord(id=r["alert_id"], item_id=r["item_id"], chain=r["chain"], rule=r["rule"], severity=r["severity"],
                       kind=r["kind"], retracts=r["retracts"], height=r["height"], block_hash=r["block_hash"],
                       txid=r["txid"], title=r["title"], created_at=_iso(r["created_at"]) or "",
                       acked_at=_iso(r["acked_at"]), acked_by=r["acked_by"], retracted_by=r["retracted_by"],
                       document=r["document"])
