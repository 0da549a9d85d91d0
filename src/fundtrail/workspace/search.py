"""Service operations: search, "what is this string?".

An investigator pastes whatever they hold (an address, a txid, `TXID:VOUT`, a cluster id, a name)
and learns what it is in the store, with the API path that shows it. The string is tried as each
kind in turn, most specific first: an output, a transaction (on every chain of the matching
family), an address (on every chain whose address form accepts it and that saw it), a cluster id
(a number that is a cluster of a clustered chain), then tags (label, actor, category, source or
creator containing it) and actors (id or name containing it). Nothing found is an empty list.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fundtrail.chains.resolve import accepts
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.tags import lookup as tag_lookup
from fundtrail.workspace.addresses import AddressOps
from fundtrail.workspace.core import ChainRef, check_limit
from fundtrail.workspace.lookup_base import MAX_QUERY_CHARS
from fundtrail.workspace.lookup_models import SearchHit, SearchResult
from fundtrail.workspace.transactions import TransactionOps

__all__ = ["SearchHit", "SearchOps", "SearchResult"]

_OUTPUT = re.compile(r"([0-9a-fA-F]{64}):(\d{1,9})")
_HEX_TXID = re.compile(r"(0[xX])?[0-9a-fA-F]{64}")
_CLUSTER = re.compile(r"\d{1,18}")


class SearchOps(AddressOps, TransactionOps):
    """What a string is."""

    def search(self, q: str, *, limit: int = 20) -> SearchResult:
        """Every interpretation of `q` the store confirms, most specific first, at most `limit`."""
        check_limit(limit, maximum=1000)
        if not isinstance(q, str) or not q.strip():
            raise UsageError("q is empty: give an address, txid, TXID:VOUT, cluster id or name", field="q")
        if len(q) > MAX_QUERY_CHARS:
            raise UsageError(f"q is {len(q)} characters long; at most {MAX_QUERY_CHARS}", field="q")
        text = q.strip()
        hits = self._output_hits(text) + self._tx_hits(text) + self._address_hits(text) + self._cluster_hits(text)
        if len(hits) < limit:
            hits += self._tag_hits(text, limit - len(hits))
        return SearchResult(q=text, hits=hits[:limit])

    def _output_hits(self, text: str) -> list[SearchHit]:
        m = _OUTPUT.fullmatch(text)
        if m is None:
            return []
        txid, vout = m.group(1).lower(), int(m.group(2))
        hits = []
        for name, (fam, _net) in sorted(self.networks().items()):
            if fam != "utxo":
                continue
            g = self.graph_index(name)
            tx = g.find_tx(bytes.fromhex(txid)[::-1])
            if tx >= 0 and vout < len(g.outputs_of(tx)):
                value = int(g.out_value[g.outputs_of(tx)[vout]])
                hits.append(SearchHit(kind="output", chain=name, text=f"{txid}:{vout}",
                                      label=f"output {vout} of a {name} transaction, {value:,} sat",
                                      link=f"/api/v1/{name}/txs/{txid}"))
        return hits

    def _tx_hits(self, text: str) -> list[SearchHit]:
        if _HEX_TXID.fullmatch(text) is None:
            return []
        hits = []
        for ref in self._txid_chains(text, None, field="q"):  # bare hex: UTXO and TRON chains; 0x: account
            try:
                ref, tx = self.find_transaction(text, ref.name, field="q")
            except NotFoundError:
                continue
            if ref.family == "utxo":
                shown, height = text.lower(), int(self.graph_index(ref.name).tx_height[tx])
            else:
                ag = self.account_graph(ref.name)
                shown, height = ag.tx_hash_hex(tx), int(ag.tx_block[tx])
            hits.append(SearchHit(kind="transaction", chain=ref.name, text=shown,
                                  label=f"{ref.name} transaction in block {height}",
                                  link=f"/api/v1/{ref.name}/txs/{shown}"))
        return hits

    def _address_hits(self, text: str) -> list[SearchHit]:
        hits = []
        for name, (fam, net) in sorted(self.networks().items()):
            if not accepts(fam, net, text, chain=name):
                continue
            ref = ChainRef(name=name, family=fam)  # type: ignore[arg-type]
            try:
                self.address_id(ref, text, field="q")
            except NotFoundError:
                continue
            canonical = self.canonical_address(ref, text)
            hits.append(SearchHit(kind="address", chain=name, text=canonical, label=f"{name} address",
                                  link=f"/api/v1/{name}/addresses/{canonical}"))
        return hits

    def _cluster_hits(self, text: str) -> list[SearchHit]:
        if _CLUSTER.fullmatch(text) is None:
            return []
        cid = int(text)
        hits = []
        for name, (fam, _net) in sorted(self.networks().items()):
            labels, sizes, _run = self.cluster_sizes(name, fam)
            if labels is None or sizes is None or not 0 <= cid < labels.shape[0] or int(labels[cid]) != cid:
                continue
            hits.append(SearchHit(kind="cluster", chain=name, text=str(cid),
                                  label=f"{name} cluster of {int(sizes[cid]):,} address(es)",
                                  link=f"/api/v1/{name}/clusters/{cid}"))
        return hits

    def _tag_hits(self, text: str, room: int) -> list[SearchHit]:
        with self.store.connect(read_only=True) as con:
            if not tag_lookup.has_tags(con):
                return []
            tags = tag_lookup.search(con, text, room)
            actors = con.execute("SELECT actor_id, label FROM actors WHERE actor_id ILIKE ? OR label ILIKE ? "
                                 "ORDER BY actor_id LIMIT ?", [f"%{text}%", f"%{text}%", room]).fetchall()
        hits = [SearchHit(kind="actor", chain=None, text=str(a), label=str(label or a),
                          link=f"/api/v1/tags?q={quote(str(a), safe='')}") for a, label in actors]
        for t in tags:
            what = f"{t['category']}: {t['label']}" if t.get("category") else str(t["label"])
            hits.append(SearchHit(kind="tag", chain=None, text=str(t["address"]),
                                  label=f"{what} ({t['currency']})",
                                  link=f"/api/v1/tags?address={quote(str(t['address']), safe='')}"))
        return hits[:room]
