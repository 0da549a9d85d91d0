"""Assess addresses and transactions of one chain: tags + exposure -> score with reasons.

An `Assessor` is built once per chain and profile (graph index, tag map and exposure index loaded
or brought up to date) and then answers single queries and batches; batches compute exposure for
all addresses in one compiled pass. A transaction is scored by the addresses that funded it (its
input addresses: the counterparty of a deposit), its score the highest of theirs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from fundtrail.errors import FundtrailError, NotFoundError
from fundtrail.risk.exposure import ExposureIndex
from fundtrail.risk.profile import Profile
from fundtrail.risk.score import RiskResult, TagEvidence, score_address
from fundtrail.store.lake import Store
from fundtrail.trace.attribution import TagMap
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.report import _Names
from fundtrail.trace.seeds import address_id

_TXID = re.compile(r"^[0-9a-fA-F]{64}$")
#: Members whose exposure makes up a cluster's (bigger clusters say how many were counted).
_CLUSTER_MEMBERS = 1_000_000


@dataclass
class Screened:
    """One screened input: the result, or the one-line error for that input."""

    input: str
    kind: str
    result: RiskResult | None
    error: str | None = None


class Assessor:
    """Risk of addresses and transactions of one UTXO chain under one profile."""

    def __init__(self, store: Store, chain: str, profile: Profile) -> None:
        self.store, self.chain, self.profile = store, chain, profile
        self.graph = GraphIndex.ensure(store, chain)
        self.tagmap = TagMap.load(store, self.graph)
        self.exposure = ExposureIndex.ensure(store, self.graph, profile.exposure_categories,
                                             self.tagmap.category_array(self.graph.n_addresses))
        self.names = _Names(self.graph)

    def _tags(self, address: int, text: str) -> list[TagEvidence]:
        if address >= 0:
            rows = self.tagmap.tags_of(address)
        else:
            rows = _tags_by_text(self.store, text)
        return [TagEvidence(r["category"], r["label"], r.get("source"), r.get("confidence"),
                            r.get("inherited_from")) for r in rows if r.get("category")]

    def _resolve(self, text: str) -> int:
        """Address id, or -1 for a valid address without activity; UsageError if malformed."""
        try:
            return address_id(self.graph, text)
        except NotFoundError:
            return -1

    def addresses(self, texts: list[str]) -> list[RiskResult]:
        """Score addresses (UsageError on the first malformed one)."""
        ids = np.array([self._resolve(t) for t in texts], np.int64)
        exp = self.exposure.of_addresses(ids)
        out = []
        for i, text in enumerate(texts):
            a = int(ids[i])
            row = exp.row(i) if a >= 0 else None
            res = score_address(self.profile, text.strip(), self._tags(a, text), row)
            if row is not None:
                res.exposure["cluster"] = self._cluster_exposure(a)
            out.append(res)
        return out

    def _cluster_exposure(self, address: int) -> dict | None:
        """Exposure of the address's cluster (its members' exposures summed; flows between members
        count as they are), or None when the chain is not clustered or the cluster is the address."""
        cid = self.tagmap.cluster_of(address)
        if cid is None or self.tagmap.labels is None:
            return None
        members = np.flatnonzero(np.asarray(self.tagmap.labels) == cid)
        if members.size <= 1:
            return None
        row = self.exposure.of_addresses(members[:_CLUSTER_MEMBERS]).total().row(0)
        return {"cluster_id": cid, "members": int(members.size),
                "members_counted": int(min(members.size, _CLUSTER_MEMBERS)), **row}

    def transaction(self, txid: str) -> RiskResult:
        """Score a transaction by its funding (input) addresses."""
        tx = self.graph.find_tx(bytes.fromhex(txid)[::-1])
        if tx < 0:
            raise NotFoundError(f"transaction {txid} is not in the store's {self.chain} chain")
        funders = sorted({int(self.graph.out_address[p]) for p in self.graph.inputs_of(tx)
                          if p >= 0 and self.graph.out_address[p] >= 0})
        texts = [self.names.address(a) or "" for a in funders]
        results = self.addresses(texts) if texts else []
        best = max(results, key=lambda r: r.score, default=None)
        res = RiskResult(txid, self.profile.label, best.score if best else 0.0,
                         best.severity if best else None, [], True, None,
                         "coinbase: newly mined coins" if self.graph.is_coinbase(tx) else None)
        for r in results:
            for reason in r.reasons:
                res.reasons.append({**reason, "via_address": r.address})
        res.reasons.sort(key=lambda x: -x["score"])
        return res

    def screen(self, inputs: list[str]) -> list[Screened]:
        """Score many addresses and txids; a bad input gets its own error, the rest go on."""
        out: list[Screened] = []
        addr_pos, addr_texts = [], []
        for text in inputs:
            t = text.strip()
            if _TXID.match(t):
                try:
                    out.append(Screened(t, "transaction", self.transaction(t)))
                except FundtrailError as exc:
                    out.append(Screened(t, "transaction", None, exc.one_line()))
                continue
            try:
                self._resolve(t)
            except FundtrailError as exc:
                out.append(Screened(t, "address", None, exc.one_line()))
                continue
            addr_pos.append(len(out))
            addr_texts.append(t)
            out.append(Screened(t, "address", None))
        for pos, res in zip(addr_pos, self.addresses(addr_texts) if addr_texts else []):
            out[pos].result = res
        return out


def _tags_by_text(store: Store, text: str) -> list[dict]:
    """Tags of an address string (any currency) for addresses without activity in the store."""
    from fundtrail.tags.lookup import has_tags, tags_of

    with store.connect(read_only=True) as con:
        return tags_of(con, text.strip()) if has_tags(con) else []
