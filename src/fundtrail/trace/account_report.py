"""An account-chain trace rendered for people and other tools, in the JSON shape of `trace.report`.

The keys are those of the UTXO report (seed, direction, policy, limits, endpoints with address /
cluster / tags / reason / label / amount_sat / amount_exact / share / hops / first_arrival /
outputs, summary, graph nodes and edges, truncated) so consumers read both; here amounts are base
units of their asset (wei, token units) and every amount-bearing object names its `asset` (the
native symbol or the token's EIP-55 address). `outputs` are transfer references:

- `0xTX:native` a transaction's own value; `0xTX:trace:0.1` an internal transfer (its trace address);
- `0xTX:12` a token transfer (block-wide log index); `0xTX:fee:tip` / `0xTX:fee:burnt` a fee;
- `block:N:withdrawal:K` / `block:N:reward:K` the K-th withdrawal / reward of block N (no transaction).

The graph's nodes are addresses and its edges the transfers that carried traced value.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from fundtrail.chains.ethereum.hexutil import eip55
from fundtrail.model.chains import EVM_CHAINS
from fundtrail.trace.account_engine import REASONS, AccountTrace
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.account_seeds import AccountSeed
from fundtrail.trace.report import _exact, _iso

Describe = Callable[[int], dict[str, Any]]
_KIND = {0: "native", 1: "trace", 2: "log", 5: "withdrawal", 6: "fee", 7: "reward"}

_REASON_TEXT = {
    "service": "reached an attributed service (funds can be frozen or a production order served)",
    "unspent": "still held at the end of the store (a freeze target)",
    "burned": "sent to no address (burnt)",
    "minted": "created from nothing (mint, withdrawal, block reward)",
    "unknown_history": "came from funds the store never saw arrive (history before its first block)",
    "hop_limit": "hop limit reached",
    "threshold": "traced amount under the value threshold",
    "time_limit": "outside the time window",
    "truncated": "trace budget ran out here (result truncated)",
}


def native_symbol(chain: str) -> str:
    known = EVM_CHAINS.get(chain)
    return known.native_symbol if known else "ETH"


def transfer_ref(g: AccountGraph, e: int) -> str:
    """The documented reference of event `e` (see the module docstring)."""
    kind = int(g.ev_kind[e])
    tx = int(g.ev_tx[e])
    if tx < 0:
        block = int(g.ev_block[e])
        k = 0
        while e - k - 1 >= 0 and int(g.ev_block[e - k - 1]) == block and int(g.ev_kind[e - k - 1]) == kind:
            k += 1
        return f"block:{block}:{_KIND.get(kind, 'transfer')}:{k}"
    h = g.tx_hash_hex(tx)
    if kind == 0:
        return f"{h}:native"
    if kind == 1:
        return f"{h}:trace:{'.'.join(str(x) for x in g.trace_address(e))}"
    if kind == 6:  # the store writes the tip, then the burnt part (a zero-address miner reads as -1)
        same = [0 <= i < g.n_events and int(g.ev_tx[i]) == tx and int(g.ev_kind[i]) == 6 for i in (e - 1, e + 1)]
        part = "burnt" if same[0] else "tip" if same[1] else "tip" if g.ev_to[e] >= 0 else "burnt"
        return f"{h}:fee:{part}"
    batch = int(g.ev_batch[e])
    return f"{h}:{int(g.ev_log[e])}" + (f".{batch}" if batch >= 0 else "")


class _Names:
    def __init__(self, g: AccountGraph) -> None:
        self.g, self.native = g, native_symbol(g.chain)
        self.cache: dict[int, str] = {}

    def address(self, a: int) -> str | None:
        if a < 0:
            return None
        if a not in self.cache:
            self.cache[a] = eip55(self.g.address_bytes(a))
        return self.cache[a]

    def asset(self, x: int) -> str:
        return self.native if x < 0 else self.address(x) or self.native


def to_json(graph: AccountGraph, seed: AccountSeed, result: AccountTrace, *, stop_at: list[str] | None = None,
            describe: Describe | None = None, max_edges: int = 5_000) -> dict[str, Any]:
    """The account trace as the documented JSON object."""
    n = _Names(graph)
    groups: dict[tuple[int, int, str], dict[str, Any]] = {}
    for e in result.endpoints:
        key = (e.address, e.asset, e.reason)
        grp = groups.get(key)
        if grp is None:
            grp = groups[key] = {"address_id": e.address, "asset": e.asset, "reason": e.reason, "label": e.label,
                                 "amount": 0, "hops": e.hops, "time": e.time, "events": set()}
        grp["amount"] += e.amount
        grp["hops"] = min(grp["hops"], e.hops)
        grp["time"] = min(grp["time"], e.time)
        grp["events"].update(e.events)
    endpoints = []
    for grp in sorted(groups.values(), key=lambda d: (-d["amount"], d["reason"], d["address_id"], d["asset"])):
        extra = describe(grp["address_id"]) if describe and grp["address_id"] >= 0 else {}
        seed_value = result.seed_value.get(grp["asset"], 0)
        endpoints.append({
            "address": n.address(grp["address_id"]), "cluster": extra.get("cluster"), "tags": extra.get("tags", []),
            "reason": grp["reason"], "label": grp["label"], "asset": n.asset(grp["asset"]),
            "amount_sat": int(grp["amount"]), "amount_exact": _exact(grp["amount"]),
            "share": float(Fraction(grp["amount"]) / seed_value) if seed_value else 0.0,
            "hops": grp["hops"], "first_arrival_unix": grp["time"], "first_arrival": _iso(grp["time"]),
            "outputs": [transfer_ref(graph, e) for e in sorted(grp["events"])],
        })
    by_asset: dict[str, dict[str, Any]] = {}
    for x, v in sorted(result.seed_value.items()):
        by_asset[n.asset(x)] = {"seed_value": v, "by_reason": {}, "fees": 0, "fees_exact": "0"}
    for e in result.endpoints:
        d = by_asset.setdefault(n.asset(e.asset), {"seed_value": 0, "by_reason": {}, "fees": 0, "fees_exact": "0"})
        d["by_reason"][e.reason] = d["by_reason"].get(e.reason, 0) + e.amount
    for x, f in result.fees.items():
        d = by_asset.setdefault(n.asset(x), {"seed_value": 0, "by_reason": {}, "fees": 0, "fees_exact": "0"})
        d["fees"], d["fees_exact"] = int(f), _exact(f)
    for d in by_asset.values():
        d["by_reason"] = {r: int(d["by_reason"][r]) for r in REASONS if r in d["by_reason"]}
    single = next(iter(by_asset.values())) if len(by_asset) == 1 else None
    fees_total = sum(result.fees.values(), 0)
    edges = result.edges[:max_edges]
    nodes = sorted({a for ed in edges for a in (int(graph.ev_from[ed.event]), int(graph.ev_to[ed.event])) if a >= 0})
    return {
        "chain": graph.chain,
        "unit": "base units of each asset (wei, token units)",
        "seed": {"input": seed.text, "kind": seed.kind,
                 "outputs": [transfer_ref(graph, e) for e in result.seed_events],
                 "asset": next(iter(by_asset)) if len(by_asset) == 1 else None,
                 "value_sat": single["seed_value"] if single else None,
                 "values": {k: str(v["seed_value"]) for k, v in by_asset.items()}},
        "direction": result.direction,
        "policy": result.policy,
        "limits": {**result.limits.as_dict(), "stop_at": stop_at or []},
        "endpoints": endpoints,
        "summary": {
            "seed_value_sat": single["seed_value"] if single else None,
            "by_reason_sat": single["by_reason"] if single else None,
            "fees_sat": int(fees_total) if single else None,
            "fees_exact": _exact(fees_total) if single else None,
            "txs_visited": result.events_visited,
            "endpoints": len(endpoints),
            "by_asset": by_asset,
        },
        "history": {
            "complete": not result.history_gaps,
            "gaps": [{"address": n.address(a), "asset": n.asset(x), "transfer": transfer_ref(graph, e),
                      "missing": str(m)} for a, x, e, m in result.history_gaps[:max_edges]],
        },
        "graph": {
            "nodes": [{"id": f"addr:{n.address(a)}", "address": n.address(a)} for a in nodes],
            "edges": [{"from": f"addr:{n.address(int(graph.ev_from[ed.event]))}" if graph.ev_from[ed.event] >= 0 else None,
                       "to": f"addr:{n.address(int(graph.ev_to[ed.event]))}" if graph.ev_to[ed.event] >= 0 else None,
                       "output": transfer_ref(graph, ed.event),
                       "address": n.address(int(graph.ev_to[ed.event])),
                       "asset": n.asset(int(graph.ev_asset[ed.event])),
                       "value_sat": graph.amount(ed.event), "amount_sat": int(ed.amount),
                       "amount_exact": _exact(ed.amount), "hops": ed.hops,
                       "time": int(graph.ev_time[ed.event])} for ed in edges],
            "edges_total": len(result.edges),
            "edges_truncated": len(result.edges) > max_edges,
        },
        "truncated": result.truncated is not None,
        "truncation": result.truncated,
        "elapsed_ms": round(result.elapsed_s * 1000, 3),
    }


def render_text(doc: dict[str, Any], *, top: int = 25) -> str:
    """A plain-text report: seed, policy and limits, then where value went, per asset."""
    lim = doc["limits"]
    lines = [
        (f"{doc['direction'].capitalize()} trace of {doc['seed']['input']} ({doc['seed']['kind']}, "
         f"{len(doc['seed']['outputs'])} transfer(s)) on {doc['chain']}"),
        (f"Policy: {doc['policy']}.  Limits: hops {lim['hops'] if lim['hops'] is not None else 'none'}, "
         f"min value {lim['min_value_sat']} base units, stop at {', '.join(lim['stop_at']) or 'nothing'}."),
    ]
    if doc["truncated"]:
        lines.append(f"TRUNCATED: {doc['truncation']}")
    if not doc["history"]["complete"]:
        lines.append(f"History incomplete: {len(doc['history']['gaps'])} traced outflow(s) exceeded the balance "
                     "the store has seen (funds from before its first block); see history.gaps.")
    for asset, d in doc["summary"]["by_asset"].items():
        lines.append(f"\n{asset}: seed {d['seed_value']} base units")
        for reason, amount in d["by_reason"].items():
            share = amount / d["seed_value"] if d["seed_value"] else 0
            lines.append(f"  {amount:>30}  {share:7.2%}  {_REASON_TEXT[reason]}")
        lines.append(f"  {d['fees']:>30}  {'':7}  paid as transaction fees")
    lines.append(f"\nEndpoints ({len(doc['endpoints'])}, largest first):")
    for e in doc["endpoints"][:top]:
        tag = f" [{e['label']}]" if e["label"] else ""
        lines.append(f"  {e['amount_sat']:>30} {e['asset'][:10]:<10} {e['share']:7.2%}  {e['reason']:<15} "
                     f"{e['address'] or '(none)'}{tag}  hops {e['hops']}, first {e['first_arrival']}")
    if len(doc["endpoints"]) > top:
        lines.append(f"  ... {len(doc['endpoints']) - top} more (use --json for all)")
    lines.append(f"\n{doc['summary']['txs_visited']} transfers visited in {doc['elapsed_ms']:.1f} ms.")
    return "\n".join(lines)
