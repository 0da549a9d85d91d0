"""What the lookups share: which chain an address or txid is on, cached per-chain facts, times.

An address given without a chain is looked for on every stored chain whose address form accepts it
(a `1...` address on `btc`, a `0x...` one on each account chain), so `fundtrail address 1A1z...` works
in a store holding Bitcoin and Ethereum; the lookups resolve it with the one resolver per family
(`store.addresses`), through the cached graph index of the chain (`IndexOps`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

import numpy as np

from fundtrail.chains.resolve import accepts
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.store.addresses import account_address_id, utxo_address_id
from fundtrail.workspace.core import ChainRef
from fundtrail.workspace.trace_index import IndexOps

MAX_QUERY_CHARS = 512


def iso(ts: int | None) -> str | None:
    """UTC ISO 8601 of a unix time (None for a missing or zero time)."""
    if ts is None or int(ts) <= 0:
        return None
    return _dt.datetime.fromtimestamp(int(ts), _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LookupBase(IndexOps):
    """Chain choice and cached per-chain facts for the lookup operations."""

    def networks(self) -> dict[str, tuple[str, str]]:
        """chain -> (family, network) of every stored chain (cached)."""
        def build() -> dict[str, tuple[str, str]]:
            return {c["chain"]: (c["family"], c["network"]) for c in self.store.chains()}

        return self.cached(("lookup-networks",), build)

    def network(self, chain: str) -> str:
        return self.networks()[chain][1]

    def address_chains(self, text: str, chain: str | None, *, field: str = "address") -> list[ChainRef]:
        """The chains to look `text` up on: the named one, else every stored chain whose address
        form accepts it; UsageError (naming `field`) when none does."""
        if chain is not None:
            return [self.chain(chain)]
        if not isinstance(text, str) or not text.strip():
            raise UsageError(f"{field} is empty: give an address", field=field)
        found = [ChainRef(name=c, family=fam)  # type: ignore[arg-type]
                 for c, (fam, net) in sorted(self.networks().items()) if accepts(fam, net, text, chain=c)]
        if not found:
            stored = ", ".join(sorted(self.networks())) or "none"
            raise UsageError(f"{field} {text.strip()!r} is not an address of any chain in the store "
                             f"(stored: {stored})", field=field)
        return found

    def address_id(self, ref: ChainRef, text: str, *, field: str = "address") -> int:
        """Address id of `text` on chain `ref` through its cached index (NotFoundError, UsageError)."""
        if ref.family == "account":
            return account_address_id(self.store, text, chain=ref.name, index=self.account_graph(ref.name),
                                      field=field)[1]
        return utxo_address_id(self.store, text, chain=ref.name, index=self.graph_index(ref.name), field=field)[1]

    def locate_address(self, text: str, chain: str | None, *,
                       field: str = "address") -> tuple[ChainRef, int | None]:
        """(chain, address id) of an address; the id is None when it is well formed but without
        activity on the chain. Several candidate chains: the first that saw it, else the only one."""
        refs = self.address_chains(text, chain, field=field)
        misses: list[NotFoundError] = []
        for ref in refs:
            try:
                return ref, self.address_id(ref, text, field=field)
            except NotFoundError as exc:
                misses.append(exc)
        if len(refs) > 1:
            names = ", ".join(r.name for r in refs)
            raise UsageError(f"{field} {text.strip()!r} has no activity on {names}; name the chain to "
                             "look it up on one of them", field="chain")
        return refs[0], None

    def cluster_sizes(self, chain: str, family: str) -> tuple[np.ndarray | None, np.ndarray | None, int | None]:
        """(labels, cluster sizes, run id) of the chain's current clustering, from the cached tag
        map (which loads the clustering once); (None, None, None) when never clustered."""
        def build() -> tuple[np.ndarray | None, np.ndarray | None, int | None]:
            tm = self.tag_map(chain, family)
            if tm.labels is None:
                return None, None, None
            labels = np.asarray(tm.labels)
            return labels, np.bincount(labels, minlength=labels.shape[0]), tm.cluster_run

        return self.cached(("lookup-cluster-sizes", chain), build, chain=chain)

    def cluster_of(self, chain: str, family: str, address_id: int | None) -> tuple[int | None, int | None, int | None]:
        """(cluster id, size, run id) of an address; Nones when unclustered. An address newer than
        the run is a cluster of its own."""
        labels, sizes, run = self.cluster_sizes(chain, family)
        if labels is None or sizes is None or address_id is None:
            return None, None, None
        if not 0 <= address_id < labels.shape[0]:
            return address_id, 1, run
        cid = int(labels[address_id])
        return cid, int(sizes[cid]), run

    def direct_tags(self, chain: str, family: str) -> Mapping[int, list[dict[str, Any]]]:
        """Direct tags by address id of the chain (the cached tag map's)."""
        return self.tag_map(chain, family).direct
