"""Time-respecting paths from a source to a target address: how value can have moved from A to B.

On a UTXO chain every path is time-respecting by construction (an output is spent after it was
created). The search is a breadth-first walk output -> spending transaction -> its outputs up to
`max_hops` transactions, keeping every parent at the shortest depth (the shortest-path DAG); up to
`limit` paths are then read back from the target's outputs, shortest first. Each path says the
most value it can have carried (its smallest output), an upper bound, not a taint amount.
"""

from __future__ import annotations

import itertools

from collections.abc import Iterable
from typing import Any

from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.report import _iso, _Names
from fundtrail.trace.seeds import Seed

Path = list[int]  # output ids, source output first, target output last


def find_paths(graph: GraphIndex, sources: Iterable[int], target: int, *, max_hops: int = 6,
               limit: int = 20, max_outputs: int = 2_000_000) -> list[Path]:
    """Up to `limit` shortest output paths from `sources` to outputs paid to address `target`."""
    depth: dict[int, int] = {}
    parents: dict[int, list[int]] = {}
    frontier = []
    for o in sources:
        o = int(o)
        if o not in depth:
            depth[o] = 0
            frontier.append(o)
    hits = [o for o in frontier if graph.out_address[o] == target]
    for d in range(1, max_hops + 1):
        if not frontier or len(depth) > max_outputs:
            break
        spenders: dict[int, list[int]] = {}
        for o in frontier:
            t = int(graph.out_spent_by[o])
            if t >= 0:
                spenders.setdefault(t, []).append(o)
        nxt = []
        for t, ins in spenders.items():
            for o in graph.outputs_of(t):
                if o in depth:
                    if depth[o] == d:
                        parents[o].extend(ins)
                    continue
                depth[o], parents[o] = d, list(ins)
                nxt.append(o)
                if graph.out_address[o] == target:
                    hits.append(o)
        frontier = nxt
    paths: list[Path] = []
    for h in sorted(hits, key=lambda o: (depth[o], o)):
        stack: list[Path] = [[h]]
        while stack and len(paths) < limit:
            p = stack.pop()
            head = p[0]
            if depth[head] == 0:
                paths.append(p)
                continue
            for par in reversed(parents.get(head, [])):
                stack.append([par, *p])
        if len(paths) >= limit:
            break
    return paths


def paths_to_json(graph: GraphIndex, src: Seed, dst: Seed, paths: list[Path], *, max_hops: int,
                  limit: int) -> dict[str, Any]:
    """Paths as documented JSON: each hop is a transaction with the output it spent and paid."""
    names = _Names(graph)
    out = []
    for p in paths:
        hops = []
        for a, b in itertools.pairwise(p):
            t = graph.tx_of_output(b)
            hops.append({"txid": graph.txid_hex(t), "time": _iso(int(graph.tx_time[t])),
                         "height": int(graph.tx_height[t]), "spent": names.outpoint(a),
                         "paid": names.outpoint(b), "to_address": names.address(int(graph.out_address[b])),
                         "value_sat": int(graph.out_value[b])})
        out.append({"hops": len(p) - 1, "start": names.outpoint(p[0]),
                    "max_value_sat": int(min(int(graph.out_value[o]) for o in p)), "steps": hops})
    return {"chain": graph.chain, "source": src.text, "target": dst.text, "max_hops": max_hops,
            "limit": limit, "found": len(out), "complete": len(out) < limit, "paths": out}


def render_paths(doc: dict[str, Any]) -> str:
    """Plain text: one block per path, one line per transaction."""
    if not doc["paths"]:
        return (f"No path from {doc['source']} to {doc['target']} within {doc['max_hops']} "
                "transactions in the store.")
    lines = [f"{doc['found']} path(s) from {doc['source']} to {doc['target']} "
             f"(up to {doc['max_hops']} transactions" + ("" if doc["complete"] else
                                                          f", first {doc['limit']} shown") + "):"]
    for i, p in enumerate(doc["paths"], 1):
        lines.append(f"\n#{i}: {p['hops']} hop(s), at most {p['max_value_sat'] / 1e8:,.8f} BTC, from {p['start']}")
        for s in p["steps"]:
            lines.append(f"   {s['time']}  {s['txid']}  -> {s['to_address']}  {s['value_sat'] / 1e8:,.8f} BTC")
    return "\n".join(lines)
