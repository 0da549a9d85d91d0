"""The loaded traversal indexes of a workspace: graph index, account graph and tag map per chain.

Tracing, paths, risk and exposure all walk the same memory-mapped arrays and read the same tag
map; loading them (and bringing them up to date with the store, `GraphIndex.ensure`) is the slow
part of a query. A workspace does it once per chain and keeps them in its cache until `refresh()`
sees the chain's stored state change, so a long-lived server answers from memory while a CLI
process (one call) still gets an index that is up to date with the store.
"""

from __future__ import annotations

from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.attribution import TagMap, chain_currency
from fundtrail.trace.graph import GraphIndex
from fundtrail.workspace.core import Progress, WorkspaceBase, no_progress
from fundtrail.workspace.lookup_tags import TagRows


class IndexOps(WorkspaceBase):
    """Cached indexes shared by the tracing and risk operations."""

    def graph_index(self, chain: str, progress: Progress = no_progress) -> GraphIndex:
        """The UTXO graph index of `chain`, updated to the store once per workspace state (within
        the settings' `memory_limit`)."""
        return self.cached(("graph", chain),
                           lambda: GraphIndex.ensure(self.store, chain, progress=progress,
                                                     memory_limit=self.settings.memory_limit_bytes),
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

    def tagged_addresses(self) -> TagRows:
        """Every merged tag of the store in memory (`lookup_tags.TagRows`): as a mapping, each
        tagged address key and its tags' currencies; also the rows the address summary and risk
        read, whole for the currencies of the stored chains, so no lookup visits the catalog.
        Renewed by `refresh()` after a tag import or a change of chains."""
        def build() -> TagRows:
            currencies = {chain_currency(ref.name) for ref in self.chains()}
            with self.store.connect(read_only=True) as con:
                return TagRows.load(con, currencies)

        return self.cached(("tagged-addresses",), build)
