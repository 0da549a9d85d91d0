"""Time-respecting paths on an account chain: the transfers by which value can have moved from A to B.

The account twin of `trace.paths`. A hop is one transfer of one asset (native, internal, token):
from where a transfer lands, the walk goes on with the transfers of the same asset that address
sent later in execution order (the graph's event positions are that order), up to `max_hops`
transfers, keeping every parent at the shortest depth; up to `limit` paths are read back from the
transfers that paid the target, shortest first. A path from an address starts with a transfer it
sent; from a transaction, with one of that transaction's transfers. Fees carry no value onward and
are not hops. Each path says the most value it can have carried (its smallest transfer), an upper
bound, not a taint amount: the trace (`fundtrail trace`) says how much did.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fundtrail.store.lake import Store
from fundtrail.trace.account_graph import KIND_FEE, AccountGraph
from fundtrail.trace.account_report import _Names, format_units, token_units, transfer_ref
from fundtrail.trace.account_seeds import AccountSeed
from fundtrail.trace.report import _iso

Path = list[int]  # event positions, first transfer first, the one paying the target last


def _sent_after(g: AccountGraph, address: int, asset: int, after: int) -> list[int]:
    """Transfers of `asset` that `address` sent after event position `after` (fees left out)."""
    evs = np.asarray(g.events_of(address), np.int64)
    evs = evs[evs > after]
    keep = ((np.asarray(g.ev_from[evs]) == address) & (np.asarray(g.ev_asset[evs]) == asset)
            & (np.asarray(g.ev_kind[evs]) != KIND_FEE) & (np.asarray(g.ev_to[evs]) >= 0))
    return [int(e) for e in evs[keep]]


def first_hops(g: AccountGraph, seed: AccountSeed) -> list[int]:
    """Where paths from `seed` start: an address's sent transfers, a transaction's transfers."""
    if seed.kind == "address":
        evs = np.asarray(g.events_of(seed.address), np.int64)
        keep = ((np.asarray(g.ev_from[evs]) == seed.address) & (np.asarray(g.ev_kind[evs]) != KIND_FEE)
                & (np.asarray(g.ev_to[evs]) >= 0))
        return [int(e) for e in evs[keep]]
    return [int(e) for e in seed.events if int(g.ev_to[e]) >= 0]


def find_account_paths(g: AccountGraph, starts: list[int], target: int, *, max_hops: int = 6,
                       limit: int = 20, max_events: int = 2_000_000) -> list[Path]:
    """Up to `limit` shortest transfer paths from `starts` (depth 1) to transfers paying `target`."""
    depth: dict[int, int] = {}
    parents: dict[int, list[int]] = {}
    frontier = []
    for e in starts:
        if e not in depth:
            depth[e] = 1
            frontier.append(e)
    hits = [e for e in frontier if int(g.ev_to[e]) == target]
    for d in range(2, max_hops + 1):
        if not frontier or len(depth) > max_events:
            break
        nxt = []
        for e in frontier:
            here = int(g.ev_to[e])
            if here == target:
                continue  # arrived: a longer path through the target is not a path to it
            for f in _sent_after(g, here, int(g.ev_asset[e]), e):
                if f in depth:
                    if depth[f] == d:
                        parents[f].append(e)
                    continue
                depth[f], parents[f] = d, [e]
                nxt.append(f)
                if int(g.ev_to[f]) == target:
                    hits.append(f)
        frontier = nxt
    paths: list[Path] = []
    for h in sorted(hits, key=lambda e: (depth[e], e)):
        stack: list[Path] = [[h]]
        while stack and len(paths) < limit:
            p = stack.pop()
            if depth[p[0]] == 1:
                paths.append(p)
                continue
            for par in reversed(parents.get(p[0], [])):
                stack.append([par, *p])
        if len(paths) >= limit:
            break
    return paths


def account_paths_json(store: Store, g: AccountGraph, src: AccountSeed, dst: AccountSeed, paths: list[Path], *,
                       max_hops: int, limit: int) -> dict[str, Any]:
    """Paths as documented JSON (`PathsResult`): each step one transfer, with its asset and amount."""
    n = _Names(g, token_units(store, g.chain))
    out = []
    for p in paths:
        steps: list[dict[str, Any]] = []
        for e in p:
            tx, x, amount = int(g.ev_tx[e]), int(g.ev_asset[e]), g.amount(e)
            steps.append({"txid": g.tx_hash_hex(tx) if tx >= 0 else None, "time": _iso(int(g.ev_time[e])),
                          "height": int(g.ev_block[e]), "transfer": transfer_ref(g, e),
                          "from_address": n.address(int(g.ev_from[e])), "to_address": n.address(int(g.ev_to[e])),
                          "asset": n.asset(x), "symbol": n.unit(x).symbol or None, "decimals": n.unit(x).decimals,
                          "value_sat": amount, "value_display": format_units(amount, n.unit(x).decimals)})
        least = min(g.amount(e) for e in p)
        first = n.unit(int(g.ev_asset[p[0]]))
        out.append({"hops": len(p), "start": steps[0]["transfer"], "asset": steps[0]["asset"],
                    "symbol": steps[0]["symbol"], "max_value_sat": least,
                    "max_value_display": format_units(least, first.decimals), "steps": steps})
    return {"chain": g.chain, "source": src.text, "target": dst.text, "max_hops": max_hops,
            "limit": limit, "found": len(out), "complete": len(out) < limit, "paths": out}


def render_account_paths(doc: dict[str, Any]) -> str:
    """Plain text: one block per path, one line per transfer, amounts in the asset's unit."""
    if not doc["paths"]:
        return (f"No path from {doc['source']} to {doc['target']} within {doc['max_hops']} "
                "transfers in the store.")
    lines = [f"{doc['found']} path(s) from {doc['source']} to {doc['target']} "
             f"(up to {doc['max_hops']} transfers" + ("" if doc["complete"] else
                                                       f", first {doc['limit']} shown") + "):"]
    for i, p in enumerate(doc["paths"], 1):
        unit = p.get("symbol") or p["asset"]
        lines.append(f"\n#{i}: {p['hops']} hop(s), at most {p['max_value_display']} {unit}, from {p['start']}")
        for s in p["steps"]:
            lines.append(f"   {s['time']}  {s['txid'] or s['transfer']}  {s['from_address']} -> {s['to_address']}  "
                         f"{s['value_display']} {s.get('symbol') or s['asset']}")
    return "\n".join(lines)
