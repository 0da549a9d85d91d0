"""What tracing and risk need from attribution: tagged address ids of a chain, stop labels, descriptions.

The one place where trace meets `tags` and `cluster` (both a layer below). Tags are keyed by currency and
address string; tracing works on address ids of one chain's graph. `TagMap.load` takes the chain
currency's tags matched to ids in bulk and cached (`tag_resolve`), and adds what clusters inherit.
Without imported tags the map is empty: traces stop only at their limits and unspent outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fundtrail.errors import FundtrailError
from fundtrail.store.lake import Store
from fundtrail.store.spill import Spill
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.tag_resolve import SEVERITY_ORDER, chain_currency, direct_tags, order_ranks
from fundtrail.trace.tag_table import TagTable, index_of

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
    deposit address clustered with a tagged one counts as that service. Both are read-only
    mappings held in columns (`tag_table.TagTable`); a dict given for either is converted.
    """

    chain: str
    direct: Mapping[int, list[dict[str, Any]]]
    labels: np.ndarray | None = None
    by_cluster: TagTable | None = None
    cluster_run: int | None = None
    #: how the direct tags were found: strategy (cache, render, parse), conversions, tag rows read
    resolution: dict[str, Any] | None = None
    _pairs: dict[int, frozenset[tuple[Any, Any]]] = field(default_factory=dict, repr=False, compare=False)
    _ranks: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.direct, TagTable):
            self.direct = TagTable.from_dict(self.direct)
        if self.by_cluster is not None and not isinstance(self.by_cluster, TagTable):
            self.by_cluster = TagTable.from_dict(self.by_cluster)

    @property
    def table(self) -> TagTable:
        """The direct tags' table."""
        assert isinstance(self.direct, TagTable)
        return self.direct

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
        if cid not in self.by_cluster:
            return list(own)
        seen = {(t["category"], t["label"]) for t in own}
        if own and self._cluster_pairs(cid) <= seen:  # a tagged wallet of a big tagged cluster:
            return list(own)  # nothing to add (scanning its tags was most of a large trace's descriptions)
        return own + [t for t in self.by_cluster[cid] if (t["category"], t["label"]) not in seen
                      and t.get("address_id") != address]

    def inherited_tags(self, cid: int) -> list[dict[str, Any]]:
        """The tags cluster `cid` inherits from its tagged members ([] for none, or unclustered)."""
        return self.by_cluster.get(cid, []) if self.by_cluster is not None else []

    def _cluster_pairs(self, cid: int) -> frozenset[tuple[Any, Any]]:
        """The (category, label) pairs cluster `cid` (one of `by_cluster`) inherits, from the
        columns; remembered (up to 100,000 clusters)."""
        got = self._pairs.get(cid)
        if got is not None:
            return got
        by = self.by_cluster
        assert by is not None
        rows = by.group_rows(cid)
        cats, labs = by.cols.field("category"), by.cols.field("label")
        assert cats is not None and labs is not None
        cat_of, lab_of = [*cats[1], None], [*labs[1], None]
        pairs = np.unique(np.stack([cats[0][rows], labs[0][rows]], axis=1), axis=0)
        got = frozenset((cat_of[int(c)], lab_of[int(lb)]) for c, lb in pairs.tolist())
        if len(self._pairs) >= 100_000:
            self._pairs.clear()
        self._pairs[cid] = got
        return got

    def prepare(self) -> int:
        """Make the inherited tags of the largest clusters now (`TagTable.warm`), and their
        (category, label) pairs; returns how many clusters."""
        if self.by_cluster is None:
            return 0
        done = self.by_cluster.warm()
        for cid in done:
            self._cluster_pairs(cid)
        return len(done)

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
        self.by_cluster = inherited(self.table, self.labels, self._rank_of_rows())

    def _rank_of_rows(self) -> np.ndarray:
        if self._ranks is None:
            self._ranks = order_ranks(self.table.cols)
        return self._ranks

    def category_codes(self, n_addresses: int, spill: Spill | None = None) -> CategoryCodes:
        """Per address id its most severe category (direct, else inherited), as int16 codes into a
        small table: 2 bytes per address, filled a range of ids at a time (no temporary the size
        of the chain), so a whole chain's categories fit where an object array would not; placed
        by `spill`'s budget when given (a file when it does not fit)."""
        table: list[str] = []
        code_of: dict[str, int] = {}

        def code(category: str) -> int:
            if category not in code_of:
                code_of[category] = len(table)
                table.append(category)
            return code_of[category]

        codes = spill.array("category_codes", n_addresses, np.int16, -1) if spill is not None else \
            np.full(n_addresses, -1, np.int16)
        by = self.by_cluster
        if self.labels is not None and by:
            cids = np.array(sorted(by), np.int64)
            best = np.array([code(c) for c in _first_categories(by, cids)], np.int16)
            n = min(n_addresses, int(self.labels.shape[0]))
            for lo in range(0, n, _RANGE):
                lab = np.asarray(self.labels[lo:min(n, lo + _RANGE)])
                pos = np.minimum(np.searchsorted(cids, lab), cids.size - 1)
                hit = cids[pos] == lab
                codes[lo:lo + lab.shape[0]][hit] = best[pos[hit]]
        ids = self.table.ids
        for a, category in zip(ids.tolist(), _first_categories(self.table, ids)):
            if 0 <= a < n_addresses and category:
                codes[a] = code(category)
        return CategoryCodes(codes, tuple(table))

    def category_array(self, n_addresses: int) -> np.ndarray:
        """`category_codes` as an object array of category ids or None (8 bytes per address and an
        object per tagged one: for small chains and callers that want the strings)."""
        return self.category_codes(n_addresses).objects()

    def stop_rule(self, categories: list[str]) -> Callable[[int], str | None] | None:
        """A stop rule for `categories`: direct tags, then cluster-inherited ones (None: no tags)."""
        wanted = set(categories)
        direct = _first_wanted(self.table, wanted)
        inherited_hit = _first_wanted(self.by_cluster, wanted) if self.by_cluster is not None else None
        if direct is None and inherited_hit is None:
            return None
        labels = self.labels

        def rule(address: int) -> str | None:
            got = direct.describe(address) if direct is not None else None
            if got is not None or inherited_hit is None or labels is None or address >= labels.shape[0]:
                return got
            return inherited_hit.describe(int(labels[address]))

        return rule


def inherited(table: TagTable, labels: np.ndarray, ranks: np.ndarray) -> TagTable:
    """The tags each cluster inherits from its tagged members: every direct tag under its
    member's cluster id, a cluster's tags in tag order, then by member (`TagMap.by_cluster`)."""
    keys = table.entry_ids
    n = int(labels.shape[0])
    entries = np.flatnonzero((keys >= 0) & (keys < n))
    cids = np.asarray(labels)[keys[entries]].astype(np.int64)
    order = np.lexsort((keys[entries], ranks[table.rows[entries]], cids))
    return table.derived(cids[order], entries[order])


def _first_categories(tags: TagTable, ids: np.ndarray) -> list[Any]:
    """The category of each id's first tag (None when it has none), from the columns."""
    got = tags.cols.field("category")
    if got is None:
        return [None] * ids.shape[0]
    codes, values = got
    lut = [*values, None]
    pos = np.searchsorted(tags.ids, ids)
    return [lut[int(c)] for c in codes[tags.first_rows()[pos]].tolist()]


@dataclass
class _Hits:
    """Per id the first of its tags in wanted categories, formatted when asked."""

    ids: np.ndarray
    rows: np.ndarray
    members: np.ndarray | None
    table: TagTable

    def describe(self, key: int) -> str | None:
        g = index_of(self.ids, key)
        if g < 0:
            return None
        t = self.table.cols.row(int(self.rows[g]))
        if self.members is None:
            return f"{t['category']}: {t['label']}"
        return f"{t['category']}: {t['label']} (cluster of {t['address']})"


def _first_wanted(tags: TagTable, wanted: set[str]) -> _Hits | None:
    """The first tag of each id whose category is wanted (None when no id has one)."""
    got = tags.cols.field("category")
    if got is None or not tags:
        return None
    codes, values = got
    want = np.array([v in wanted for v in values] + [False])
    hit = want[codes[tags.rows]]
    entries = np.flatnonzero(hit)
    if entries.size == 0:
        return None
    keys = tags.entry_ids[entries]
    first = np.ones(entries.size, bool)
    first[1:] = keys[1:] != keys[:-1]  # entries are in key order: the first wanted one per key
    entries = entries[first]
    return _Hits(tags.entry_ids[entries], tags.rows[entries],
                 tags.members[entries] if tags.members is not None else None, tags)


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
