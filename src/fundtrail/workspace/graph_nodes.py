"""The nodes of the workbench graph: addresses, transactions and clusters, as the canvas draws them.

Every node is built from the chain's cached indexes (graph index or account graph, tag map,
clustering), so a page of a thousand nodes costs array slices, not queries. A node says what the
canvas needs without another request: its label, cluster, tags (direct first, then inherited
through the cluster, at most five), the most severe category for the colour, and its degrees:
how many edges expanding it in each direction would give.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fundtrail.chains.resolve import account_text
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.attribution import SEVERITY_ORDER, TagMap
from fundtrail.trace.graph import GraphIndex
from fundtrail.workspace import lookup_account, lookup_utxo
from fundtrail.workspace.graph_models import GraphNode, GraphTag
from fundtrail.workspace.lookup_base import iso

MAX_TAGS = 5
_RANK = {c: i for i, c in enumerate(SEVERITY_ORDER)}
#: (cluster id, cluster size) of an address id; Nones when the chain is not clustered
ClusterOf = Callable[[int], tuple[int | None, int | None]]


def short(text: str, head: int = 8, tail: int = 6) -> str:
    """A display label of a long address or hash: its start and end."""
    return text if len(text) <= head + tail + 1 else f"{text[:head]}…{text[-tail:]}"


def worst_category(tags: list[dict[str, Any]]) -> str | None:
    """The most severe category among tag documents (SEVERITY_ORDER; unknown ones last)."""
    cats = [str(t["category"]) for t in tags if t.get("category")]
    return min(cats, key=lambda c: _RANK.get(c, len(_RANK))) if cats else None


def graph_tags(tags: list[dict[str, Any]]) -> list[GraphTag]:
    """The first `MAX_TAGS` tag documents of the tag map as node tags."""
    return [GraphTag(label=str(t.get("label") or ""), category=t.get("category"), actor=t.get("actor"),
                     source=t.get("source"), inherited=bool(t.get("inherited_from")))
            for t in tags[:MAX_TAGS]]


class Nodes:
    """Node builders of one chain, remembering each address's text within one answer."""

    def __init__(self, chain: str, family: str, tagmap: TagMap, cluster_of: ClusterOf, *,
                 graph: GraphIndex | None = None, network: str | None = None,
                 account: AccountGraph | None = None) -> None:
        self.chain, self.family, self.tagmap, self.cluster_of = chain, family, tagmap, cluster_of
        self.g, self.network, self.ag = graph, network, account
        self._texts: dict[int, str] = {}

    # -- addresses ----------------------------------------------------------------------------
    def text(self, aid: int) -> str:
        """The shown text of an address id (EIP-55; Base58/bech32, `script:<type>:<hex>` without one)."""
        hit = self._texts.get(aid)
        if hit is None:
            if self.ag is not None:
                hit = account_text(self.ag.address_bytes(aid), chain=self.chain)
            else:
                assert self.g is not None and self.network is not None
                hit = lookup_utxo.address_text(self.g, self.network, aid)
            self._texts[aid] = hit
        return hit

    def address(self, aid: int) -> GraphNode:
        """An address node with its cluster, tags, balance and degrees."""
        text = self.text(aid)
        tags = self.tagmap.tags_of(aid)
        cid, size = self.cluster_of(aid)
        if self.ag is not None:
            balance, deg_in, deg_out = _account_activity(self.ag, aid)
        else:
            assert self.g is not None
            balance, deg_in, deg_out = _utxo_activity(self.g, aid)
        return GraphNode(id=f"a:{text}", kind="address", chain=self.chain,
                         label=str(tags[0]["label"]) if tags and tags[0].get("label") else short(text),
                         address=text, cluster_id=cid, cluster_size=size, category=worst_category(tags),
                         tags=graph_tags(tags), balance=str(balance), degree_in=deg_in, degree_out=deg_out)

    # -- transactions -------------------------------------------------------------------------
    def utxo_tx(self, tx: int) -> GraphNode:
        """A UTXO transaction node: time, height, distinct input and output addresses."""
        g = self.g
        assert g is not None
        txid = g.txid_hex(tx)
        prev = np.asarray(g.inputs_of(tx), np.int64)
        prev = prev[prev >= 0]
        ins = np.asarray(g.out_address[prev], np.int64)
        outs = np.asarray(g.out_address[int(g.tx_first_out[tx]):int(g.tx_first_out[tx + 1])], np.int64)
        height = int(g.tx_height[tx])
        return GraphNode(id=f"t:{txid}", kind="tx", chain=self.chain, label=txid[:10] + "…",
                         txid=txid, time=iso(int(g.tx_time[tx])), height=height if height >= 0 else None,
                         degree_in=int(np.unique(ins[ins >= 0]).size), degree_out=int(np.unique(outs[outs >= 0]).size))

    def account_tx(self, tx: int) -> GraphNode:
        """An account-chain transaction node: time, block, and its value transfers between addresses."""
        ag = self.ag
        assert ag is not None
        txid = ag.tx_hash_hex(tx)
        evs = np.arange(int(ag.tx_ev_start[tx]), int(ag.tx_ev_start[tx]) + int(ag.tx_ev_count[tx]))
        drawn = int(np.count_nonzero((np.asarray(ag.ev_from[evs]) >= 0) & (np.asarray(ag.ev_to[evs]) >= 0)))
        return GraphNode(id=f"t:{txid}", kind="tx", chain=self.chain, label=txid[:12] + "…", txid=txid,
                         time=iso(int(ag.tx_time[tx])), height=int(ag.tx_block[tx]), degree_in=drawn,
                         degree_out=drawn)

    # -- clusters -----------------------------------------------------------------------------
    def cluster(self, cid: int, size: int) -> GraphNode:
        """A cluster node: its size and the tags its members carry (the entity's attribution)."""
        tags = self.tagmap.inherited_tags(cid) or self.tagmap.direct.get(cid, [])
        label = str(tags[0]["label"]) if tags and tags[0].get("label") else f"cluster {cid}"
        return GraphNode(id=f"c:{cid}", kind="cluster", chain=self.chain, label=label, cluster_id=cid,
                         cluster_size=size, category=worst_category(tags),
                         tags=[t.model_copy(update={"inherited": False}) for t in graph_tags(tags)])


def _utxo_activity(g: GraphIndex, aid: int) -> tuple[int, int, int]:
    """(balance in satoshi, transactions paying it, transactions spending its outputs)."""
    outs = np.asarray(g.received_by(aid), np.int64)
    if outs.size == 0:
        return 0, 0, 0
    values = np.asarray(g.out_value[outs], np.int64)
    recv = np.searchsorted(np.asarray(g.tx_first_out), outs, side="right") - 1
    spender = np.asarray(g.out_spent_by[outs], np.int64)
    spent = spender >= 0
    return (int(values.sum() - values[spent].sum()), int(np.unique(recv).size),
            int(np.unique(spender[spent]).size))


def _account_activity(ag: AccountGraph, aid: int) -> tuple[int, int, int]:
    """(native balance in wei, transfers in from someone, transfers out to someone)."""
    evs = np.asarray(ag.events_of(aid), np.int64)
    if evs.size == 0:
        return 0, 0, 0
    frm, to = np.asarray(ag.ev_from[evs]), np.asarray(ag.ev_to[evs])
    native = np.asarray(ag.ev_asset[evs]) == -1
    got = lookup_account.exact_sum(ag, evs[native & (to == aid)])
    gave = lookup_account.exact_sum(ag, evs[native & (frm == aid)])
    return (got - gave, int(np.count_nonzero((to == aid) & (frm >= 0))),
            int(np.count_nonzero((frm == aid) & (to >= 0))))
