"""What tracing and risk need from attribution: tagged address ids of a chain, stop labels, descriptions.

The one place where trace meets `tags` (a layer below). Tags are keyed by currency and address
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
    """Tags of one chain's currency by address id of its graph (strongest tag first per address)."""

    chain: str
    tags: dict[int, list[dict[str, Any]]]

    @classmethod
    def load(cls, store: Store, graph: GraphIndex) -> TagMap:
        """Resolve (or read from cache) the chain's tags to address ids."""
        from fundtrail.trace.seeds import address_id

        currency = chain_currency(graph.chain)
        rows = _tag_rows(store, currency)
        version = hashlib.sha256(json.dumps([graph.meta.get("state"), rows["version"]]).encode()).hexdigest()
        cache = graph.path.parent / "tagmap.json"
        if cache.exists():
            try:
                doc = json.loads(cache.read_text())
                if doc.get("version") == version:
                    return cls(graph.chain, {int(k): v for k, v in doc["tags"].items()})
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
        return cls(graph.chain, by_id)

    def primary_categories(self) -> dict[int, str]:
        """address id -> its most severe category."""
        return {a: t[0]["category"] for a, t in self.tags.items() if t and t[0]["category"]}

    def labels_for(self, categories: list[str]) -> dict[int, str]:
        """address id -> "category: label" for addresses tagged with one of `categories`."""
        wanted = set(categories)
        out = {}
        for a, tags in self.tags.items():
            hit = next((t for t in tags if t["category"] in wanted), None)
            if hit is not None:
                out[a] = f"{hit['category']}: {hit['label']}"
        return out


def _tag_rows(store: Store, currency: str) -> dict[str, Any]:
    with store.connect(read_only=True) as con:
        have = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'tags'"
                           ).fetchall()[0][0]
        if not have:
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


def service_labels(store: Store, graph: GraphIndex, categories: list[str]) -> dict[int, str]:
    """address id -> label for tagged addresses of `categories` that the graph knows."""
    return TagMap.load(store, graph).labels_for(categories)


def describer(store: Store, graph: GraphIndex) -> Callable[[int], dict[str, Any]] | None:
    """address id -> {"cluster", "tags"}; None when nothing is attributed on this chain."""
    tagmap = TagMap.load(store, graph)
    if not tagmap.tags:
        return None

    def describe(address: int) -> dict[str, Any]:
        return {"cluster": None,
                "tags": [{"category": t["category"], "label": t["label"], "source": t["source"],
                          "confidence": t["confidence"]} for t in tagmap.tags.get(address, [])]}

    return describe


def account_service_labels(store: Store, graph: Any, categories: list[str]) -> dict[int, str]:
    """address id -> "category: label" on an account chain for tags of `categories`."""
    from fundtrail.trace.account_seeds import address_id as account_address_id

    rows = _tag_rows(store, chain_currency(graph.chain))["rows"]
    wanted = set(categories)
    out: dict[int, str] = {}
    for tag in rows:
        if tag["category"] not in wanted:
            continue
        try:
            a = account_address_id(graph, tag["address"])
        except FundtrailError:
            continue
        out.setdefault(a, f"{tag['category']}: {tag['label']}")
    return out
