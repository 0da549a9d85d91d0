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

from fundtrail.chains.bitcoin.address import parse_address
from fundtrail.chains.bitcoin.addresskey import address_key, fingerprint
from fundtrail.chains.bitcoin.params import network as btc_network
from fundtrail.chains.resolve import utxo_text
from fundtrail.errors import UsageError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store import Store
from fundtrail.tags.lookup import has_tags
from fundtrail.trace.attribution import TagMap, chain_currency
from fundtrail.trace.graph import GraphIndex
from fundtrail.watch.batch import member, sorted_keys


def fingerprint_of(text: str, network: str) -> tuple[int, int]:
    """(fp1, fp2) of an address of Bitcoin network `network`, as `chains.resolve.parse_utxo_address`
    finds them, without rendering the canonical text it also returns (half its time; 100,000
    watched addresses and the tags are parsed at each load). UsageError when malformed."""
    stype, payload = parse_address(text.strip(), btc_network(network))
    return fingerprint(*address_key(int(stype), payload))


def known_fingerprints(store: Store, chain: str, keys: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(address id, fp1, fp2) of the address fingerprints the chain's store holds: one join for
    them all (100,000 watched addresses at once), for `watch add` and the evaluator alike."""
    if not keys:
        return []
    table = pa.table({"fp1": pa.array([k[0] for k in keys], pa.uint64()),
                      "fp2": pa.array([k[1] for k in keys], pa.uint64())})
    view = f"{chain.replace('-', '_')}_addresses"
    with store.query() as con:
        con.register("_watched_fp", table)
        try:
            found = con.execute(f"SELECT a.address_id, a.fp1, a.fp2 FROM {view} a JOIN _watched_fp k "
                                "ON a.fp1 = k.fp1 AND a.fp2 = k.fp2").fetchall()
        finally:
            con.unregister("_watched_fp")
    return [(int(a), int(f1), int(f2)) for a, f1, f2 in found]


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
        last: tuple[str | None, tuple[int, int] | None] = (None, None)
        for address, category, label, source in rows:
            if address != last[0]:  # ordered by address: each parsed once
                try:
                    last = (address, fingerprint_of(address, self.network))
                except UsageError:
                    last = (address, None)
            if last[1] is not None:
                self.by_fp.setdefault(last[1], []).append(
                    {"address": address, "category": category, "label": label, "source": source})
        self.fp1s = sorted_keys(np.fromiter((k[0] for k in self.by_fp), np.uint64, len(self.by_fp)))
        self.new: dict[int, list[dict[str, Any]]] = {}  # address id (>= boundary) -> its tags
        self.texts: dict[int, str] = {}  # address id (>= boundary) -> its string, for the tagged ones
        self._first: dict[tuple[int, tuple[str, ...]], dict[str, Any] | None] = {}  # (cluster, categories) -> tag
        self._rendered: dict[int, str] = {}  # address id (< boundary) -> its string, as rendered

    def observe(self, addresses: pa.Table) -> dict[int, list[dict[str, Any]]]:
        """Tags of a batch's new addresses (id -> tags); `keep` them once the batch is committed."""
        if not self.by_fp or addresses.num_rows == 0:
            return {}
        fp1 = addresses.column("fp1").to_numpy(zero_copy_only=False)
        fp2 = addresses.column("fp2").to_numpy(zero_copy_only=False)
        found: dict[int, list[dict[str, Any]]] = {}
        ids = addresses.column("address_id").to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(member(fp1, self.fp1s)).tolist():
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
        if address < self.boundary and not self.tagmap.direct.get(address):
            # an untagged address has its cluster's tags: the first of the categories is looked for
            # once per cluster (a big service's cluster holds thousands of them, and taint keeps
            # landing on its untagged addresses)
            cid = self.tagmap.cluster_of(address)
            if cid is None:
                return None
            key = (cid, tuple(categories))
            if key not in self._first:
                self._first[key] = next((t for t in self.tagmap.tags_of(address)
                                         if t.get("category") in categories), None)
            first = self._first[key]
            return None if first is None else self._service(address, first)
        for t in self.tags_of(address, pending):
            if t.get("category") in categories:
                return self._service(address, t)
        return None

    def _service(self, address: int, t: dict[str, Any]) -> dict[str, Any]:
        via = "cluster" if t.get("inherited_from") else "tag"
        return {"label": t["label"], "category": t["category"], "address": self.text(address, t),
                "via": via, "tag_source": t.get("source"),
                **({"tagged_member": t["inherited_from"]} if via == "cluster" else {})}

    def text(self, address: int, tag: dict[str, Any] | None = None) -> str | None:
        """The address string (rendered from the index, or as tagged for an address newer than it)."""
        if address < self.boundary:
            text = self._rendered.get(address)
            if text is None:  # rendered once: a service's deposit addresses recur block after block
                if len(self._rendered) >= 100_000:
                    self._rendered.clear()
                text = self._rendered[address] = utxo_text(*self.graph.address_key(address), self.network)
            return text
        if address in self.texts:
            return self.texts[address]
        return tag["address"] if tag and not tag.get("inherited_from") else None
