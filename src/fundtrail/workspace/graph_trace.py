"""A trace drawn as a graph for the canvas: the trace result (`Workspace.trace`) turned into nodes
and edges, with its endpoints and the services it reached.

Nothing is traced again here: the edges are the trace's own (`TraceResult.graph`, each an output
or transfer that carried traced value, with the amount traced along it), re-keyed to the canvas's
node and edge ids. A UTXO trace edge (output of transaction A, spent by B) becomes the edges
A -> address (kind output) and address -> B (kind input), folded per transaction and address
(`value` then sums the outputs the trace followed); an account trace edge is one transfer. The
services are the endpoints that stopped at a tagged service, grouped by the stop label, largest
first: where to send a freeze request.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from fundtrail.chains.resolve import parse_account_address
from fundtrail.errors import StoreError, UsageError
from fundtrail.store.txhash import is_tx_hash, parse_tx_hash
from fundtrail.tags.taxonomy import CATEGORIES
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.account_report import transfer_ref
from fundtrail.trace.graph import GraphIndex
from fundtrail.workspace import graph_account, graph_utxo
from fundtrail.workspace.graph_models import GraphEdge, TraceEndpoint, TraceGraph, TraceService
from fundtrail.workspace.graph_nodes import Nodes, worst_category
from fundtrail.workspace.trace_models import TraceResult

_CLUSTER_SUFFIX = " (cluster of "


def service_of(label: str | None) -> tuple[str | None, str]:
    """(category, name) of a stop label: `exchange: Kraken (cluster of 1Abc...)` -> (exchange,
    Kraken); a listed stop's own label has no category."""
    text = (label or "listed service").split(_CLUSTER_SUFFIX)[0]
    head, sep, rest = text.partition(": ")
    if sep and head in CATEGORIES:
        return head, rest
    return None, text


class _Drawing:
    """What a trace graph collects: address and transaction ids to draw, edges, endpoints."""

    def __init__(self, nodes: Nodes) -> None:
        self.nodes = nodes
        self.addresses: dict[int, None] = {}  # insertion-ordered sets
        self.txs: dict[int, None] = {}
        self.edges: list[GraphEdge] = []
        self.endpoints: list[TraceEndpoint] = []
        self.services: dict[tuple[str | None, str, str], dict[str, Any]] = {}

    def node_of(self, aid: int | None) -> str | None:
        if aid is None or aid < 0:
            return None
        self.addresses[aid] = None
        return f"a:{self.nodes.text(aid)}"

    def endpoint(self, ep: dict[str, Any], aid: int | None, asset: str, decimals: int | None) -> None:
        """Record one endpoint of the trace (and its service, when it stopped at one)."""
        node = self.node_of(aid)
        category = worst_category(ep.get("tags") or [])
        if ep["reason"] == "service":
            named, name = service_of(ep.get("label"))
            category = named or category
            svc = self.services.setdefault((named, name, asset), {
                "label": name, "category": named, "actor": None, "amount": Fraction(0), "asset": asset,
                "decimals": decimals, "addresses": {}})
            svc["amount"] += Fraction(str(ep.get("amount_exact", ep["amount_sat"])))
            if node is not None and aid is not None:
                svc["addresses"][self.nodes.text(aid)] = None
                svc["actor"] = svc["actor"] or self._actor(aid, named, name)
        self.endpoints.append(TraceEndpoint(
            node=node, address=self.nodes.text(aid) if aid is not None and aid >= 0 else ep.get("address"),
            reason=ep["reason"], label=ep.get("label"), category=category, tainted=str(int(ep["amount_sat"])),
            asset=asset, decimals=decimals, share=float(ep.get("share") or 0.0), hops=int(ep.get("hops") or 0)))

    def _actor(self, aid: int, category: str | None, label: str) -> str | None:
        """The actor of the tag a service stop matched (direct or inherited)."""
        for t in self.nodes.tagmap.tags_of(aid):
            if t.get("label") == label and (category is None or t.get("category") == category) and t.get("actor"):
                return str(t["actor"])
        return None

    def result(self, trace: TraceResult, seeds: list[str], extra_nodes: list[Any]) -> TraceGraph:
        graph = trace.graph or {}
        warnings = list(trace.warnings or [])
        if trace.truncated and trace.truncation:
            warnings.append(trace.truncation)
        cut = bool(graph.get("edges_truncated"))
        if cut:
            warnings.append(f"the drawing holds the first {len(graph.get('edges', [])):,} of the "
                            f"{int(graph.get('edges_total', 0)):,} edges the trace followed")
        services = sorted(self.services.values(), key=lambda s: (-s["amount"], s["label"]))
        return TraceGraph(
            chain=trace.chain, policy=trace.policy or "", direction=trace.direction or "", seeds=seeds,
            nodes=[self.nodes.address(a) for a in self.addresses] + extra_nodes, edges=self.edges,
            endpoints=self.endpoints, services=[TraceService(
                label=s["label"], category=s["category"], actor=s["actor"], tainted=str(math.floor(s["amount"])),
                asset=s["asset"], decimals=s["decimals"], addresses=list(s["addresses"])) for s in services],
            warnings=warnings, truncated=bool(trace.truncated) or cut)


def utxo(trace: TraceResult, g: GraphIndex, nodes: Nodes) -> TraceGraph:
    """The graph of a UTXO taint trace."""
    draw = _Drawing(nodes)
    found: dict[str, int] = {}

    def tx_of(txid: str) -> int:
        tx = found.get(txid)
        if tx is None:
            tx = found[txid] = g.find_tx(bytes.fromhex(txid)[::-1])
            if tx < 0:
                raise StoreError(f"transaction {txid} of the trace is not in the graph index of {g.chain}")
        return tx

    def output(outpoint: str) -> int:
        txid, n = outpoint.rsplit(":", 1)
        return int(g.tx_first_out[tx_of(txid)]) + int(n)

    folded: dict[tuple[bool, int, int], list[int]] = {}  # (pays, tx, address) -> value, tainted, count

    def fold(pays: bool, tx: int, aid: int, value: int, tainted: int) -> None:
        acc = folded.setdefault((pays, tx, aid), [0, 0, 0])
        acc[0], acc[1], acc[2] = acc[0] + value, acc[1] + tainted, acc[2] + 1

    for e in (trace.graph or {}).get("edges", []):
        o = output(e["output"])
        aid = int(g.out_address[o])
        if aid < 0:
            continue
        fold(True, g.tx_of_output(o), aid, int(e["value_sat"]), int(e["amount_sat"]))
        if e.get("to"):
            fold(False, tx_of(str(e["to"]).removeprefix("tx:")), aid, int(e["value_sat"]), int(e["amount_sat"]))
    for (pays, tx, aid), (value, tainted, count) in folded.items():
        draw.node_of(aid)
        draw.txs[tx] = None
        draw.edges.append(graph_utxo.edge(g, tx, nodes.text(aid), pays=pays, value=value, count=count,
                                          tainted=str(tainted)))
    for ep in trace.endpoints or []:
        outs = ep.get("outputs") or []
        draw.endpoint(ep, int(g.out_address[output(outs[0])]) if outs else None, graph_utxo.ASSET,
                      graph_utxo.DECIMALS)
    seed = trace.seed if isinstance(trace.seed, dict) else {}
    seeds = list(dict.fromkeys(n for n in (draw.node_of(int(g.out_address[output(o)]))
                                           for o in seed.get("outputs", [])) if n is not None))
    return draw.result(trace, seeds, [nodes.utxo_tx(t) for t in draw.txs])


def account(trace: TraceResult, ag: AccountGraph, nodes: Nodes, units: graph_account.Units) -> TraceGraph:
    """The graph of an account-chain taint trace."""
    draw = _Drawing(nodes)
    by_tx: dict[str, dict[str, int]] = {}
    ids: dict[str, int] = {}

    def address_id(text: str) -> int:
        if text not in ids:
            try:  # as the trace wrote it: EIP-55, or `T…` on TRON
                ids[text] = ag.find_address(parse_account_address(text, chain=ag.chain))
            except UsageError:
                ids[text] = -1
        return ids[text]

    def event(ref: str) -> int | None:
        txid = ref.split(":", 1)[0]
        if not is_tx_hash(txid):
            return None  # a block's withdrawal or reward: no sender to draw
        refs = by_tx.get(txid)
        if refs is None:
            tx = ag.find_tx(parse_tx_hash(txid, chain=ag.chain))
            refs = by_tx[txid] = {} if tx < 0 else {transfer_ref(ag, e): e for e in ag.events_of_tx(tx)}
        return refs.get(ref)

    texts: dict[int, str] = {}
    for item in (trace.graph or {}).get("edges", []):
        e = event(str(item["output"]))
        if e is None or int(ag.ev_from[e]) < 0 or int(ag.ev_to[e]) < 0:
            continue
        for aid in (int(ag.ev_from[e]), int(ag.ev_to[e])):
            draw.node_of(aid)
            texts[aid] = nodes.text(aid)
        draw.edges.append(graph_account.edge(ag, e, units, texts, tainted=str(int(item["amount_sat"]))))
    for ep in trace.endpoints or []:
        found = address_id(ep["address"]) if ep.get("address") else -1
        draw.endpoint(ep, found if found >= 0 else None, str(ep.get("asset") or units.of(-1).asset),
                      ep.get("decimals"))
    seeds = []
    for s in trace.seeds or []:
        text = str(s.get("input", ""))
        if s.get("kind") == "address" and address_id(text) >= 0:
            node = draw.node_of(address_id(text))
            if node is not None:
                seeds.append(node)
    return draw.result(trace, list(dict.fromkeys(seeds)), [])
