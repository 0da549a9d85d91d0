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

Amounts are never floats: every amount keeps its exact integer in base units (`amount_sat`,
`amount_exact`: "num/den" for haircut fractions) and adds `decimals`, `symbol` and
`amount_display`, the amount in the asset's unit (ETH 18 decimals; a token's from the `tokens`
metadata ingest fetched), written from the integer (rounded down to a base unit). A token
without known decimals is shown in base units (`decimals` null). Endpoints and graph nodes carry
the attribution `describe` gives (direct tags, tags inherited through the address's cluster, with
their source, confidence and `inherited_from`). `accounting` (per asset in `summary.by_asset`)
states seed + absorbed = endpoints + fees (docs/taint-policies.md). An endpoint holding a token whose
own contract has frozen the address (`trace.freezes.frozen_now`) carries `frozen`: the action, block,
time and transaction, and the text "frozen by the issuer at block X"; else `frozen` is null.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from fundtrail.chains.resolve import account_text
from fundtrail.model.chains import ACCOUNT_CHAINS
from fundtrail.store.lake import Store
from fundtrail.store.txhash import tx_hash_text
from fundtrail.trace.account_engine import REASONS, AccountTrace
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.account_seeds import AccountSeed
from fundtrail.trace.freezes import FreezeFact
from fundtrail.trace.report import _exact, _iso

Describe = Callable[[int], dict[str, Any]]
_KIND = {0: "native", 1: "trace", 2: "log", 5: "withdrawal", 6: "fee", 7: "reward"}

_REASON_TEXT = {
    "service": "reached an attributed service (funds can be frozen or a production order served)",
    "unspent": "still held as of block {tip} (a freeze target)",
    "burned": "sent to no address (burnt)",
    "minted": "created from nothing (mint, withdrawal, block reward)",
    "unknown_history": "came from funds the store never saw arrive (history before its first block)",
    "hop_limit": "hop limit reached",
    "threshold": "traced amount under the value threshold",
    "time_limit": "outside the time window",
    "truncated": "trace budget ran out here (result truncated)",
}


def native_symbol(chain: str) -> str:
    known = ACCOUNT_CHAINS.get(chain)
    return known.native_symbol if known else "ETH"


@dataclass(frozen=True)
class Unit:
    """How an asset's amounts are shown: its symbol and decimals (None: unknown, show base units)."""

    symbol: str
    decimals: int | None


def token_units(store: Store, chain: str) -> dict[int, Unit]:
    """Symbol and decimals of the chain's tokens by address id, from the `tokens` table ingest fills
    (the token's own `symbol()` and `decimals()`); tokens it could not read are absent."""
    p = chain.replace("-", "_")
    with store.query() as con:
        names = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views()").fetchall()}
        if f"{p}_tokens" not in names:
            return {}
        rows = con.execute(f"SELECT address_id, any_value(symbol), any_value(decimals) FROM {p}_tokens "
                           "GROUP BY address_id").fetchall()
    return {int(a): Unit(sym or "", int(d) if d is not None else None) for a, sym, d in rows}


def format_units(amount: int | Fraction, decimals: int | None, *, group: bool = False) -> str:
    """An amount in base units written in the asset's unit, from integers only (never a float):
    `format_units(125968838768554613603, 18)` is "125.968838768554613603"; rounded down to a base unit."""
    base = amount if isinstance(amount, int) else math.floor(amount)
    sign, base = ("-" if base < 0 else ""), abs(base)
    if not decimals:
        return f"{sign}{base:,}" if group else f"{sign}{base}"
    whole, frac = divmod(base, 10 ** decimals)
    digits = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole:,}" if group and not digits else (
        f"{sign}{whole:,}.{digits}" if group else f"{sign}{whole}" + (f".{digits}" if digits else ""))


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
    def __init__(self, g: AccountGraph, units: dict[int, Unit] | None = None) -> None:
        self.g, self.native = g, native_symbol(g.chain)
        self.cache: dict[int, str] = {}
        known = ACCOUNT_CHAINS.get(g.chain)
        self.units = {**(units or {}), -1: Unit(self.native, known.native_decimals if known else 18)}

    def address(self, a: int) -> str | None:
        if a < 0:
            return None
        if a not in self.cache:
            self.cache[a] = account_text(self.g.address_bytes(a), chain=self.g.chain)
        return self.cache[a]

    def asset(self, x: int) -> str:
        return self.native if x < 0 else self.address(x) or self.native

    def unit(self, x: int) -> Unit:
        return self.units.get(x) or Unit("", None)

    def amounts(self, x: int, amount: Any, prefix: str = "amount") -> dict[str, Any]:
        """The exact base units, the decimals and the display string of one amount of asset `x`."""
        u = self.unit(x)
        return {f"{prefix}_sat": _base(amount), f"{prefix}_exact": _exact(amount),
                f"{prefix}_display": format_units(amount, u.decimals)}


def _base(amount: Any) -> int:
    """Whole base units, rounded down (haircut amounts are exact fractions)."""
    return amount if isinstance(amount, int) else math.floor(amount)


def to_json(graph: AccountGraph, seed: AccountSeed, result: AccountTrace, *, stop_at: list[str] | None = None,
            describe: Describe | None = None, units: dict[int, Unit] | None = None,
            tip: int | None = None, max_edges: int = 5_000,
            frozen: dict[tuple[int, int], FreezeFact] | None = None) -> dict[str, Any]:
    """The account trace as the documented JSON object; `units` from `token_units`, `tip` the
    highest block the store holds ("unspent" means held as of that block); `frozen` from
    `trace.freezes.frozen_now` ((token id, address id) -> the action that froze it)."""
    n = _Names(graph, units)
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
    described: dict[int, dict[str, Any]] = {}

    def about(a: int) -> dict[str, Any]:
        if describe is None or a < 0:
            return {}
        if a not in described:
            described[a] = describe(a)
        return described[a]

    endpoints = []
    for grp in sorted(groups.values(), key=lambda d: (-d["amount"], d["reason"], d["address_id"], d["asset"])):
        extra = about(grp["address_id"])
        seed_value = result.seed_value.get(grp["asset"], 0)
        u = n.unit(grp["asset"])
        row = {
            "address": n.address(grp["address_id"]), "cluster": extra.get("cluster"), "tags": extra.get("tags", []),
            "reason": grp["reason"], "label": grp["label"], "asset": n.asset(grp["asset"]),
            "symbol": u.symbol, "decimals": u.decimals, **n.amounts(grp["asset"], grp["amount"]),
            "share": float(Fraction(grp["amount"]) / Fraction(seed_value)) if seed_value else 0.0,
            "hops": grp["hops"], "first_arrival_unix": grp["time"], "first_arrival": _iso(grp["time"]),
            "outputs": [transfer_ref(graph, e) for e in sorted(grp["events"])],
        }
        if grp["reason"] == "unspent":
            row["as_of_block"] = tip
        fact = (frozen or {}).get((grp["asset"], grp["address_id"])) if grp["asset"] >= 0 else None
        row["frozen"] = (_frozen(fact, n.unit(grp["asset"]).decimals, n.g.chain)
                         if fact is not None else None)
        endpoints.append(row)
    by_asset = _by_asset(n, result)
    single = next(iter(by_asset.values())) if len(by_asset) == 1 else None
    fees_total = sum(result.fees.values(), 0)
    edges = result.edges[:max_edges]
    nodes = sorted({a for ed in edges for a in (int(graph.ev_from[ed.event]), int(graph.ev_to[ed.event])) if a >= 0})
    parts = seed.parts or (seed,)
    return {
        "chain": graph.chain,
        "unit": "amount_sat / *_sat and amount_exact: base units of each asset (wei, token units); "
                "amount_display / *_display: the same in the asset's unit (decimals)",
        "assets": {k: {"symbol": v["symbol"], "decimals": v["decimals"]} for k, v in by_asset.items()},
        "seed": {"input": seed.text if not seed.parts else f"{len(parts)} seeds", "kind": seed.kind,
                 "outputs": [transfer_ref(graph, e) for e in result.seed_events],
                 "asset": next(iter(by_asset)) if len(by_asset) == 1 else None,
                 "value_sat": single["seed_value"] if single else None,
                 "values": {k: v["seed_value_exact"] for k, v in by_asset.items()}},
        "seeds": [{"input": p.text.strip(), "kind": p.kind,
                   "outputs": [transfer_ref(graph, e) for e in p.events if e in set(result.seed_events)]}
                  for p in parts],
        "direction": result.direction,
        "policy": result.policy,
        "limits": {**result.limits.as_dict(), "stop_at": stop_at or []},
        "endpoints": endpoints,
        "accounting": single["accounting"] if single else None,
        "summary": {
            "seed_value_sat": single["seed_value"] if single else None,
            "by_reason_sat": single["by_reason"] if single else None,
            "fees_sat": _base(fees_total) if single else None,
            "fees_exact": _exact(fees_total) if single else None,
            "unspent_as_of_block": tip,
            "txs_visited": result.events_visited,
            "endpoints": len(endpoints),
            "by_asset": by_asset,
        },
        "history": {
            "complete": not result.history_gaps,
            "gaps": [{"address": n.address(a), "asset": n.asset(x), "transfer": transfer_ref(graph, e),
                      "missing": str(m), "missing_display": format_units(m, n.unit(x).decimals)}
                     for a, x, e, m in result.history_gaps[:max_edges]],
        },
        "graph": {
            "nodes": [{"id": f"addr:{n.address(a)}", "address": n.address(a), "cluster": about(a).get("cluster"),
                       "tags": about(a).get("tags", [])} for a in nodes],
            "edges": [_edge(graph, n, ed) for ed in edges],
            "edges_total": len(result.edges),
            "edges_truncated": len(result.edges) > max_edges,
        },
        "truncated": result.truncated is not None,
        "truncation": result.truncated,
        "elapsed_ms": round(result.elapsed_s * 1000, 3),
    }


def _frozen(f: FreezeFact, decimals: int | None, chain: str) -> dict[str, Any]:
    """An endpoint's freeze: the token contract's last action on the address (it froze it)."""
    return {"action": f.action, "block": f.block, "time": _iso(f.time), "tx": tx_hash_text(f.tx_hash, chain=chain),
            "log_index": f.log_index, "amount": str(f.amount) if f.amount is not None else None,
            "amount_display": format_units(f.amount, decimals) if f.amount is not None else None,
            "text": f"frozen by the issuer at block {f.block}"}


def _edge(graph: AccountGraph, n: _Names, ed: Any) -> dict[str, Any]:
    e = ed.event
    x, s, r = int(graph.ev_asset[e]), int(graph.ev_from[e]), int(graph.ev_to[e])
    return {"from": f"addr:{n.address(s)}" if s >= 0 else None, "to": f"addr:{n.address(r)}" if r >= 0 else None,
            "output": transfer_ref(graph, e), "address": n.address(r), "asset": n.asset(x),
            "value_sat": graph.amount(e), "value_display": format_units(graph.amount(e), n.unit(x).decimals),
            **n.amounts(x, ed.amount), "hops": ed.hops, "time": int(graph.ev_time[e])}


def _by_asset(n: _Names, result: AccountTrace) -> dict[str, dict[str, Any]]:
    """Per asset: seed, amounts by reason, fees and the accounting identity, exact and displayed."""
    xs = sorted(set(result.seed_gross) | {e.asset for e in result.endpoints} | set(result.fees))
    out: dict[str, dict[str, Any]] = {}
    for x in xs:
        u = n.unit(x)
        seed = result.seed_value.get(x, 0)
        reasons: dict[str, Any] = {}
        for e in result.endpoints:
            if e.asset == x:
                reasons[e.reason] = reasons.get(e.reason, 0) + e.amount
        ends = sum(reasons.values(), 0)
        fees, absorbed = result.fees.get(x, 0), result.absorbed.get(x, 0)
        out[n.asset(x)] = {
            "symbol": u.symbol, "decimals": u.decimals,
            "seed_value": _base(seed), "seed_value_exact": _exact(seed), "seed_display": format_units(seed, u.decimals),
            "by_reason": {r: _base(reasons[r]) for r in REASONS if r in reasons},
            "by_reason_exact": {r: _exact(reasons[r]) for r in REASONS if r in reasons},
            "by_reason_display": {r: format_units(reasons[r], u.decimals) for r in REASONS if r in reasons},
            "fees": _base(fees), "fees_exact": _exact(fees), "fees_display": format_units(fees, u.decimals),
            "accounting": {
                "seed_gross_sat": result.seed_gross.get(x, 0),
                **n.amounts(x, result.retraced.get(x, 0), "retraced"),
                **n.amounts(x, seed, "seed"), **n.amounts(x, absorbed, "absorbed"),
                **n.amounts(x, ends, "endpoints"), **n.amounts(x, fees, "fees"),
                "balanced": seed + absorbed == ends + fees,
            },
        }
    return out


def _show(amount: Any, d: dict[str, Any]) -> str:
    """An amount for the text report: in the asset's unit with its symbol, or in base units."""
    if d["decimals"] is None:
        return f"{format_units(amount, None, group=True)} base units"
    return f"{format_units(amount, d['decimals'], group=True)} {d['symbol']}".rstrip()


def _tag_text(t: dict[str, Any]) -> str:
    via = f", via cluster of {t['inherited_from']}" if t.get("inherited_from") else ""
    return f"{t['category']}: {t['label']} ({t.get('source') or 'no source'}, {t.get('confidence')}{via})"


def render_text(doc: dict[str, Any], *, top: int = 25) -> str:
    """A plain-text report: seed, policy and limits, then where value went, per asset, in each
    asset's unit (exact base units are in --json)."""
    lim = doc["limits"]
    seed = doc["seed"]
    tip = doc["summary"].get("unspent_as_of_block")
    lines = [(f"{doc['direction'].capitalize()} trace of {seed['input']} ({seed['kind']}, "
              f"{len(seed['outputs'])} transfer(s)) on {doc['chain']}")]
    if len(doc.get("seeds", [])) > 1:
        lines += [f"  seed {s['input']} ({s['kind']}, {len(s['outputs'])} transfer(s))" for s in doc["seeds"][:top]]
        if len(doc["seeds"]) > top:
            lines.append(f"  ... {len(doc['seeds']) - top} more seeds (use --json for all)")
    lines.append(f"Policy: {doc['policy']}.  Limits: hops {lim['hops'] if lim['hops'] is not None else 'none'}, "
                 f"min value {lim['min_value_sat']} base units, stop at {', '.join(lim['stop_at']) or 'nothing'}.")
    if doc["truncated"]:
        lines.append(f"TRUNCATED: {doc['truncation']}")
    if not doc["history"]["complete"]:
        lines.append(f"History incomplete: {len(doc['history']['gaps'])} traced outflow(s) exceeded the balance "
                     "the store has seen (funds from before its first block); see history.gaps.")
    for asset, d in doc["summary"]["by_asset"].items():
        acc = d["accounting"]
        name = d["symbol"] if asset == d["symbol"] else f"{d['symbol'] or 'token'} ({asset})"
        head = f"\n{name}: seed {_show(Fraction(d['seed_value_exact']), d)}"
        if acc["retraced_exact"] != "0":
            head += (f" (the seed transfers total {_show(acc['seed_gross_sat'], d)}; "
                     f"{_show(Fraction(acc['retraced_exact']), d)} of it re-traces value of another seed)")
        lines.append(head)
        seed_value = Fraction(d["seed_value_exact"])
        for reason in d["by_reason"]:
            amount = Fraction(d["by_reason_exact"][reason])
            share = f"{float(amount / seed_value):7.2%}" if seed_value else f"{'':7}"
            why = (_REASON_TEXT[reason].format(tip=tip) if tip is not None
                   else _REASON_TEXT[reason].replace("as of block {tip}", "at the store's last block"))
            lines.append(f"  {_show(amount, d):>34}  {share}  {why}")
        if d["fees_exact"] != "0" or asset == d["symbol"]:  # tokens pay no fees: say so only when they did
            lines.append(f"  {_show(Fraction(d['fees_exact']), d):>34}  {'':7}  paid as transaction fees")
        if acc["absorbed_exact"] != "0":
            lines.append(f"  {_show(Fraction(acc['absorbed_exact']), d):>34}  {'':7}  clean value absorbed by "
                         "poison (counted in the amounts above, not part of the seed)")
        lines.append(f"  accounting: seed + absorbed = endpoints + fees: "
                     f"{'balanced' if acc['balanced'] else 'NOT BALANCED'} (exact base units in --json)")
    lines.append(f"\nEndpoints ({len(doc['endpoints'])}, largest first):")
    assets = doc["summary"]["by_asset"]
    for e in doc["endpoints"][:top]:
        label = f" [{e['label']}]" if e["label"] else ""
        d = assets.get(e["asset"]) or {"symbol": e["symbol"], "decimals": e["decimals"]}
        lines.append(f"  {_show(Fraction(e['amount_exact']), d):>34} {e['share']:7.2%}  {e['reason']:<15} "
                     f"{e['address'] or '(none)'}{label}  hops {e['hops']}, first {e['first_arrival']}")
        if e.get("frozen"):
            fz = e["frozen"]
            lines.append(f"  {'':>34} {'':7}  {fz['text']} ({fz['action']}, tx {fz['tx']}, {fz['time']})")
        for t in e["tags"][:3]:
            lines.append(f"  {'':>34} {'':7}  tag {_tag_text(t)}")
        if len(e["tags"]) > 3:
            lines.append(f"  {'':>34} {'':7}  ... {len(e['tags']) - 3} more tag(s) (use --json)")
    if len(doc["endpoints"]) > top:
        lines.append(f"  ... {len(doc['endpoints']) - top} more (use --json for all)")
    lines.append(f"\n{doc['summary']['txs_visited']} transfers visited in {doc['elapsed_ms']:.1f} ms.")
    return "\n".join(lines)
