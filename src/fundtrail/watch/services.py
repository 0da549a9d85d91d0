"""Who an address belongs to, while blocks are coming in: tags direct or through the cluster.

Addresses the graph index knew when the ingest run started are looked up in the chain's tag map
(`fundtrail.trace.attribution.TagMap`, the one trace and risk use: direct tags, then those
inherited through the current clustering). Addresses first seen after that (a new deposit
address) are matched by their fingerprint against the tags' address strings, parsed once: a
tagged deposit address is recognised in the very batch that first pays it. Cluster inheritance
for them waits for the next cluster run, which re-evaluates the rules (`watch.reattribute`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from fundtrail.chains.resolve import parse_utxo_address, utxo_text
from fundtrail.errors import UsageError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store import Store
from fundtrail.tags.lookup import has_tags
from fundtrail.trace.attribution import TagMap, chain_currency
from fundtrail.trace.graph import GraphIndex


class Attribution:
    """Service tags of address ids of one chain during an ingest run."""

    def __init__(self, store: Store, chain: str) -> None:
        self.network = bitcoin_network_of(chain)
        self.graph = GraphIndex.ensure(store, chain)
        self.tagmap = TagMap.load(store, self.graph)
        self.boundary = self.graph.n_addresses
        self.by_fp: dict[tuple[int, int], list[dict[str, Any]]] = {}
        with store.connect(read_only=True) as con:
            rows = con.execute("SELECT address, category, label, source FROM tags WHERE currency = ? AND "
                               "category IS NOT NULL ORDER BY address, confidence_level DESC",
                               [chain_currency(chain)]).fetchall() if has_tags(con) else []
        for address, category, label, source in rows:
            try:
                parsed = parse_utxo_address(address, self.network)
            except UsageError:
                continue
            self.by_fp.setdefault((parsed.fp1, parsed.fp2), []).append(
                {"address": address, "category": category, "label": label, "source": source})
        self.fp1s = np.fromiter((k[0] for k in self.by_fp), np.uint64, len(self.by_fp))
        self.new: dict[int, list[dict[str, Any]]] = {}  # address id (>= boundary) -> its tags
        self.texts: dict[int, str] = {}  # address id (>= boundary) -> its string, for the tagged ones

    def observe(self, addresses: pa.Table) -> dict[int, list[dict[str, Any]]]:
        """Tags of a batch's new addresses (id -> tags); `keep` them once the batch is committed."""
        if not self.by_fp or addresses.num_rows == 0:
            return {}
        fp1 = addresses.column("fp1").to_numpy(zero_copy_only=False)
        fp2 = addresses.column("fp2").to_numpy(zero_copy_only=False)
        found: dict[int, list[dict[str, Any]]] = {}
        ids = addresses.column("address_id").to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(np.isin(fp1, self.fp1s)).tolist():
            tags = self.by_fp.get((int(fp1[i]), int(fp2[i])))
            if tags:
                found[int(ids[i])] = tags
        return found

    def keep(self, found: dict[int, list[dict[str, Any]]]) -> None:
        self.new.update(found)
        for aid, tags in found.items():
            self.texts[aid] = tags[0]["address"]

    def tags_of(self, address: int, pending: dict[int, list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
        if address < self.boundary:
            return self.tagmap.tags_of(address)
        return self.new.get(address) or (pending or {}).get(address) or []

    def service(self, address: int, categories: list[str],
                pending: dict[int, list[dict[str, Any]]] | None = None) -> dict[str, Any] | None:
        """The first tag of one of `categories` on the address: label, category, the address,
        via (`tag`: the address itself; `cluster`: a member of its cluster), the tag's source."""
        for t in self.tags_of(address, pending):
            if t.get("category") in categories:
                via = "cluster" if t.get("inherited_from") else "tag"
                return {"label": t["label"], "category": t["category"], "address": self.text(address, t),
                        "via": via, "tag_source": t.get("source"),
                        **({"tagged_member": t["inherited_from"]} if via == "cluster" else {})}
        return None

    def text(self, address: int, tag: dict[str, Any] | None = None) -> str | None:
        """The address string (rendered from the index, or as tagged for an address newer than it)."""
        if address < self.boundary:
            return utxo_text(*self.graph.address_key(address), self.network)
        if address in self.texts:
            return self.texts[address]
        return tag["address"] if tag and not tag.get("inherited_from") else None
