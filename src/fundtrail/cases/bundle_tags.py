"""The attribution a bundle carries: the tag records behind the tags its traces show, and the
clustering evidence of each tag an address inherited through its cluster.

A trace shows, on each endpoint and entity, the tags of the address (category, label, source,
confidence, `inherited_from`). Here each shown tag is traced back to its records in the catalog's
`tags` table (one per source row: origin file, line, import, creator, date, visibility), so the
bundle says where every attribution came from. A direct tag's record is written with the endpoint
address; an inherited one with the endpoint address and `inherited_from` the tagged member whose
record it is, and its clustering evidence (`fundtrail cluster why ADDRESS MEMBER`) goes to
`clusters/evidence.jsonl`: the link transactions are facts, the joining an inference.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fundtrail.store import Store
from fundtrail.trace.attribution import chain_currency

#: (chain, [(address, tagged member)...]) -> each pair's `cluster why` JSON (linked, run_id, steps)
WhyFn = Callable[[str, list[tuple[str, str]]], dict[tuple[str, str], dict[str, Any]]]
_COLUMNS = ("address", "currency", "label", "category", "actor", "confidence", "source", "origin", "line",
            "import_id", "creator", "lastmod", "visibility", "case_id")
_KEY = ("address", "chain", "inherited_from", "category", "label", "source", "origin", "line", "import_id")


@dataclass
class Attribution:
    """Tag lines, cluster evidence lines, the heuristics and (per chain) link txids they use."""

    tags: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    heuristics: set[str] = field(default_factory=set)
    link_txids: dict[str, set[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def _records(store: Store, currency: str, addresses: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Tag rows (with a category, as tracing uses them) of `addresses` in `currency`, by address."""
    if not addresses:
        return {}
    with store.connect(read_only=True) as con:
        rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM tags WHERE currency = ? AND category IS NOT NULL "
                           "AND list_contains(?, address)", [currency, sorted(addresses)]).fetchall()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        rec = {k: _plain(v) for k, v in zip(_COLUMNS, row)}
        out.setdefault(rec["address"], []).append(rec)
    return out


def _line(rec: dict[str, Any], chain: str, address: str, inherited_from: str | None) -> dict[str, Any]:
    line = {k: rec[k] for k in _COLUMNS if k != "currency"}
    return {**line, "address": address, "chain": chain, "inherited_from": inherited_from}


def shown_tags(traces: list[dict[str, Any]]) -> dict[str, list[tuple[str, dict[str, Any], Any]]]:
    """chain -> (address, shown tag, endpoint cluster) of every tag on the traces' endpoints."""
    out: dict[str, list[tuple[str, dict[str, Any], Any]]] = {}
    for trace in traces:
        result = trace["result"]
        chain = str(result.get("chain"))
        for e in result.get("endpoints") or []:
            for t in e.get("tags") or []:
                if e.get("address"):
                    out.setdefault(chain, []).append((str(e["address"]), t, e.get("cluster")))
    return out


def attribution(store: Store, traces: list[dict[str, Any]], why: WhyFn) -> Attribution:
    """The tag records and cluster evidence behind the tags the traces show (module docstring)."""
    att = Attribution()
    lines: dict[tuple[Any, ...], dict[str, Any]] = {}
    pairs: dict[tuple[str, str, str], Any] = {}
    for chain, shown in shown_tags(traces).items():
        wanted = {a for a, _, _ in shown} | {str(t["inherited_from"]) for _, t, _ in shown if t.get("inherited_from")}
        records = _records(store, chain_currency(chain), wanted)
        for address, tag, cluster in shown:
            member = tag.get("inherited_from")
            matches = [r for r in records.get(str(member or address), [])
                       if (r["category"], r["label"], r["source"]) == (tag.get("category"), tag.get("label"),
                                                                       tag.get("source"))]
            if not matches:
                att.warnings.append(f"tag {tag.get('category')}: {tag.get('label')} shown on {address} has no "
                                    "record in the store any more (tags changed since the trace)")
            for rec in matches:
                line = _line(rec, chain, address, str(member) if member else None)
                lines[tuple(str(line[k]) for k in _KEY)] = line
            if member:
                pairs[(chain, address, str(member))] = cluster
    att.tags = [lines[k] for k in sorted(lines)]
    found_by_chain = {c: why(c, sorted((a, m) for c2, a, m in pairs if c2 == c)) for c in {c for c, _, _ in pairs}}
    for (chain, address, member), cluster in sorted(pairs.items()):
        found = found_by_chain[chain][(address, member)]
        links = [{"txid": s.get("txid"), "heuristic": s.get("heuristic"), "addresses": [s.get("from"), s.get("to")]}
                 for s in found.get("steps") or []]
        if not found.get("linked"):
            att.warnings.append(f"{address} and {member} are no longer in one cluster on {chain} (clustering run "
                                f"{found.get('run_id')}); the evidence lists no link")
        att.evidence.append({"chain": chain, "address": address, "tagged_address": member, "cluster": cluster,
                             "run_id": found.get("run_id"), "links": links})
        att.heuristics.update(str(link["heuristic"]) for link in links if link["heuristic"])
        att.link_txids.setdefault(chain, set()).update(str(link["txid"]) for link in links if link["txid"])
    return att

