"""A trace rendered for people and for other tools: endpoints, totals and the traced subgraph.

The JSON shape is a contract (docs/cli.md, `fundtrail trace --json`). Ids become strings here and
only here: addresses rendered for the chain's network, txids in display hex, outpoints as
`TXID:VOUT`. Amounts are whole satoshi (`amount_sat`, rounded down) plus the exact value
(`amount_exact`, "num/den" for haircut fractions), so a court exhibit can show both.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from fundtrail.chains.bitcoin.address import render_address
from fundtrail.chains.bitcoin.params import network as network_by_name
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.trace.engine import REASONS, Trace
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.policies import whole_sat
from fundtrail.trace.seeds import Seed

#: address id -> {"cluster": ..., "tags": [...]}: what attribution knows (injected by the caller)
Describe = Callable[[int], dict[str, Any]]

_REASON_TEXT = {
    "service": "reached an attributed service (funds can be frozen or a production order served)",
    "unspent": "still unspent (funds sit there: a freeze target)",
    "coinbase": "newly mined coins (block reward)",
    "hop_limit": "hop limit reached",
    "threshold": "traced amount under the value threshold",
    "time_limit": "outside the time window",
    "unresolved": "spent output not in the store (data incomplete)",
    "truncated": "trace budget ran out here (result truncated)",
}


def _exact(x: int | Fraction) -> str:
    """The amount as computed: an integer, or "num/den" (exact fraction, or 2^-128-sat grid)."""
    if isinstance(x, Fraction):
        return str(x) if x.denominator != 1 else str(x.numerator)
    return str(x)


def _iso(ts: int) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Names:
    def __init__(self, graph: GraphIndex) -> None:
        self.g = graph
        self.net = network_by_name(bitcoin_network_of(graph.chain))
        self.cache: dict[int, str | None] = {}

    def address(self, a: int) -> str | None:
        if a < 0:
            return None
        if a not in self.cache:
            self.cache[a] = render_address(*self.g.address_key(a), self.net)
        return self.cache[a]

    def outpoint(self, o: int) -> str:
        tx = self.g.tx_of_output(o)
        return f"{self.g.txid_hex(tx)}:{o - int(self.g.tx_first_out[tx])}"


def to_json(graph: GraphIndex, seed: Seed, result: Trace, *, stop_at: list[str] | None = None,
            describe: Describe | None = None, max_edges: int = 5_000) -> dict[str, Any]:
    """The trace as the documented JSON object."""
    names = _Names(graph)
    seed_value = result.seed_value
    groups: dict[tuple[int, str], dict[str, Any]] = {}
    for e in result.endpoints:
        key = (e.address, e.reason)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"address_id": e.address, "reason": e.reason, "label": e.label,
                               "amount": 0, "hops": e.hops, "time": e.time, "outputs": []}
        g["amount"] += e.amount
        g["hops"] = min(g["hops"], e.hops)
        g["time"] = min(g["time"], e.time)
        if e.output >= 0:
            g["outputs"].append(names.outpoint(e.output))
    endpoints = []
    for g in sorted(groups.values(), key=lambda g: (-g["amount"], g["reason"], g["address_id"])):
        extra = describe(g["address_id"]) if describe and g["address_id"] >= 0 else {}
        endpoints.append({
            "address": names.address(g["address_id"]),
            "cluster": extra.get("cluster"),
            "tags": extra.get("tags", []),
            "reason": g["reason"],
            "label": g["label"],
            "amount_sat": whole_sat(g["amount"]),
            "amount_exact": _exact(g["amount"]),
            "share": float(Fraction(g["amount"]) / seed_value) if seed_value else 0.0,
            "hops": g["hops"],
            "first_arrival_unix": g["time"],
            "first_arrival": _iso(g["time"]),
            "outputs": sorted(g["outputs"]),
        })
    entities: dict[Any, dict[str, Any]] = {}
    for e in endpoints:
        key = e["cluster"] if e["cluster"] is not None else f"address:{e['address']}"
        ent = entities.setdefault(key, {"cluster": e["cluster"], "tags": e["tags"][:3], "amount": Fraction(0),
                                        "addresses": set(), "reasons": set()})
        ent["amount"] += Fraction(e["amount_exact"])
        ent["addresses"].add(e["address"])
        ent["reasons"].add(e["reason"])
    entity_rows = [{"cluster": ent["cluster"], "tags": ent["tags"], "amount_sat": whole_sat(ent["amount"]),
                    "share": float(ent["amount"] / seed_value) if seed_value else 0.0,
                    "addresses": len(ent["addresses"]), "reasons": sorted(ent["reasons"])}
                   for ent in sorted(entities.values(), key=lambda x: -x["amount"])]
    by_reason: dict[str, Any] = {}
    for e in result.endpoints:
        by_reason[e.reason] = by_reason.get(e.reason, 0) + e.amount
    txs = sorted({e.from_tx for e in result.edges} | {e.to_tx for e in result.edges if e.to_tx >= 0})
    edges = result.edges[:max_edges]
    return {
        "chain": graph.chain,
        "seed": {"input": seed.text, "kind": seed.kind,
                 "outputs": [names.outpoint(o) for o in result.seed_outputs],
                 "value_sat": seed_value},
        "direction": result.direction,
        "policy": result.policy,
        "limits": {**result.limits.as_dict(), "stop_at": stop_at or []},
        "endpoints": endpoints,
        "entities": entity_rows,
        "summary": {
            "seed_value_sat": seed_value,
            "by_reason_sat": {r: whole_sat(by_reason[r]) for r in REASONS if r in by_reason},
            "fees_sat": whole_sat(result.fees),
            "fees_exact": _exact(result.fees),
            "txs_visited": result.txs_visited,
            "endpoints": len(endpoints),
            "exact": result.exact,
        },
        "graph": {
            "nodes": [{"id": f"tx:{graph.txid_hex(t)}", "txid": graph.txid_hex(t),
                       "height": int(graph.tx_height[t]), "time": int(graph.tx_time[t])}
                      for t in txs[:max_edges]],
            "edges": [{"from": f"tx:{graph.txid_hex(e.from_tx)}",
                       "to": f"tx:{graph.txid_hex(e.to_tx)}" if e.to_tx >= 0 else None,
                       "output": names.outpoint(e.output),
                       "address": names.address(int(graph.out_address[e.output])),
                       "value_sat": int(graph.out_value[e.output]),
                       "amount_sat": whole_sat(e.amount)} for e in edges],
            "edges_total": len(result.edges),
            "edges_truncated": len(result.edges) > max_edges,
        },
        "truncated": result.truncated is not None,
        "truncation": result.truncated,
        "elapsed_ms": round(result.elapsed_s * 1000, 3),
    }


def _btc(sat: int) -> str:
    return f"{sat / 1e8:,.8f} BTC"


def render_text(doc: dict[str, Any], *, top: int = 25) -> str:
    """A plain-text report an investigator reads: seed, policy and limits, then where value went."""
    s = doc["summary"]
    lim = doc["limits"]
    lines = [
        f"{doc['direction'].capitalize()} trace of {doc['seed']['input']} ({doc['seed']['kind']}, "
        f"{len(doc['seed']['outputs'])} output(s), {_btc(s['seed_value_sat'])}) on {doc['chain']}",
        f"Policy: {doc['policy']}.  Limits: hops {lim['hops'] if lim['hops'] is not None else 'none'}, "
        f"min value {lim['min_value_sat']} sat, stop at {', '.join(lim['stop_at']) or 'nothing'}.",
    ]
    if doc["truncated"]:
        lines.append(f"TRUNCATED: {doc['truncation']}")
    if not s.get("exact", True):
        lines.append("Haircut amounts on a 2^-128-satoshi grid (use --exact for exact fractions).")
    lines.append("")
    for reason, amount in s["by_reason_sat"].items():
        share = amount / s["seed_value_sat"] if s["seed_value_sat"] else 0
        lines.append(f"  {_btc(amount):>22}  {share:7.2%}  {_REASON_TEXT[reason]}")
    lines.append(f"  {_btc(s['fees_sat']):>22}  {'':7}  paid as transaction fees")
    lines.append("")
    lines.append(f"Endpoints ({len(doc['endpoints'])}, largest first):")
    for e in doc["endpoints"][:top]:
        tag = f" [{e['label']}]" if e["label"] else ""
        lines.append(f"  {_btc(e['amount_sat']):>22}  {e['share']:7.2%}  {e['reason']:<10} "
                     f"{e['address'] or '(unknown)'}{tag}  hops {e['hops']}, first {e['first_arrival']}")
    if len(doc["endpoints"]) > top:
        lines.append(f"  ... {len(doc['endpoints']) - top} more (use --json for all)")
    clustered = [e for e in doc.get("entities", []) if e["cluster"] is not None]
    if clustered:
        lines.append(f"\nBy entity (cluster; {len(doc['entities'])} entities):")
        for e in doc["entities"][:top]:
            tag = f" [{e['tags'][0]['category']}: {e['tags'][0]['label']}]" if e["tags"] else ""
            who = f"cluster {e['cluster']}" if e["cluster"] is not None else "unclustered address"
            lines.append(f"  {_btc(e['amount_sat']):>22}  {e['share']:7.2%}  {who}{tag}, "
                         f"{e['addresses']} address(es), {', '.join(e['reasons'])}")
    lines.append(f"\n{s['txs_visited']} transactions visited in {doc['elapsed_ms']:.1f} ms.")
    return "\n".join(lines)
