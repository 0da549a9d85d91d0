"""The loaded traversal indexes of a workspace: graph index, account graph and tag map per chain.

Tracing, paths, risk and exposure all walk the same memory-mapped arrays and read the same tag
map; loading them (and bringing them up to date with the store, `GraphIndex.ensure`) is the slow
part of a query. A workspace does it once per chain and keeps them in its cache until `refresh()`
sees the chain's stored state change, so a long-lived server answers from memory while a CLI
process (one call) still gets an index that is up to date with the store.
"""

from __future__ import annotations

from fundtrail.tags.lookup import tagged_addresses
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.attribution import TagMap
from fundtrail.trace.graph import GraphIndex
from fundtrail.workspace.core import Progress, WorkspaceBase, no_progress


class IndexOps(WorkspaceBase):
    """Cached indexes shared by the tracing and risk operations."""

    def graph_index(self, chain: str, progress: Progress = no_progress) -> GraphIndex:
        """The UTXO graph index of `chain`, updated to the store once per workspace state."""
        return self.cached(("graph", chain), lambda: GraphIndex.ensure(self.store, chain, progress=progress),
                           chain=chain)

    def account_graph(self, chain: str, progress: Progress = no_progress) -> AccountGraph:
        """The account graph index of `chain`, updated to the store once per workspace state."""
        return self.cached(("account-graph", chain),
                           lambda: AccountGraph.ensure(self.store, chain, progress=progress), chain=chain)

    def tag_map(self, chain: str, family: str) -> TagMap:
        """The chain's tags resolved to its address ids, with cluster inheritance where clustered
        (the one map trace stops, trace descriptions and risk assessors read)."""
        def build() -> TagMap:
            graph = self.account_graph(chain) if family == "account" else self.graph_index(chain)
            return TagMap.load(self.store, graph)

        return self.cached(("tagmap", chain), build, chain=chain)

    def tagged_addresses(self) -> dict[str, frozenset[str | None]]:
        """Every tagged address key of the store and its tags' currencies, held in memory so that
        lookups of untagged addresses (most of them) skip the catalog; renewed by `refresh()` after
        a tag import."""
        def build() -> dict[str, frozenset[str | None]]:
            with self.store.connect(read_only=True) as con:
                return tagged_addresses(con)

        return self.cached(("tagged-addresses",), build)
