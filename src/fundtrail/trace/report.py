"""A trace rendered for people and for other tools: endpoints, totals and the traced subgraph.

The JSON shape is a contract (docs/cli.md, `fundtrail trace --json`). Ids become strings here and
only here: addresses rendered for the chain's network, txids in display hex, outpoints as
`TXID:VOUT`. Amounts are whole satoshi (`amount_sat`, rounded down) plus the exact value
(`amount_exact`, "num/den" for haircut fractions), so a court exhibit can show both. Every result
carries its `accounting` (seed + absorbed = endpoints + fees) and the store `coverage` it rests
on: "unspent" always means "unspent as of the highest height held".
"""

from __future__ import annotations

import sys

import datetime as _dt
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from fundtrail.chains.bitcoin.address import render_address
from fundtrail.chains.bitcoin.params import network as network_by_name
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store.coverage import Coverage
from fundtrail.trace.engine import REASONS, Trace
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.policies import whole_sat
from fundtrail.trace.seeds import Seed

#: address id -> {"cluster": ..., "tags": [...]}: what attribution knows (injected by the caller)
Describe = Callable[[int], dict[str, Any]]

_REASON_TEXT = {
    "service": "reached an attributed service (funds can be frozen or a production order served)",
    "unspent": "still unspent as of height {tip} (funds sit there: a freeze target)",
    "coinbase": "newly mined coins (block reward)",
    "hop_limit": "hop limit reached",
    "threshold": "traced amount under the value threshold",
    "time_limit": "outside the time window",
    "unresolved": "funded by outputs not in the store (data incomplete)",
    "truncated": "trace budget ran out here (result truncated)",
}


def _exact(x: int | Fraction) -> str:
    """The amount as computed: an integer, or "num/den" (exact fraction, or 2^-128-sat grid)."""
    if isinstance(x, Fraction):
        return f"{_digits(x.numerator)}/{_digits(x.denominator)}" if x.denominator != 1 else _digits(x.numerator)
    return _digits(x)


def _digits(n: int) -> str:
    """`str(n)` for any size: exact haircut fractions of long account-chain paths pass Python's
    4,300-digit guard (a guard against parsing untrusted text; these numbers are our own)."""
    if n.bit_length() < 14_000:
        return str(n)
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return str(n)
    finally:
        sys.set_int_max_str_digits(limit)


def _iso(ts: int) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Names:
    """Address and outpoint strings of a UTXO graph's ids, rendered once each (only when shown).

    Reads the index through plain array views of its memory maps (indexing a `np.memmap` element
    by element costs a memmap object per read) and renders each txid once: a large trace names
    the same transactions in its nodes, edges and outpoints thousands of times."""

    def __init__(self, graph: GraphIndex) -> None:
        self.g = graph
        self.net = network_by_name(bitcoin_network_of(graph.chain))
        self.cache: dict[int, str | None] = {}
        self.txids: dict[int, str] = {}
        self.first_out = np.asarray(graph.tx_first_out)
        self.txid_bytes = np.asarray(graph.txid)

    def address(self, a: int) -> str | None:
        if a < 0:
            return None
        if a not in self.cache:
            self.cache[a] = render_address(*self.g.address_key(a), self.net)
        return self.cache[a]

    def txid(self, tx: int) -> str:
        """Display hex txid of transaction `tx` (`GraphIndex.txid_hex`), rendered once."""
        hx = self.txids.get(tx)
        if hx is None:
            hx = self.txids[tx] = self.txid_bytes[tx].tobytes()[::-1].hex()
        return hx

    def outpoint(self, o: int) -> str:
        tx = int(np.searchsorted(self.first_out, o, side="right")) - 1
        return f"{self.txid(tx)}:{o - int(self.first_out[tx])}"


_Names = Names  # the name inside this package

def _seed_docs(names: _Names, seeds: Sequence[Seed], result: Trace) -> list[dict[str, Any]]:
    """One entry per seed as typed: its kind, outputs, gross value and the new (not re-traced) part."""
    g = names.g
    docs = []
    for s in seeds:
        new = sum((Fraction(result.seed_new.get(o, 0)) for o in s.outputs), Fraction(0))
        docs.append({"input": s.text, "kind": s.kind, "outputs": [names.outpoint(o) for o in s.outputs],
                     "value_sat": int(sum(int(g.out_value[o]) for o in s.outputs)),
                     "new_sat": whole_sat(new), "new_exact": _exact(new)})
    return docs


def accounting(result: Trace) -> dict[str, Any]:
    """seed + absorbed = endpoints + fees, with each term exact and in whole satoshi."""
    ends = result.endpoint_total
    return {"seed_sat": whole_sat(result.seed_value), "seed_exact": _exact(result.seed_value),
            "seed_gross_sat": result.seed_gross, "retraced_sat": whole_sat(result.retraced),
            "retraced_exact": _exact(result.retraced),
            "absorbed_sat": whole_sat(result.absorbed), "absorbed_exact": _exact(result.absorbed),
            "endpoints_sat": whole_sat(ends), "endpoints_exact": _exact(ends),
            "fees_sat": whole_sat(result.fees), "fees_exact": _exact(result.fees),
            "balanced": result.balanced}


def to_json(graph: GraphIndex, seed: Seed | Sequence[Seed], result: Trace, *, stop_at: list[str] | None = None,
            describe: Describe | None = None, max_edges: int = 5_000,
            coverage: Coverage | None = None) -> dict[str, Any]:
    """The trace as the documented JSON object; `seed` is one seed or the list traced together."""
    names = _Names(graph)
    seeds = [seed] if isinstance(seed, Seed) else list(seed)
    seed_value = result.seed_value
    tip = coverage.tip_height if coverage is not None else None
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
    endpoints, amounts = [], []
    scaled = _scaled([g["amount"] for g in groups.values()])
    for g in sorted(groups.values(), key=lambda g: (-scaled(g["amount"]), g["reason"], g["address_id"])):
        extra = describe(g["address_id"]) if describe and g["address_id"] >= 0 else {}
        row = {
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
        }
        if g["reason"] == "unspent":
            row["as_of_height"] = tip
        endpoints.append(row)
        amounts.append(g["amount"])
    by_reason: dict[str, Any] = {}
    for e in result.endpoints:
        by_reason[e.reason] = by_reason.get(e.reason, 0) + e.amount
    txs = sorted({e.from_tx for e in result.edges} | {e.to_tx for e in result.edges if e.to_tx >= 0})
    edges = result.edges[:max_edges]
    height, tx_time = np.asarray(graph.tx_height), np.asarray(graph.tx_time)  # plain views: see Names
    out_address, out_value = np.asarray(graph.out_address), np.asarray(graph.out_value)
    seed_docs = _seed_docs(names, seeds, result)
    one = seed_docs[0] if len(seed_docs) == 1 else None
    return {
        "chain": graph.chain,
        "seed": {"input": one["input"] if one else f"{len(seed_docs)} seeds",
                 "kind": one["kind"] if one else "set",
                 "outputs": [names.outpoint(o) for o in result.seed_outputs],
                 "value_sat": whole_sat(seed_value), "value_exact": _exact(seed_value),
                 "gross_value_sat": result.seed_gross, "retraced_sat": whole_sat(result.retraced)},
        "seeds": seed_docs,
        "direction": result.direction,
        "policy": result.policy,
        "limits": {**result.limits.as_dict(), "stop_at": stop_at or []},
        "coverage": coverage.as_dict() if coverage is not None else None,
        "endpoints": endpoints,
        "entities": _entities(endpoints, seed_value, amounts),
        "accounting": accounting(result),
        "summary": {
            "seed_value_sat": whole_sat(seed_value),
            "by_reason_sat": {r: whole_sat(by_reason[r]) for r in REASONS if r in by_reason},
            "fees_sat": whole_sat(result.fees),
            "fees_exact": _exact(result.fees),
            "absorbed_sat": whole_sat(result.absorbed),
            "unspent_as_of_height": tip,
            "txs_visited": result.txs_visited,
            "endpoints": len(endpoints),
            "exact": result.exact,
        },
        "graph": {
            "nodes": [{"id": f"tx:{names.txid(t)}", "txid": names.txid(t),
                       "height": int(height[t]), "time": int(tx_time[t])} for t in txs[:max_edges]],
            "edges": [{"from": f"tx:{names.txid(e.from_tx)}",
                       "to": f"tx:{names.txid(e.to_tx)}" if e.to_tx >= 0 else None,
                       "output": names.outpoint(e.output),
                       "address": names.address(int(out_address[e.output])),
                       "value_sat": int(out_value[e.output]),
                       "amount_sat": whole_sat(e.amount)} for e in edges],
            "edges_total": len(result.edges),
            "edges_truncated": len(result.edges) > max_edges,
        },
        "warnings": coverage_warnings(coverage.as_dict() if coverage is not None else None),
        "truncated": result.truncated is not None,
        "truncation": result.truncated,
        "elapsed_ms": round(result.elapsed_s * 1000, 3),
    }


def _scaled(amounts: list[Any]) -> Callable[[Any], Any]:
    """An order-preserving key of `amounts` (ints and Fractions) for sorting: each amount times the
    common power-of-two denominator, an exact integer (haircut amounts live on a 2^-128-sat grid),
    so that a sort of thousands of endpoints compares integers, not Fractions. Other denominators
    (exact fractions): the amount itself."""
    den = 1
    for a in amounts:
        d = a.denominator if isinstance(a, Fraction) else 1
        if d & (d - 1):
            return lambda a: a
        den = max(den, d)
    return lambda a: a.numerator * (den // a.denominator) if isinstance(a, Fraction) else a * den


def _entities(endpoints: list[dict[str, Any]], seed_value: Any,
              amounts: list[Any] | None = None) -> list[dict[str, Any]]:
    """Endpoints summed by cluster (an unclustered address is its own entity). `addresses` counts
    the distinct endpoint addresses of the entity (not its size), `outputs` the endpoint outputs.
    `amounts`: each endpoint's amount as computed (else read back from its `amount_exact`)."""
    entities: dict[Any, dict[str, Any]] = {}
    if amounts is None:
        amounts = [Fraction(e["amount_exact"]) for e in endpoints]
    for e, amount in zip(endpoints, amounts):
        if e["cluster"] is not None:
            key: Any = ("cluster", e["cluster"])
        else:
            key = ("address", e["address"]) if e["address"] is not None else ("none", e["reason"])
        ent = entities.setdefault(key, {"cluster": e["cluster"], "tags": e["tags"][:3], "amount": Fraction(0),
                                        "addresses": set(), "outputs": 0, "reasons": set()})
        ent["amount"] += amount
        if e["address"] is not None:
            ent["addresses"].add(e["address"])
        ent["outputs"] += len(e["outputs"])
        ent["reasons"].add(e["reason"])
    scaled = _scaled([ent["amount"] for ent in entities.values()])
    return [{"cluster": ent["cluster"], "tags": ent["tags"], "amount_sat": whole_sat(ent["amount"]),
             "share": float(ent["amount"] / Fraction(seed_value)) if seed_value else 0.0,
             "addresses": len(ent["addresses"]), "outputs": ent["outputs"], "reasons": sorted(ent["reasons"])}
            for ent in sorted(entities.values(), key=lambda x: -scaled(x["amount"]))]


def _btc(sat: int) -> str:
    return f"{sat / 1e8:,.8f} BTC"


def _more(shown: int, total: int) -> list[str]:
    return [f"  … and {total - shown} more; --json lists all"] if total > shown else []


def coverage_lines(cov: dict[str, Any] | None) -> list[str]:
    """What the store holds, and the warning a freeze target needs when it is not contiguous."""
    if cov is None:
        return []
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in cov["ranges"]]
    text = f"Store coverage of {cov['chain']}: heights {', '.join(parts[:6]) or 'none'}"
    text += f" (+{len(parts) - 6} more ranges)" if len(parts) > 6 else ""
    if cov["gaps"]:
        missing = sum(b - a + 1 for a, b in cov["gaps"])
        text += f"; {len(cov['gaps'])} gap(s), {missing:,} heights missing"
    if cov["unplaced_blocks"]:
        text += f"; {cov['unplaced_blocks']} block(s) of unknown height"
    return [text + "."] + [f"WARNING: {w}" for w in coverage_warnings(cov)]


def coverage_warnings(cov: dict[str, Any] | None) -> list[str]:
    """Why a result on a store that is not contiguous may miss spends (empty when it is)."""
    if cov is None or cov["contiguous"]:
        return []
    return [f"the store is not contiguous (heights {', '.join(f'{a}-{b}' for a, b in cov['gaps'][:3]) or 'unknown'} "
            f"missing): spends in the missing heights and after {cov['tip_height']} are not visible, so "
            "'unspent' funds may be spent already and the trace may stop short; check before asking for a freeze"]


def render_text(doc: dict[str, Any], *, top: int = 25) -> str:
    """A plain-text report an investigator reads: seed, policy and limits, then where value went."""
    s = doc["summary"]
    lim = doc["limits"]
    seed = doc["seed"]
    tip = s.get("unspent_as_of_height")
    acc = doc.get("accounting")
    gross = seed.get("gross_value_sat", seed["value_sat"])
    value = _btc(seed["value_sat"]) + (f" new of {_btc(gross)} (the rest re-traced flow between seeds)"
                                        if gross != seed["value_sat"] else "")
    lines = [
        f"{doc['direction'].capitalize()} trace of {seed['input']} ({seed['kind']}, "
        f"{len(seed['outputs'])} output(s), {value}) on {doc['chain']}",
    ]
    if len(doc.get("seeds", [])) > 1:
        for sd in doc["seeds"][:top]:
            lines.append(f"  seed {sd['input']} ({sd['kind']}, {len(sd['outputs'])} output(s), "
                         f"{_btc(sd['value_sat'])}, new {_btc(sd['new_sat'])})")
        lines += _more(min(top, len(doc["seeds"])), len(doc["seeds"]))
    lines.append(f"Policy: {doc['policy']}.  Limits: hops {lim['hops'] if lim['hops'] is not None else 'none'}, "
                 f"min value {lim['min_value_sat']} sat, stop at {', '.join(lim['stop_at']) or 'nothing'}.")
    lines += coverage_lines(doc.get("coverage"))
    if doc["truncated"]:
        lines.append(f"TRUNCATED: {doc['truncation']}")
    if not s.get("exact", True):
        lines.append("Haircut amounts on a 2^-128-satoshi grid (use --exact for exact fractions).")
    lines.append("")
    for reason, amount in s["by_reason_sat"].items():
        share = amount / s["seed_value_sat"] if s["seed_value_sat"] else 0
        text = _REASON_TEXT[reason].format(tip=tip if tip is not None else "?")
        if reason == "unspent" and doc.get("warnings"):
            text = text.replace("a freeze target", "a freeze target only if still unspent: see WARNING")
        lines.append(f"  {_btc(amount):>22}  {share:7.2%}  {text}")
    lines.append(f"  {_btc(s['fees_sat']):>22}  {'':7}  paid as transaction fees")
    if acc:
        lines.append(f"Accounting: seed {_btc(acc['seed_sat'])} + absorbed {_btc(acc['absorbed_sat'])} = "
                     f"endpoints {_btc(acc['endpoints_sat'])} + fees {_btc(acc['fees_sat'])}: "
                     f"{'balanced' if acc['balanced'] else 'NOT BALANCED'} (exact amounts).")
    lines.append("")
    lines.append(f"Endpoints ({len(doc['endpoints'])}, largest first):")
    for e in doc["endpoints"][:top]:
        tag = f" [{e['label']}]" if e["label"] else ""
        why = f"unspent as of height {tip}" if e["reason"] == "unspent" and tip is not None else e["reason"]
        lines.append(f"  {_btc(e['amount_sat']):>22}  {e['share']:7.2%}  {e['address'] or '(no address)'}{tag}  "
                     f"{why}, hops {e['hops']}, first {e['first_arrival']}")
    lines += _more(min(top, len(doc["endpoints"])), len(doc["endpoints"]))
    clustered = [e for e in doc.get("entities", []) if e["cluster"] is not None]
    if clustered:
        lines.append(f"\nBy entity (cluster; {len(doc['entities'])} entities):")
        for e in doc["entities"][:top]:
            tag = f" [{e['tags'][0]['category']}: {e['tags'][0]['label']}]" if e["tags"] else ""
            who = f"cluster {e['cluster']}" if e["cluster"] is not None else "unclustered address"
            lines.append(f"  {_btc(e['amount_sat']):>22}  {e['share']:7.2%}  {who}{tag}, "
                         f"endpoints at {e['addresses']} of its address(es) ({e.get('outputs', 0)} output(s)), "
                         f"{', '.join(e['reasons'])}")
        lines += _more(min(top, len(doc["entities"])), len(doc["entities"]))
    from fundtrail.trace.marks import render_lines

    lines += render_lines(doc, top=top)  # CoinJoins met and likely change, when the nodes are marked
    lines.append(f"\n{s['txs_visited']} transactions visited in {doc['elapsed_ms']:.1f} ms.")
    return "\n".join(lines)
