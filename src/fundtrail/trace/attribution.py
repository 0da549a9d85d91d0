"""What tracing and risk need from attribution: tagged address ids of a chain, stop labels, descriptions.

The one place where trace meets `tags` and `cluster` (both a layer below). Tags are keyed by currency and
address string; tracing works on address ids of one chain's graph. `TagMap.load` takes the chain
currency's tags matched to ids in bulk and cached (`tag_resolve`), and adds what clusters inherit.
Without imported tags the map is empty: traces stop only at their limits and unspent outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fundtrail.errors import FundtrailError
from fundtrail.store.lake import Store
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.tag_resolve import SEVERITY_ORDER, chain_currency, direct_tags, tag_order

#: what the rest of the code takes from here (the tag resolution itself lives in `tag_resolve`)
__all__ = ["SEVERITY_ORDER", "CategoryCodes", "TagMap", "account_attribution", "chain_currency", "describe_with",
           "describer", "stop_rule"]

#: Address ids per range when per-address arrays are filled or scanned (bounds the temporaries).
_RANGE = 1 << 20


class CategoryCodes(dict):  # type: ignore[type-arg]
    """Per address id a category code (`codes`, int16, -1: none) into `table`.

    It is also a read-only mapping address id -> category, iterated a range of ids at a time: a
    `dict` subclass (empty underneath) so that `risk.exposure.exposure_key`, which takes a dict of
    tagged addresses, reads it without an object per address of the chain."""

    def __init__(self, codes: np.ndarray, table: tuple[str, ...]) -> None:
        super().__init__()
        self.codes, self.table = codes, table

    def items(self) -> Iterator[tuple[int, str]]:  # type: ignore[override]
        for lo in range(0, self.codes.shape[0], _RANGE):
            part = self.codes[lo:lo + _RANGE]
            for a in np.flatnonzero(part >= 0).tolist():
                yield lo + a, self.table[int(part[a])]

    def __iter__(self) -> Iterator[int]:
        return (a for a, _ in self.items())

    def __len__(self) -> int:
        return int(np.count_nonzero(self.codes >= 0))

    def __getitem__(self, address: int) -> str:
        c = int(self.codes[address]) if 0 <= address < self.codes.shape[0] else -1
        if c < 0:
            raise KeyError(address)
        return self.table[c]

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and 0 <= address < self.codes.shape[0] and self.codes[address] >= 0

    def get(self, address: int, default: Any = None) -> Any:  # type: ignore[override]
        c = int(self.codes[address]) if 0 <= address < self.codes.shape[0] else -1
        return self.table[c] if c >= 0 else default

    def objects(self) -> np.ndarray:
        """The categories as an object array (category or None per address)."""
        lut = np.array([*self.table, None], object)
        return lut[np.where(self.codes >= 0, self.codes, len(self.table))]


@dataclass
class TagMap:
    """Tags of one chain's currency by address id of its graph, direct and inherited.

    `direct`: address id -> its tags (most severe category first). With a clustering of the chain,
    `labels` holds each address's cluster id and `by_cluster` the tags a cluster inherits from its
    tagged members (each tag names the member it came from, `inherited_from`), so an untagged
    deposit address clustered with a tagged one counts as that service.
    """

    chain: str
    direct: dict[int, list[dict[str, Any]]]
    labels: np.ndarray | None = None
    by_cluster: dict[int, list[dict[str, Any]]] | None = None
    cluster_run: int | None = None
    #: how the direct tags were found: strategy (cache, render, parse), conversions, tag rows read
    resolution: dict[str, Any] | None = None
    _cluster_keys: dict[int, frozenset[tuple[Any, Any]]] = field(default_factory=dict, repr=False, compare=False)

    def cluster_of(self, address: int) -> int | None:
        if self.labels is None or not 0 <= address < self.labels.shape[0]:
            return None
        return int(self.labels[address])

    def tags_of(self, address: int) -> list[dict[str, Any]]:
        """Direct tags, then the tags inherited through the address's cluster (not repeated)."""
        own = self.direct.get(address, [])
        cid = self.cluster_of(address)
        if cid is None or not self.by_cluster:
            return own
        seen = {(t["category"], t["label"]) for t in own}
        if own and self._cluster_keys.get(cid, {None}) <= seen:  # a tagged wallet of a big tagged cluster:
            return list(own)  # nothing to add (scanning its tags was most of a large trace's descriptions)
        return own + [t for t in self.by_cluster.get(cid, []) if (t["category"], t["label"]) not in seen
                      and t.get("address_id") != address]

    @classmethod
    def load(cls, store: Store, graph: Any, *, clusters: bool = True,
             progress: Callable[[str], None] | None = None) -> TagMap:
        """Resolve (or read from cache) the chain's tags to address ids; add cluster inheritance
        from the chain's current clustering when there is one. `progress` gets a line before and
        after a resolution long enough to notice (tens of thousands of conversions)."""
        stats: dict[str, Any] = {}
        direct = direct_tags(store, graph, progress, stats)
        tm = cls(graph.chain, direct, resolution=stats)
        if clusters:
            tm._inherit(store)
        return tm

    def _inherit(self, store: Store) -> None:
        from fundtrail.cluster.query import load_clustering

        try:
            cl = load_clustering(store, self.chain)
        except FundtrailError:
            return  # not clustered yet: direct tags only
        self.labels, self.cluster_run = cl.labels, cl.run.run_id
        self.by_cluster = {}
        for a, tags in self.direct.items():
            cid = self.cluster_of(a)
            if cid is None:
                continue
            for t in tags:
                self.by_cluster.setdefault(cid, []).append({**t, "address_id": a,
                                                            "inherited_from": t["address"]})
        for tags in self.by_cluster.values():
            tags.sort(key=lambda t: (*tag_order(t), t["address_id"]))
        self._cluster_keys = {c: frozenset((t["category"], t["label"]) for t in v) for c, v in self.by_cluster.items()}

    def category_codes(self, n_addresses: int) -> CategoryCodes:
        """Per address id its most severe category (direct, else inherited), as int16 codes into a
        small table: 2 bytes per address, filled a range of ids at a time (no temporary the size
        of the chain), so a whole chain's categories fit where an object array would not."""
        table: list[str] = []
        code_of: dict[str, int] = {}

        def code(category: str) -> int:
            if category not in code_of:
                code_of[category] = len(table)
                table.append(category)
            return code_of[category]

        codes = np.full(n_addresses, -1, np.int16)
        if self.labels is not None and self.by_cluster:
            cids = np.array(sorted(self.by_cluster), np.int64)
            best = np.array([code(self.by_cluster[c][0]["category"]) for c in cids.tolist()], np.int16)
            n = min(n_addresses, int(self.labels.shape[0]))
            for lo in range(0, n, _RANGE):
                lab = np.asarray(self.labels[lo:min(n, lo + _RANGE)])
                pos = np.minimum(np.searchsorted(cids, lab), cids.size - 1)
                hit = cids[pos] == lab
                codes[lo:lo + lab.shape[0]][hit] = best[pos[hit]]
        for a, tags in self.direct.items():
            if 0 <= a < n_addresses and tags and tags[0]["category"]:
                codes[a] = code(tags[0]["category"])
        return CategoryCodes(codes, tuple(table))

    def category_array(self, n_addresses: int) -> np.ndarray:
        """`category_codes` as an object array of category ids or None (8 bytes per address and an
        object per tagged one: for small chains and callers that want the strings)."""
        return self.category_codes(n_addresses).objects()

    def stop_rule(self, categories: list[str]) -> Callable[[int], str | None] | None:
        """A stop rule for `categories`: direct tags, then cluster-inherited ones (None: no tags)."""
        wanted = set(categories)
        direct = {}
        for a, tags in self.direct.items():
            hit = next((t for t in tags if t["category"] in wanted), None)
            if hit is not None:
                direct[a] = f"{hit['category']}: {hit['label']}"
        inherited = {}
        for cid, tags in (self.by_cluster or {}).items():
            hit = next((t for t in tags if t["category"] in wanted), None)
            if hit is not None:
                inherited[cid] = f"{hit['category']}: {hit['label']} (cluster of {hit['inherited_from']})"
        if not direct and not inherited:
            return None
        labels = self.labels

        def rule(address: int) -> str | None:
            got = direct.get(address)
            if got is not None or not inherited or labels is None or address >= labels.shape[0]:
                return got
            return inherited.get(int(labels[address]))

        return rule


def stop_rule(store: Store, graph: GraphIndex, categories: list[str]) -> Callable[[int], str | None] | None:
    """The stop rule for tagged (directly or through their cluster) addresses of `categories`."""
    return TagMap.load(store, graph).stop_rule(categories)


def describer(store: Store, graph: Any) -> Callable[[int], dict[str, Any]] | None:
    """address id -> {"cluster", "tags"}; None when nothing is attributed or clustered. `graph` is
    a UTXO `GraphIndex` or an `AccountGraph`."""
    return describe_with(TagMap.load(store, graph))


def describe_with(tagmap: TagMap) -> Callable[[int], dict[str, Any]] | None:
    """The describer of a loaded tag map: direct tags, then cluster-inherited ones (`inherited_from`)."""
    if not tagmap.direct and tagmap.labels is None:
        return None

    def describe(address: int) -> dict[str, Any]:
        return {"cluster": tagmap.cluster_of(address),
                "tags": [{"category": t["category"], "label": t["label"], "source": t["source"],
                          "confidence": t["confidence"], "inherited_from": t.get("inherited_from")}
                         for t in tagmap.tags_of(address)]}

    return describe


def account_attribution(store: Store, graph: Any, categories: list[str]) -> tuple[
        Callable[[int], str | None] | None, Callable[[int], dict[str, Any]] | None]:
    """(stop rule, describer) of an account chain, from one load of its tags and clustering.

    Stops use direct tags only: Ethereum clustering (deposit-address reuse) joins a customer's own
    addresses with their exchange deposit address, so an "exchange" tag inherited through it would
    stop a trace at the customer's wallet, before the exchange. Descriptions show both, inherited
    tags marked with the member they come from (`inherited_from`)."""
    tagmap = TagMap.load(store, graph)
    return TagMap(tagmap.chain, tagmap.direct).stop_rule(categories), describe_with(tagmap)
