"""Result models of the workbench graph: one hop of the money-flow graph, a trace drawn as a graph,
and the canvases investigators save.

The browser canvas (Cytoscape.js) asks for one hop at a time and merges what it gets by id, so ids
are stable across calls: nodes `a:<address>`, `t:<txid>`, `c:<cluster id>`; edges `o:<txid>:<address>`
(a transaction paying an address), `i:<txid>:<address>` (an address's outputs spent by a
transaction) and `x:<transfer>` (an account-chain transfer, its documented reference). Amounts are
decimal strings of base units (satoshi, wei, token units) with their `asset` and `decimals`, so
uint256 token amounts reach JavaScript exactly.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from fundtrail.workspace.core import Model

Direction = Literal["in", "out", "both"]


class GraphTag(Model):
    """A tag shown on a node: `inherited` when it comes from another member of the node's cluster."""

    label: str
    category: str | None
    actor: str | None = None
    source: str | None = None
    inherited: bool = False


class GraphNode(Model):
    """A node of the canvas. Address nodes carry their cluster (`cluster_id`, `cluster_size`: the
    UI builds the entity view from them), up to five tags (direct first, most severe first),
    `category` (the most severe tag category, for the colour), `balance` (UTXO: satoshi; account
    chains: the native asset in wei) and `degree_in`/`degree_out`: how many edges expanding the node
    `in` or `out` would give, so the UI can say "1,234 more". Transaction nodes carry `time` (ISO
    UTC), `height` and their degrees (UTXO: distinct input and output addresses; account chains: the
    transfers). A cluster node carries its size and the tags it inherits. `risk_score` is left out
    of expansions (it costs a risk assessment per node): ask `/addresses/{address}/risk`."""

    id: str
    kind: Literal["address", "tx", "cluster"]
    chain: str
    label: str
    address: str | None = None
    txid: str | None = None
    cluster_id: int | None = None
    cluster_size: int | None = None
    time: str | None = None
    height: int | None = None
    category: str | None = None
    tags: list[GraphTag] = Field(default_factory=list)
    risk_score: float | None = None
    balance: str | None = None
    degree_in: int | None = None
    degree_out: int | None = None


class GraphEdge(Model):
    """A flow between two nodes. UTXO chains are bipartite: `input` (address -> transaction: what the
    address's outputs put into it) and `output` (transaction -> address: what it paid the address),
    values summed per address and transaction, `count` the inputs or outputs folded into the edge.
    Account chains: `transfer` (address -> address, one per transfer, `transfer_kind` native,
    internal, erc20, fee, withdrawal or reward). `asset` is `BTC`, the native symbol or the token
    contract; `symbol` its symbol as the token reported it. `tainted` is set in trace graphs only: the traced
    amount (base units, rounded down), the edge's width."""

    id: str
    source: str
    target: str
    kind: Literal["input", "output", "transfer"]
    txid: str | None
    value: str
    asset: str
    symbol: str | None = None
    decimals: int | None
    time: str | None
    height: int | None
    count: int = 1
    transfer_kind: str | None = None
    tainted: str | None = None


class GraphPage(Model):
    """One page of a node's neighbourhood: the `center` node first in `nodes`, then the nodes the
    page's `edges` reach. `total` counts every edge of the expansion in that `direction` (with
    `both`, a transaction that both pays and spends the address counts twice); edges come largest
    value first (account chains: in whole units of each asset); pass `next_cursor` back as `cursor`
    for the next page (None: the last). Cluster pages list members (no edges; `total` the size)."""

    chain: str
    center: str
    direction: Direction
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    total: int
    next_cursor: str | None
    limit: int


class TraceEndpoint(Model):
    """Where traced value stopped (one per endpoint of the trace, in its order): the address node
    (None: value funded by inputs outside the store), why (`service`, `unspent`, `hop_limit`,
    `threshold`, `time_limit`, `coinbase`, `unresolved`, `truncated`), the stop label, the most
    severe category known of the address, and the amount traced to it."""

    node: str | None
    address: str | None
    reason: str
    label: str | None
    category: str | None
    tainted: str
    asset: str
    decimals: int | None
    share: float
    hops: int


class TraceService(Model):
    """A service the traced value reached, where a freeze or production order can be served: its
    label and category (from the stop rule's tag), the tag's actor, the total traced to it, and
    the endpoint addresses."""

    label: str
    category: str | None
    actor: str | None
    tainted: str
    asset: str
    decimals: int | None
    addresses: list[str]


class TraceGraph(Model):
    """A trace (`Workspace.trace`) drawn for the canvas: the nodes and edges the traced value moved
    along (edges carry `tainted`), the `seeds` (address nodes whose outputs were traced), the
    endpoints in the trace's order and the services reached, largest first. `truncated` when the
    trace or its drawing was cut (the `warnings` say where)."""

    chain: str
    policy: str
    direction: str
    seeds: list[str]
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    endpoints: list[TraceEndpoint]
    services: list[TraceService]
    warnings: list[str]
    truncated: bool


class GraphSaveRequest(Model):
    """A canvas to save: `name` (1..200 characters), the store `chain` it shows, the canvas's own
    JSON `document` (positions, annotations, hidden nodes; at most 8 MB) and, to overwrite one of
    the user's graphs, its `id`."""

    name: str
    chain: str
    document: dict[str, Any]
    id: str | None = None


class SavedGraph(Model):
    """A saved canvas as listings show it (its document left out): `bytes` is the document's size."""

    id: str
    name: str
    chain: str
    owner: str
    created_at: str
    updated_at: str
    bytes: int


class SavedGraphList(Model):
    """The acting user's saved graphs, most recently updated first."""

    graphs: list[SavedGraph]


class SavedGraphDocument(SavedGraph):
    """A saved canvas with its document, as saved."""

    document: dict[str, Any]
