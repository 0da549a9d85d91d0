"""Service operations: the workbench's money-flow graph, one hop at a time, and traces as graphs.

The browser canvas starts from an address, a transaction or a cluster and expands nodes one hop at
a time; each expansion is a page (`GraphPage`) of at most `limit` edges, largest value first, with
the nodes they reach, so a transaction with 5,000 outputs arrives a hundred edges at a time and
the page stays responsive. UTXO chains are drawn bipartite (`graph_utxo`), account chains as
transfers between addresses (`graph_account`); nodes carry cluster, tags and degrees
(`graph_nodes`). `trace_graph` draws a trace result (`graph_trace`). All of it reads the cached
indexes of the chain (`trace_index.IndexOps`): no lake query per expansion.
"""

from __future__ import annotations

import numpy as np

from fundtrail.chains.bitcoin.addresskey import fingerprint
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.workspace import graph_account, graph_trace, graph_utxo, lookup_account
from fundtrail.workspace.addresses import AddressOps
from fundtrail.workspace.clusters import ClusterOps, is_cluster_id
from fundtrail.workspace.core import ChainRef, check_limit
from fundtrail.workspace.graph_models import Direction, GraphEdge, GraphNode, GraphPage, TraceGraph
from fundtrail.workspace.graph_nodes import Nodes
from fundtrail.workspace.graph_paging import cursor_position, page
from fundtrail.workspace.trace_models import TraceRequest
from fundtrail.workspace.tracing import TraceOps
from fundtrail.workspace.transactions import TransactionOps

__all__ = ["GraphViewOps"]

MAX_LIMIT = 1000
_DIRECTIONS = ("in", "out", "both")


def _direction(direction: str) -> Direction:
    if direction not in _DIRECTIONS:
        raise UsageError(f"direction must be in, out or both, not {direction!r}", field="direction")
    return direction  # type: ignore[return-value]


class GraphViewOps(AddressOps, TransactionOps, ClusterOps, TraceOps):
    """One hop of the money-flow graph and traces as graphs (module docstring)."""

    def graph_address(self, address: str, *, chain: str | None = None, direction: str = "both", limit: int = 100,
                      cursor: str | None = None) -> GraphPage:
        """The transactions (UTXO) or transfers (account chains) of an address, a page at a time:
        `in` what paid it, `out` what it paid or what spent its outputs, `both`."""
        way = _direction(direction)
        check_limit(limit, maximum=MAX_LIMIT)
        after = cursor_position(cursor)
        ref, aid = self._graph_address_id(address, chain)
        nodes = self._graph_nodes(ref)
        center = nodes.address(aid)
        if ref.family == "utxo":
            g = self.graph_index(ref.name)
            flows = graph_utxo.address_flows(g, aid).only(way)
            chosen, nxt = page(flows.links(), after, limit)
            edges = [graph_utxo.edge(g, int(flows.far[i]), nodes.text(aid), pays=bool(flows.side[i] == 0),
                                     value=int(flows.value[i]), count=int(flows.count[i])) for i in chosen.tolist()]
            far = [nodes.utxo_tx(t) for t in dict.fromkeys(int(flows.far[i]) for i in chosen.tolist())]
            total = int(flows.side.size)
        else:
            ag = self.account_graph(ref.name)
            evs, _, _ = graph_account.address_events(ag, aid, way)
            chosen, nxt = page(graph_account.links(ag, evs, self._graph_units(ref.name)), after, limit)
            edges, far = self._transfer_edges(ref, nodes, evs[chosen], skip=aid)
            total = int(evs.size)
        return GraphPage(chain=ref.name, center=center.id, direction=way, nodes=[center, *far], edges=edges,
                         total=total, next_cursor=nxt, limit=limit)

    def graph_tx(self, txid: str, *, chain: str | None = None, direction: str = "both", limit: int = 100,
                 cursor: str | None = None) -> GraphPage:
        """A transaction's neighbours, a page at a time: UTXO chains its input addresses (`in`) and
        output addresses (`out`), one edge per address; account chains its transfers (any direction)."""
        way = _direction(direction)
        check_limit(limit, maximum=MAX_LIMIT)
        after = cursor_position(cursor)
        ref, tx = self.find_transaction(txid, chain)
        nodes = self._graph_nodes(ref)
        if ref.family == "utxo":
            g = self.graph_index(ref.name)
            center = nodes.utxo_tx(tx)
            flows = graph_utxo.tx_flows(g, tx).only(way)
            chosen, nxt = page(flows.links(), after, limit)
            edges = [graph_utxo.edge(g, tx, nodes.text(int(flows.far[i])), pays=bool(flows.side[i] == 1),
                                     value=int(flows.value[i]), count=int(flows.count[i])) for i in chosen.tolist()]
            far = [nodes.address(a) for a in dict.fromkeys(int(flows.far[i]) for i in chosen.tolist())]
            total = int(flows.side.size)
        else:
            ag = self.account_graph(ref.name)
            center = nodes.account_tx(tx)
            evs = graph_account.tx_events(ag, tx)
            chosen, nxt = page(graph_account.links(ag, evs, self._graph_units(ref.name)), after, limit)
            edges, far = self._transfer_edges(ref, nodes, evs[chosen], skip=None)
            total = int(evs.size)
        return GraphPage(chain=ref.name, center=center.id, direction=way, nodes=[center, *far], edges=edges,
                         total=total, next_cursor=nxt, limit=limit)

    def graph_cluster(self, cluster_id: int | str, *, chain: str | None = None, limit: int = 100,
                      cursor: str | None = None) -> GraphPage:
        """A cluster node and its member addresses (address-id order), a page at a time, for the
        entity view; no edges (`total` is the cluster's size)."""
        check_limit(limit, maximum=MAX_LIMIT)
        text = str(cluster_id).strip()
        if not is_cluster_id(text):
            raise UsageError(f"cluster_id {text[:80]!r} is not a cluster id (decimal digits)", field="cluster_id")
        ref = self.chain(chain, what="graph cluster")
        members = self.cluster_members(text, chain=ref.name, limit=limit, cursor=cursor)
        nodes = self._graph_nodes(ref)
        center = nodes.cluster(members.cluster_id, members.size)
        return GraphPage(chain=ref.name, center=center.id, direction="both",
                         nodes=[center, *(nodes.address(m.address_id) for m in members.members)], edges=[],
                         total=members.size, next_cursor=members.next_cursor, limit=limit)

    def trace_graph(self, req: TraceRequest) -> TraceGraph:
        """A taint trace (`trace`) drawn for the canvas: the flows it followed with the amount traced
        along each, its endpoints by reason, and the services it reached, largest first."""
        if req.follow_change:
            raise UsageError("a trace graph draws taint traces; follow_change walks are shown by `trace`",
                             field="follow_change")
        result = self.trace(req)
        ref = self.chain(result.chain)
        nodes = self._graph_nodes(ref)
        if ref.family == "utxo":
            return graph_trace.utxo(result, self.graph_index(ref.name), nodes)
        return graph_trace.account(result, self.account_graph(ref.name), nodes, self._graph_units(ref.name))

    # -- helpers ------------------------------------------------------------------------------
    def _graph_address_id(self, address: str, chain: str | None) -> tuple[ChainRef, int]:
        """(chain, address id) of an address with activity; `script:<type>:<hex>` names a UTXO
        script without an address form, as nodes show it."""
        text = address.strip() if isinstance(address, str) else ""
        if text.startswith("script:"):
            ref = self.chain(chain, family="utxo", what="a script address")
            try:
                _, kind, payload = text.split(":", 2)
                aid = self.graph_index(ref.name).find_address(*fingerprint(int(kind), bytes.fromhex(payload)))
            except ValueError:
                raise UsageError(f"address {text[:80]!r} is not a script address (script:<type>:<hex>)",
                                 field="address") from None
            found: int | None = aid if aid >= 0 else None
        else:
            ref, found = self.locate_address(text, chain)
        if found is None:
            raise NotFoundError(f"address {text[:100]} has no activity in the store's {ref.name} chain",
                                field="address")
        return ref, found

    def _graph_nodes(self, ref: ChainRef) -> Nodes:
        tagmap = self.tag_map(ref.name, ref.family)

        def cluster(aid: int) -> tuple[int | None, int | None]:
            cid, size, _run = self.cluster_of(ref.name, ref.family, aid)
            return cid, size

        if ref.family == "utxo":
            return Nodes(ref.name, ref.family, tagmap, cluster, graph=self.graph_index(ref.name),
                         network=self.network(ref.name))
        return Nodes(ref.name, ref.family, tagmap, cluster, account=self.account_graph(ref.name))

    def _graph_units(self, chain: str) -> graph_account.Units:
        return graph_account.Units(self.account_graph(chain), lookup_account.native(chain), self.token_info(chain))

    def _transfer_edges(self, ref: ChainRef, nodes: Nodes, evs: np.ndarray,
                        skip: int | None) -> tuple[list[GraphEdge], list[GraphNode]]:
        """The edges of account-chain events and the address nodes they reach (but `skip`)."""
        ag = self.account_graph(ref.name)
        units = self._graph_units(ref.name)
        ends = [(int(ag.ev_from[e]), int(ag.ev_to[e])) for e in evs.tolist()]
        text = {a: nodes.text(a) for pair in ends for a in pair}
        edges = [graph_account.edge(ag, int(e), units, text) for e in evs.tolist()]
        far = [nodes.address(a) for a in dict.fromkeys(a for pair in ends for a in pair) if a != skip]
        return edges, far
