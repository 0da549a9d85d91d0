"""KYT transfer registration: the watch rules evaluated on one registered transfer (docs/watch.md, "KYT").

A compliance desk registers a transfer its customer received or sent (`POST /api/v1/kyt/transfers`).
Its transaction is already in the store, so the ingest may have evaluated the rules on it long ago,
with the items and attribution of that day. Registration evaluates the `moved` and `deposit` rules
of the chain's active items on that one transaction again, with today's items and attribution
(a deposit address tagged or clustered since is a hit now): `moved` on every input (funds of a
watched output, address, cluster or category arrived from there), `deposit` on the outputs the
registration names (the customer's for a received transfer, the destination for a sent one).

Alerts keep the ingest's idempotency key (`item, rule, chain, block, txid, ""`): an alert the
ingest already raised for the same item and transaction is not raised twice, it is reported.
The registration row and its alerts (with their outbox rows) are written in one transaction; the
transfer id is a digest of (chain, txid, output or address, direction, customer reference), the
catalog's primary key, so registering the same transfer again returns the first registration.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import duckdb

from fundtrail.watch.alerts import Alert, idempotency_key, write
from fundtrail.watch.items import Item, active_items
from fundtrail.watch.rules import btc

__all__ = ["Flow", "Party", "Transfer", "evaluate", "find", "match", "record", "transfer_id"]


@dataclass(frozen=True)
class Flow:
    """An input (the output it spends) or an output of the transfer's transaction; on an account
    chain one side of a value transfer, with its asset (`native` or the token contract) and unit."""

    outpoint: str
    value: int
    address: str | None
    asset: str | None = None
    unit: str = "BTC"
    decimals: int | None = 8


@dataclass(frozen=True)
class Party:
    """An address of the transaction: its cluster in the current clustering and its tags (direct,
    then inherited through the cluster: `inherited_from` names the tagged member)."""

    address: str
    cluster: int | None
    tags: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Transfer:
    """A registered transfer and the facts of its transaction the rules read."""

    transfer_id: str
    chain: str
    txid: str
    height: int | None
    block_hash: str | None
    time: int | None
    direction: str
    customer_ref: str
    inputs: list[Flow]
    named: list[Flow]  # the outputs the registration names
    parties: dict[str, Party]


def transfer_id(chain: str, txid: str, output: str | None, address: str | None, direction: str,
                customer_ref: str) -> str:
    """`KT-` and 16 hex digits of sha256 over the registration's identity (idempotent by construction)."""
    raw = json.dumps([chain, txid, output, address, direction, customer_ref], separators=(",", ":"))
    return f"KT-{hashlib.sha256(raw.encode()).hexdigest()[:16]}"


def _watches(item: Item, flow: Flow, parties: dict[str, Party]) -> bool:
    if item.kind == "output":
        return flow.outpoint == item.target
    party = parties.get(flow.address) if flow.address else None
    if party is None:
        return False
    if item.kind == "address":
        return party.address == item.target
    if item.kind == "cluster":
        return party.cluster is not None and str(party.cluster) == item.target
    if item.kind == "category":
        return any(t.get("category") == item.target for t in party.tags)
    return False


def _service(party: Party, categories: list[str]) -> dict[str, Any] | None:
    """The first tag of one of `categories` (as the ingest's rules name a payer or a service)."""
    for t in party.tags:
        if t.get("category") in categories:
            via = "cluster" if t.get("inherited_from") else "tag"
            member = {"tagged_member": t["inherited_from"]} if via == "cluster" else {}
            return {"label": t.get("label"), "category": t.get("category"), "address": party.address, "via": via,
                    "tag_source": t.get("source"), **member}
    return None


def _what(item: Item) -> str:
    return {"address": f"address {item.target}", "output": f"output {item.target}", "cluster": f"cluster {item.target}",
            "category": f"an address tagged {item.target}"}.get(item.kind, item.target)


def match(items: list[Item], t: Transfer) -> list[Alert]:
    """The alerts the `moved` and `deposit` rules of `items` raise on the transfer (not written)."""
    out: list[Alert] = []
    kyt = {"kyt": {"transfer_id": t.transfer_id, "direction": t.direction, "customer_ref": t.customer_ref}}
    for item in items:
        if item.chain != t.chain or item.kind == "frontier":
            continue
        flows = t.inputs if item.rule == "moved" else t.named if item.rule == "deposit" else []
        by_asset: dict[str | None, list[Flow]] = {}
        for f in flows:
            if _watches(item, f, t.parties):
                by_asset.setdefault(f.asset, []).append(f)
        for asset, hit in by_asset.items():
            alert = _alert(item, t, asset, hit, kyt)
            if alert is not None:
                out.append(alert)
    return out


def _amount_text(amount: int, f: Flow) -> str:
    if f.asset is None:
        return f"{btc(amount)} BTC"
    from fundtrail.trace.account_report import format_units

    return f"{format_units(amount, f.decimals)} {f.unit or f.asset}"


def _alert(item: Item, t: Transfer, asset: str | None, hit: list[Flow], kyt: dict[str, Any]) -> Alert | None:
    """One alert per (item, transaction, asset), its detail the asset on account chains (the key the
    account ingest's rules use, so an alert they raised is found, not raised twice)."""
    amount = sum(f.value for f in hit)
    if amount < item.min_sat:
        return None
    facts: dict[str, Any] = {"outputs": sorted(f.outpoint for f in hit), "amount": str(amount), "unit": hit[0].unit,
                             "decimals": hit[0].decimals, "addresses": sorted({f.address for f in hit if f.address})}
    if asset is not None:
        facts["asset"] = asset
    body: dict[str, Any] = {"facts": facts, **kyt}
    what = _amount_text(amount, hit[0])
    if item.rule == "moved":
        title = f"{what} of watched funds moved: {_what(item)} spent in {t.txid}"
    else:
        if item.categories:
            payer = next((s for f in t.inputs if f.address and f.address in t.parties
                          for s in [_service(t.parties[f.address], item.categories)] if s), None)
            if payer is None:
                return None
            body["payer"] = payer
        title = f"deposit of {what} to {_what(item)} in {t.txid}"
        if "payer" in body:
            title += f" from {body['payer']['label']} ({body['payer']['category']})"
    title += f" (KYT transfer {t.transfer_id}, {t.direction})"
    return Alert(item, t.height, t.block_hash, t.txid, title, asset or "", body, time=t.time)


def evaluate(con: duckdb.DuckDBPyConnection, t: Transfer) -> list[tuple[str, str, bool]]:
    """Write the alerts the active items raise on `t` (inside the caller's transaction): (alert id,
    item id, new) per match, `new` False for an alert the ingest (or an earlier evaluation) raised."""
    found: list[tuple[str, str, bool]] = []
    for alert in match(active_items(con, t.chain), t):
        new = write(con, alert)
        if new is not None:
            found.append((new, alert.item.item_id, True))
            continue
        key = idempotency_key(alert.item.item_id, alert.item.rule, t.chain, t.block_hash, t.txid, alert.detail)
        row = con.execute("SELECT alert_id FROM alerts WHERE idempotency_key = ?", [key]).fetchone()
        if row is not None:
            found.append((str(row[0]), alert.item.item_id, False))
    return found


def find(con: duckdb.DuckDBPyConnection, tid: str) -> dict[str, Any] | None:
    """A registration by transfer id (its stored result parsed), or None."""
    row = con.execute("SELECT registered_at, registered_by, result FROM kyt_transfers WHERE transfer_id = ?",
                      [tid]).fetchone()
    if row is None:
        return None
    return {"registered_at": row[0], "registered_by": row[1], "result": json.loads(row[2])}


def record(con: duckdb.DuckDBPyConnection, t: Transfer, *, output: str | None, address: str | None, user: str,
           registered_at: dt.datetime, score: float | None, result: dict[str, Any]) -> None:
    """Insert the registration row (inside the caller's transaction, with the alerts)."""
    con.execute("INSERT INTO kyt_transfers (transfer_id, chain, txid, output, address, direction, customer_ref, "
                "registered_at, registered_by, score, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [t.transfer_id, t.chain, t.txid, output, address, t.direction, t.customer_ref,
                 registered_at, user, score, json.dumps(result, separators=(",", ":"))])
