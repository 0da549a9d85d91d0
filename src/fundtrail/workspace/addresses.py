"""Service operations: an address's summary and its transactions (the API's hottest routes).

Both answer from the chain's cached graph index (`IndexOps`): the address is found by binary search
over the index's sorted keys, and its totals, first and last activity and transaction list are
array slices, so no lake scan happens per call. Cluster membership and inherited tags come from the
cached tag map; direct tags (merged, with every source: the facts `fundtrail tags show` gives,
restricted to the chain's currency) from the merged tags the workspace holds in memory
(`lookup_tags.TagRows`, loaded once per tag state): a catalog visit costs milliseconds (connection
attach, index probe), a hundred times the rest of the summary, and concurrent visits queue on the
catalog's one in-process lock, so no summary makes one.

An address the chain never saw is a NotFoundError, unless it is well formed and tagged: then the
summary says `seen: false` with zero activity, because "this sanctioned address has not been used
yet" is an answer an investigator needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fundtrail.chains.resolve import account_text, parse_account_address, parse_utxo_address
from fundtrail.chains.tron.address import is_tron_chain
from fundtrail.errors import NotFoundError
from fundtrail.tags.lookup import has_tags, is_tagged, tags_of
from fundtrail.tags.taxonomy import CATEGORIES
from fundtrail.trace.attribution import chain_currency
from fundtrail.workspace import lookup_account, lookup_utxo
from fundtrail.workspace.core import ChainRef, Page, check_limit, decode_cursor, encode_cursor
from fundtrail.workspace.lookup_base import LookupBase
from fundtrail.workspace.lookup_models import (AddressSummary, AddressTag, AddressTx, AddressTxPage, AssetTotals,
                                               SeenAt)
from fundtrail.workspace.risk import RiskOps, RiskReport, RiskRequest

__all__ = ["AddressOps", "AddressSummary", "AddressTag", "AddressTx", "AddressTxPage", "AssetTotals", "SeenAt"]

_CURSOR_KEYS = ("after",)


class AddressOps(LookupBase):
    """Address summary and transactions."""

    def canonical_address(self, ref: ChainRef, text: str) -> str:
        """The text an address is shown as on `ref` (bech32 lower case, EIP-55, TRON's Base58Check)."""
        if ref.family == "account":
            net = self.network(ref.name)
            return account_text(parse_account_address(text, chain=ref.name, network=net), chain=ref.name, network=net)
        return parse_utxo_address(text, self.network(ref.name)).text

    def token_info(self, chain: str) -> dict[int, tuple[str | None, int | None]]:
        """Token (symbol, decimals) by contract address id of an account chain (cached)."""
        return self.cached(("lookup-tokens", chain), lambda: lookup_account.tokens(self.store, chain), chain=chain)

    def _address_tags(self, ref: ChainRef, text: str, address_id: int | None,
                      cluster_id: int | None) -> list[AddressTag]:
        currency = chain_currency(ref.name)
        direct = self._direct_rows(text, currency)
        out = [AddressTag(kind="direct", currency=t["currency"], category=t.get("category"),
                          category_label=t.get("category_label"), label=t["label"], confidence=t.get("confidence"),
                          confidence_level=t.get("confidence_level"), actor=t.get("actor"),
                          source=(t.get("sources") or [{}])[0].get("source") if t.get("sources") else None,
                          sources=list(t.get("sources") or [])) for t in direct]
        if cluster_id is None or address_id is None:
            return out
        tm = self.tag_map(ref.name, ref.family)
        seen = {(t.category, t.label) for t in out}
        for t in tm.inherited_tags(cluster_id):
            if t.get("address_id") == address_id or (t["category"], t["label"]) in seen:
                continue
            seen.add((t["category"], t["label"]))
            cat = CATEGORIES.get(t["category"]) if t.get("category") else None
            out.append(AddressTag(kind="inherited", currency=currency, category=t["category"],
                                  category_label=cat.label if cat else None, label=t["label"],
                                  confidence=t.get("confidence"), confidence_level=t.get("confidence_level"),
                                  source=t.get("source"), actor=t.get("actor"), inherited_from=t["inherited_from"]))
        return out

    def _direct_rows(self, text: str, currency: str) -> list[dict[str, Any]]:
        """The merged tags of an address in `currency`, from the tags held in memory; from the
        catalog only for a currency they do not hold whole (a chain ingested since they were loaded)."""
        tagged = self.tagged_addresses()
        rows = tagged.rows_of(text, currency)
        if rows is not None:
            return rows
        if not is_tagged(tagged, text):
            return []
        with self.store.connect(read_only=True) as con:
            return [t for t in tags_of(con, text) if t.get("currency") == currency] if has_tags(con) else []

    def _activity(self, ref: ChainRef, address_id: int) -> dict[str, Any]:
        if ref.family == "account":
            return lookup_account.address_activity(self.account_graph(ref.name), ref.name, address_id,
                                                   self.token_info(ref.name))
        return lookup_utxo.address_activity(self.graph_index(ref.name), address_id)

    def address(self, address: str, *, chain: str | None = None, risk: bool = True) -> AddressSummary:
        """The summary of one address (see `AddressSummary`); `risk=False` leaves the score out."""
        ref, aid = self.locate_address(address, chain)
        script_type = "account"
        if ref.family == "account":
            text = self.canonical_address(ref, address)
        else:  # parsed once for its shown form and its script type (parsing is most of a cheap call)
            parsed = parse_utxo_address(address, self.network(ref.name))
            text, script_type = parsed.text, parsed.script_name
        cid, size, run = self.cluster_of(ref.name, ref.family, aid)
        tags = self._address_tags(ref, text, aid, cid)
        if aid is None and not tags:
            raise NotFoundError(f"address {text} has no activity in the store's {ref.name} chain and no tags",
                                field="address")
        unit = ("sun" if is_tron_chain(ref.name) else "wei") if ref.family == "account" else "sat"
        doc: dict[str, Any] = {"chain": ref.name, "family": ref.family, "address": text, "address_id": aid,
                               "unit": unit, "seen": aid is not None, "cluster_id": cid, "cluster_size": size,
                               "cluster_run": run, "tags": tags, "assets": [], "first_seen": None,
                               "last_seen": None, "script_type": script_type}
        zero: int | str = "0" if ref.family == "account" else 0
        doc.update(received=zero, sent=zero, balance=zero, received_count=0, sent_count=0, tx_count=0)
        if aid is not None:
            act = self._activity(ref, aid)
            doc.update(received_count=act["received_count"], sent_count=act["sent_count"])
            if ref.family == "utxo":
                g = self.graph_index(ref.name)
                txs = act["txs"]
                doc.update(received=act["received"], sent=act["sent"], balance=act["received"] - act["sent"],
                           tx_count=int(txs.size))
                if txs.size:
                    doc.update(first_seen=lookup_utxo.seen_at(g, int(txs[0])),
                               last_seen=lookup_utxo.seen_at(g, int(txs[-1])))
            else:
                ag = self.account_graph(ref.name)
                nat = act["assets"][0]
                doc.update(assets=act["assets"], tx_count=act["tx_count"], received=nat.received if nat.contract is None
                           else "0", sent=nat.sent if nat.contract is None else "0",
                           balance=nat.balance if nat.contract is None else "0")
                if act["evs"].size:
                    doc.update(first_seen=lookup_account.seen_at(ag, int(act["evs"][0])),
                               last_seen=lookup_account.seen_at(ag, int(act["evs"][-1])))
        report: RiskReport | None = None
        if risk and isinstance(self, RiskOps):
            report = self.risk(RiskRequest(target=text, chain=ref.name))
        doc["risk"] = report
        return AddressSummary(**doc)

    def address_txs(self, address: str, *, chain: str | None = None, limit: int = 50,
                    cursor: str | None = None) -> AddressTxPage:
        """The address's transactions, oldest first (height, then position), a page at a time."""
        check_limit(limit)
        pos = decode_cursor(cursor, _CURSOR_KEYS)
        ref, aid = self.locate_address(address, chain)
        text = self.canonical_address(ref, address)
        if aid is None:
            raise NotFoundError(f"address {text} has no activity in the store's {ref.name} chain", field="address")
        act = self._activity(ref, aid)
        if ref.family == "utxo":
            g = self.graph_index(ref.name)
            txs = act["txs"]
            total = int(txs.size)
            start = _utxo_start(g.tx_height, txs, pos)
            rows = lookup_utxo.page_of_txs(g, act, start, limit)
            last: tuple[int, ...] | None = (lookup_utxo.tx_position(g, int(txs[start + len(rows) - 1]))
                                             if rows else None)
        else:
            ag = self.account_graph(ref.name)
            starts = act["starts"]
            total = int(starts.size)
            first_events = act["evs"][starts] if total else np.zeros(0, np.int64)
            start = 0 if pos is None else int(np.searchsorted(first_events, _int(pos["after"], 0), side="right"))
            rows = lookup_account.page_of_txs(ag, ref.name, aid, act, start, limit, self.token_info(ref.name))
            last = (int(first_events[start + len(rows) - 1]),) if rows else None
        more = last is not None and start + len(rows) < total
        nxt = encode_cursor({"after": list(last)}) if more and last is not None else None
        return AddressTxPage(chain=ref.name, address=text, total=total, txs=rows,
                             page=Page(limit=limit, next_cursor=nxt))


def _int(value: Any, index: int) -> int:
    """A number inside a decoded cursor position (UsageError on field `cursor` otherwise)."""
    from fundtrail.errors import UsageError

    try:
        item = value[index] if isinstance(value, list) else None
        if isinstance(item, int) and not isinstance(item, bool):
            return item
    except IndexError:
        pass
    raise UsageError("cursor is not a cursor this listing returned", field="cursor")


def _utxo_start(heights: Any, txs: np.ndarray, pos: dict[str, Any] | None) -> int:
    """Index of the first transaction after the cursor's (height, tx id) in the sorted list."""
    if pos is None or txs.size == 0:
        return 0
    h, t = _int(pos["after"], 0), _int(pos["after"], 1)
    hs = np.asarray(heights[txs])
    return int(np.count_nonzero((hs < h) | ((hs == h) & (txs <= t))))
