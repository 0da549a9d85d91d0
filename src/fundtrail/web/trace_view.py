"""What the trace page shows of a trace result: the freeze list, the endpoints by reason, and the
policies side by side. Nothing is traced or summed anew beyond regrouping the result's own rows:
amounts are the result's (base units, exact), in the order the result gives them.

The freeze list is the result's entity view (`entities`: endpoints summed by cluster, largest
first) restricted to the entities the trace stopped at as services, each with the endpoint
addresses it holds (what a freeze request names). Account-chain results have no entity view: their
service endpoints are the list. Policies side by side is one row per service entity (or service
address of an account chain) with its amount under each policy, then the totals by reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from fundtrail.workspace import Model, TraceResult

#: Endpoints listed per reason on the page (the JSON twin has them all).
SHOWN_PER_REASON = 100
#: Endpoint addresses named per entity of the freeze list.
SHOWN_ADDRESSES = 6
#: Entities other than services listed (largest first).
SHOWN_OTHERS = 50
#: Policies that conserve value, the first present ordering the side-by-side table (poison
#: counts every touched output in full, so its amounts would put the widest spread first).
CONSERVING = ("haircut", "fifo", "lifo", "tiho")


class Entity(Model):
    """One entity of the freeze list or the other entities: `key` identifies it across policies."""

    key: str
    cluster: int | None
    names: list[tuple[str | None, str]]  # distinct (category, label) of its tags
    amount: int
    share: float
    decimals: int | None = None
    symbol: str | None = None
    asset: str | None = None  # an account chain's asset (contract or native symbol); None on UTXO chains
    addresses: list[str]
    address_count: int
    outputs: int
    reasons: list[str]


class ReasonGroup(Model):
    """The endpoints that stopped for one reason, largest first (at most `SHOWN_PER_REASON`)."""

    reason: str
    count: int
    total: int | None  # base units (None for a multi-asset account trace)
    endpoints: list[dict[str, Any]]


class CompareRow(Model):
    """One entity (or a total) across the compared policies: base units per policy."""

    key: str
    kind: str  # "entity" or "reason" or "fees"
    entity: Entity | None = None
    reason: str | None = None
    amounts: dict[str, int | None]
    decimals: int | None = None
    symbol: str | None = None


class TraceView(Model):
    """The parts of a trace result the page lays out."""

    account: bool
    decimals: int | None
    symbol: str | None
    freeze: list[Entity]
    others: list[Entity]
    others_total: int
    groups: list[ReasonGroup]
    since: str | None = None  # the time window, ISO 8601 UTC
    until: str | None = None


def reason_texts(t: Callable[[str], str]) -> dict[str, tuple[str, str]]:
    """Each reason a trace can stop for (UTXO and account engines; docs/tracing.md): its name and
    what it means for the investigator, in the page's language (`t`)."""
    texts = [
        ("service", t("Reached a service"),
         t("A service of a stop category (tagged or listed): it can freeze the funds or name its customer.")),
        ("unspent", t("Still unspent"),
         t("Not spent as of the store's highest block: the funds still sit there (a freeze target).")),
        ("coinbase", t("Newly mined (coinbase)"), t("Backward: newly mined coins.")),
        ("hop_limit", t("Hop limit reached"), t("The hop limit was reached here.")),
        ("threshold", t("Below the minimum value"), t("The traced amount here is under the minimum value.")),
        ("time_limit", t("Outside the time window"),
         t("Forward: spent after the time window; backward: created before it.")),
        ("unresolved", t("Inputs not in the store"),
         t("Backward: funded by inputs the store does not hold (data incomplete).")),
        ("truncated", t("Search budget ran out"), t("The search budget ran out here: the funds may have moved on.")),
        ("burned", t("Burned"), t("Sent to a burn address or destroyed.")),
        ("minted", t("Minted"), t("Backward: newly minted tokens.")),
        ("unknown_history", t("Unknown history"), t("An outflow spent value the store never saw arrive.")),
    ]
    return {reason: (name, about) for reason, name, about in texts}


def names_of(tags: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    """The distinct (category, label) pairs of a tag list, in its order."""
    return list(dict.fromkeys((t.get("category"), str(t.get("label") or "")) for t in tags if t.get("label")))


def _entities(doc: dict[str, Any], decimals: int | None, symbol: str | None) -> list[Entity]:
    """The result's entities, each with the endpoint addresses it holds."""
    endpoints = doc.get("endpoints") or []
    by_cluster: dict[int, list[str]] = {}
    loose: dict[str, dict[str, Any]] = {}  # unclustered endpoint address -> what its entity shows
    for ep in endpoints:
        if ep.get("address") is None:
            continue
        if ep.get("cluster") is not None:
            listed = by_cluster.setdefault(ep["cluster"], [])
            if ep["address"] not in listed:
                listed.append(ep["address"])
        else:
            ent = loose.setdefault(ep["address"], {"tags": ep["tags"][:3], "reasons": set(), "amount": 0, "outputs": 0})
            ent["reasons"].add(ep["reason"])
            ent["amount"] += int(ep["amount_sat"])
            ent["outputs"] += len(ep.get("outputs") or [])
    out = []
    for e in doc.get("entities") or []:
        if e["cluster"] is not None:
            key, members = f"cluster:{e['cluster']}", by_cluster.get(e["cluster"], [])
        else:
            address = _loose_address(e, loose)
            key, members = (f"address:{address}", [address]) if address else (f"none:{','.join(e['reasons'])}", [])
        out.append(Entity(key=key, cluster=e["cluster"], names=names_of(e["tags"]), amount=int(e["amount_sat"]),
                          share=float(e["share"]), decimals=decimals, symbol=symbol,
                          addresses=members[:SHOWN_ADDRESSES], address_count=e["addresses"],
                          outputs=e.get("outputs", 0), reasons=list(e["reasons"])))
    return out


def _loose_address(entity: dict[str, Any], loose: dict[str, dict[str, Any]]) -> str | None:
    """The unclustered endpoint address an entity without a cluster stands for (an unclustered
    address is its own entity): same tags and reasons, amount equal up to per-output rounding."""
    for address, ent in loose.items():
        if (ent["tags"] == entity["tags"] and sorted(ent["reasons"]) == list(entity["reasons"])
                and abs(ent["amount"] - int(entity["amount_sat"])) <= max(1, ent["outputs"])):
            del loose[address]
            return address
    return None


def _account_freeze(doc: dict[str, Any]) -> list[Entity]:
    """An account trace's service endpoints (per address and asset), largest first as given."""
    return [Entity(key=f"address:{ep['address']}:{ep.get('asset')}", cluster=ep.get("cluster"),
                   names=names_of(ep.get("tags") or []) or [(None, str(ep.get("label") or ""))],
                   amount=int(ep["amount_sat"]), share=float(ep["share"]), decimals=ep.get("decimals"),
                   symbol=ep.get("symbol") or None, asset=ep.get("asset"), addresses=[ep["address"]], address_count=1,
                   outputs=len(ep.get("outputs") or []), reasons=[ep["reason"]])
            for ep in doc.get("endpoints") or [] if ep["reason"] == "service"]


def unit_of(doc: dict[str, Any]) -> tuple[int | None, str | None]:
    """Decimals and symbol of a result's amounts: BTC for a UTXO trace; an account trace's one
    asset (None, None when it traced several: each row then carries its own)."""
    if "unit" not in doc:
        return 8, "BTC"
    assets = doc.get("assets") or {}
    if len(assets) == 1:
        only = next(iter(assets.values()))
        return only.get("decimals"), only.get("symbol")
    return None, None


def view_of(result: TraceResult) -> TraceView:
    """The page's view of one trace result."""
    doc = result.document()
    account = "unit" in doc
    decimals, symbol = unit_of(doc)
    if account:
        freeze, others = _account_freeze(doc), []
    else:
        entities = _entities(doc, decimals, symbol)
        freeze = [e for e in entities if "service" in e.reasons]
        others = [e for e in entities if "service" not in e.reasons]
    by_reason = (doc.get("summary") or {}).get("by_reason_sat") or {}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for ep in doc.get("endpoints") or []:
        grouped.setdefault(ep["reason"], []).append(ep)
    order = [r for r in by_reason if r in grouped] + [r for r in grouped if r not in by_reason]
    groups = [ReasonGroup(reason=r, count=len(grouped[r]), total=by_reason.get(r),
                          endpoints=[{**ep, "names": names_of(ep.get("tags") or [])}
                                     for ep in grouped[r][:SHOWN_PER_REASON]]) for r in order]
    limits = doc.get("limits") or {}
    return TraceView(account=account, decimals=decimals, symbol=symbol, freeze=freeze, others=others[:SHOWN_OTHERS],
                     others_total=len(others), groups=groups, since=_iso(limits.get("since")),
                     until=_iso(limits.get("until")))


def _iso(unix: Any) -> str | None:
    """Unix seconds as ISO 8601 UTC (what `fmt.time` shows in the reader's zone)."""
    if unix is None:
        return None
    return dt.datetime.fromtimestamp(int(unix), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def compare_rows(results: Mapping[str, TraceResult]) -> list[CompareRow]:
    """Service entities x policies (largest first by their largest amount), then the totals by
    reason and the fees of each policy."""
    views = {policy: view_of(result) for policy, result in results.items()}
    policies = list(results)
    rows: dict[str, CompareRow] = {}
    for policy, view in views.items():
        for ent in view.freeze:
            row = rows.setdefault(ent.key, CompareRow(key=ent.key, kind="entity", entity=ent,
                                                      amounts=dict.fromkeys(policies), decimals=ent.decimals,
                                                      symbol=ent.symbol))
            row.amounts[policy] = ent.amount
    lead = next((p for p in CONSERVING if p in results), None)  # order by a policy that conserves value
    ordered = sorted(rows.values(), key=lambda r: (-(r.amounts.get(lead) or 0) if lead else 0,
                                                   -max((a or 0) for a in r.amounts.values())))
    docs = {policy: result.document() for policy, result in results.items()}
    first = next(iter(docs.values()), {})
    decimals, symbol = unit_of(first)
    if decimals is None and "unit" in first:
        return ordered  # several assets: totals per asset are on each policy's own page
    reasons: list[str] = []
    for doc in docs.values():
        reasons += [r for r in (doc.get("summary") or {}).get("by_reason_sat") or {} if r not in reasons]
    for reason in reasons:
        ordered.append(CompareRow(key=f"reason:{reason}", kind="reason", reason=reason, decimals=decimals,
                                  symbol=symbol, amounts={p: _reason_total(docs[p], reason) for p in policies}))
    ordered.append(CompareRow(key="fees", kind="fees", decimals=decimals, symbol=symbol,
                              amounts={p: (docs[p].get("summary") or {}).get("fees_sat") for p in policies}))
    return ordered


def _reason_total(doc: dict[str, Any], reason: str) -> int:
    return int(((doc.get("summary") or {}).get("by_reason_sat") or {}).get(reason) or 0)
