"""What tracing and risk need from attribution: tagged address ids of a chain, stop labels, descriptions.

The one place where trace meets `tags` and `cluster` (both a layer below). Tags are keyed by currency and address
string; tracing works on address ids of one chain's graph. `TagMap.load` resolves every tag of the
chain's currency to an id once and caches the result beside the graph index, keyed by the tag
set's version and the graph state, so a trace or risk query does not parse thousands of addresses.
Without imported tags the map is empty: traces stop only at their limits and unspent outputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fundtrail.errors import FundtrailError
from fundtrail.store.lake import Store
from fundtrail.trace.graph import GraphIndex

#: Most severe first: an address with several categories is counted under the first one it has.
SEVERITY_ORDER = ("sanction", "terrorism", "child_sexual_abuse", "ransomware", "service_hack",
                  "extortion", "sextortion", "malware", "scam", "phishing", "ponzi_scheme",
                  "investment_fraud", "money_laundering", "market", "mixing_service", "gambling",
                  "exchange", "wallet_service", "payment_processor", "atm", "defi_bridge", "miner")
_RANK = {c: i for i, c in enumerate(SEVERITY_ORDER)}


def chain_currency(chain: str) -> str:
    """Tag currency code of a store chain: `btc` -> BTC, `btc-regtest` -> BTC-REGTEST, `eth` -> ETH,
    `arbitrum` -> ARB; any other chain name in upper case."""
    from fundtrail.tags.currencies import STORE_CHAINS

    by_chain = {v: k for k, v in STORE_CHAINS.items()}
    return by_chain.get(chain, chain.upper())


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
        return own + [t for t in self.by_cluster.get(cid, []) if (t["category"], t["label"]) not in seen
                      and t.get("address_id") != address]

    @classmethod
    def load(cls, store: Store, graph: Any, *, clusters: bool = True) -> TagMap:
        """Resolve (or read from cache) the chain's tags to address ids; add cluster inheritance
        from the chain's current clustering when there is one."""
        direct = _direct_tags(store, graph)
        tm = cls(graph.chain, direct)
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
            tags.sort(key=lambda t: (_RANK.get(t["category"] or "", len(_RANK)), -t["confidence_level"]))

    def category_array(self, n_addresses: int) -> np.ndarray:
        """Per address id: its most severe category (direct, else inherited), as an object array
        of category ids or None; vectorised over clusters."""
        cats = np.full(n_addresses, None, object)
        if self.labels is not None and self.by_cluster:
            cids = np.fromiter(self.by_cluster, np.int64)
            best = np.array([self.by_cluster[c][0]["category"] for c in cids], object)
            lab = np.asarray(self.labels[:n_addresses])
            order = np.argsort(cids)
            pos = np.searchsorted(cids[order], lab)
            pos[pos >= cids.size] = 0
            hit = cids[order][pos] == lab
            cats[:lab.shape[0]][hit] = best[order][pos[hit]]
        for a, tags in self.direct.items():
            if 0 <= a < n_addresses and tags and tags[0]["category"]:
                cats[a] = tags[0]["category"]
        return cats

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


def _direct_tags(store: Store, graph: Any) -> dict[int, list[dict[str, Any]]]:
    """Direct tags by address id, cached beside the graph index by tag-set version and graph state.

    `graph` is a UTXO `GraphIndex` or an account chain's `AccountGraph`; addresses are resolved
    with that chain's parser."""
    if isinstance(graph, GraphIndex):
        from fundtrail.trace.seeds import address_id
    else:
        from fundtrail.trace.account_seeds import address_id

    currency = chain_currency(graph.chain)
    rows = tag_rows(store, currency)
    version = hashlib.sha256(json.dumps([graph.meta.get("state"), rows["version"]]).encode()).hexdigest()
    cache = graph.path.parent / "tagmap.json"
    if cache.exists():
        try:
            doc = json.loads(cache.read_text())
            if doc.get("version") == version:
                return {int(k): v for k, v in doc["tags"].items()}
        except (ValueError, KeyError):
            pass
    by_id: dict[int, list[dict[str, Any]]] = {}
    for tag in rows["rows"]:
        try:
            a = address_id(graph, tag["address"])
        except FundtrailError:
            continue  # no activity on this chain, or not an address of this network
        by_id.setdefault(a, []).append(tag)
    for tags in by_id.values():
        tags.sort(key=lambda t: (_RANK.get(t["category"] or "", len(_RANK)), -t["confidence_level"]))
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": version, "tags": by_id}))
    tmp.replace(cache)
    return by_id


def tag_rows(store: Store, currency: str) -> dict[str, Any]:
    """Tags of one currency with a category, and a version key of that tag set."""
    from fundtrail.tags.lookup import has_tags

    with store.connect(read_only=True) as con:
        if not has_tags(con):
            return {"version": None, "rows": []}
        version = con.execute("SELECT count(*), max(import_id), coalesce(sum(hash(content_hash)), 0) "
                              "FROM tags WHERE currency = ?", [currency]).fetchall()[0]
        cur = con.execute(
            "SELECT address, category, label, source, confidence, confidence_level, actor, origin "
            "FROM tags WHERE currency = ? AND category IS NOT NULL ORDER BY address, confidence_level DESC",
            [currency])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    return {"version": [int(version[0]), version[1], str(version[2])], "rows": rows}


def stop_rule(store: Store, graph: GraphIndex, categories: list[str]) -> Callable[[int], str | None] | None:
    """The stop rule for tagged (directly or through their cluster) addresses of `categories`."""
    return TagMap.load(store, graph).stop_rule(categories)


def describer(store: Store, graph: GraphIndex) -> Callable[[int], dict[str, Any]] | None:
    """address id -> {"cluster", "tags"}; None when nothing is attributed or clustered."""
    tagmap = TagMap.load(store, graph)
    if not tagmap.direct and tagmap.labels is None:
        return None

    def describe(address: int) -> dict[str, Any]:
        return {"cluster": tagmap.cluster_of(address),
                "tags": [{"category": t["category"], "label": t["label"], "source": t["source"],
                          "confidence": t["confidence"], "inherited_from": t.get("inherited_from")}
                         for t in tagmap.tags_of(address)]}

    return describe


def account_stop_rule(store: Store, graph: Any, categories: list[str]) -> Callable[[int], str | None] | None:
    """The stop rule of an account chain's directly tagged addresses of `categories` (None: none)."""
    return TagMap.load(store, graph, clusters=False).stop_rule(categories)
