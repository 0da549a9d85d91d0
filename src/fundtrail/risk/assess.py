"""Assess addresses and transactions of one chain: tags + exposure -> score with reasons.

An `Assessor` is built once per chain and profile (graph index, tag map and exposure index loaded
or brought up to date, each a named step the caller can show progress for) and then answers single
queries and batches; batches compute exposure for all addresses in one compiled pass.

A transaction is scored by both sides: its funding side (the addresses of the outputs it spends:
the counterparty of a deposit) and its paying side (the addresses it pays: the counterparty of a
withdrawal; an output back to a funding address is change and counted there). Its score is the
highest of all of them; every reason names its side, address and, when paying, the output. Inputs
whose spent output is not in the store are counted (`inputs_unresolved`) and said in a note, so an
unassessed funding side never reads as clean.
"""

from __future__ import annotations

import contextlib
from collections.abc import Container, Callable
from dataclasses import dataclass

import numpy as np

from fundtrail.errors import NotFoundError
from fundtrail.risk.exposure import ExposureIndex
from fundtrail.risk.profile import Profile
from fundtrail.risk.score import RiskResult, TagEvidence, score_address
from fundtrail.risk.tagsonly import text_tags
from fundtrail.store.lake import Store
from fundtrail.trace.attribution import TagMap, chain_currency
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.report import Names
from fundtrail.trace.seeds import address_id

#: Members whose exposure makes up a cluster's (bigger clusters say how many were counted).
_CLUSTER_MEMBERS = 1_000_000
#: A named step of building an assessor (index update, tag resolution, exposure): the caller's
#: context manager, e.g. a progress line for steps that take long.
Step = Callable[[str], contextlib.AbstractContextManager[None]]


def no_step(label: str) -> contextlib.AbstractContextManager[None]:
    """The silent `Step`."""
    return contextlib.nullcontext()


@dataclass
class Screened:
    """One screened input: the result, or the one-line error for that input."""

    input: str
    kind: str
    result: RiskResult | None
    error: str | None = None


def side_reasons(result: RiskResult, side: str, **extra: object) -> list[dict]:
    """`result`'s reasons marked with the transaction side and the address they came from."""
    return [{**r, "side": side, "via_address": result.address, **extra} for r in result.reasons]


def unresolved_note(unresolved: int, total: int) -> str | None:
    """The line that says the funding side was not (fully) assessed, or None."""
    if unresolved <= 0:
        return None
    how = "could not be assessed" if unresolved >= total else "could only partly be assessed"
    return f"{unresolved} of {total} inputs unresolved: the funding side {how}"


class Assessor:
    """Risk of addresses and transactions of one UTXO chain under one profile."""

    def __init__(self, store: Store, chain: str, profile: Profile, step: Step = no_step, *,
                 graph: GraphIndex | None = None, tagmap: TagMap | None = None,
                 tagged: Container[str] | None = None) -> None:
        """`graph` and `tagmap`: already loaded ones to share (a workspace's caches), else loaded here;
        `tagged`: the set of tagged address texts, to skip the catalog for untagged ones."""
        self.store, self.chain, self.profile = store, chain, profile
        self.tagged = tagged
        self._members: tuple[np.ndarray, np.ndarray] | None = None  # (order, sorted cluster labels)
        self._cluster_rows: dict[int, dict | None] = {}  # cluster id -> its exposure row
        self.currency = chain_currency(chain)
        with step(f"updating the graph index of {chain}"):
            self.graph = graph if graph is not None else GraphIndex.ensure(store, chain)
        with step(f"resolving {self.currency} tags to {chain} addresses"):
            self.tagmap = tagmap if tagmap is not None else TagMap.load(store, self.graph)
        with step(f"updating the exposure index of {chain}"):
            self.exposure = ExposureIndex.ensure(store, self.graph, profile.exposure_categories,
                                                 self.tagmap.category_array(self.graph.n_addresses))
        self.names = Names(self.graph)

    def _tags(self, address: int, by_text: list[TagEvidence]) -> list[TagEvidence]:
        """The chain's tags of an address (direct, then inherited through its cluster), then the
        tags found by its text (`tagsonly.text_tags`); a claim listed by two files of one source once."""
        own = [] if address < 0 else [
            TagEvidence(r["category"], r["label"], r.get("source"), r.get("confidence"), r.get("inherited_from"),
                        self.currency) for r in self.tagmap.tags_of(address) if r.get("category")]
        return list(dict.fromkeys(own + by_text))

    def _resolve(self, text: str) -> int:
        """Address id, or -1 for a valid address without activity; UsageError if malformed."""
        try:
            return address_id(self.graph, text)
        except NotFoundError:
            return -1

    def addresses(self, texts: list[str], *, cluster: bool = True) -> list[RiskResult]:
        """Score addresses (UsageError on the first malformed one); `cluster`: add the exposure of
        each address's cluster."""
        ids = np.array([self._resolve(t) for t in texts], np.int64)
        exp = self.exposure.of_addresses(ids)
        by_text = text_tags(self.store, texts, [bool(a >= 0) for a in ids], self.currency, tagged=self.tagged)
        out = []
        for i, text in enumerate(texts):
            a = int(ids[i])
            row = exp.row(i) if a >= 0 else None
            res = score_address(self.profile, text.strip(), self._tags(a, by_text[i]), row)
            res.currency, res.chain = self.currency, self.chain
            if row is not None:
                res.exposure["cluster"] = self._cluster_exposure(a) if cluster else None
            else:
                res.exposure_reason = f"no activity in the store's {self.chain} chain"
            out.append(res)
        return out

    def _cluster_exposure(self, address: int) -> dict | None:
        """Exposure of the address's cluster (its members' exposures summed; flows between members
        count as they are), or None when the chain is not clustered or the cluster is the address."""
        cid = self.tagmap.cluster_of(address)
        if cid is None or self.tagmap.labels is None:
            return None
        if cid in self._cluster_rows:  # members of one cluster share it: computed once per assessor
            return self._cluster_rows[cid]
        self._cluster_rows[cid] = found = self._cluster_row(cid)
        return found

    def _cluster_row(self, cid: int) -> dict | None:
        """The summed exposure of cluster `cid` (see `_cluster_exposure`)."""
        if self._members is None:  # once: addresses ordered by cluster, so a cluster is one slice
            labels = np.asarray(self.tagmap.labels)
            order = np.argsort(labels, kind="stable")
            self._members = (order, labels[order])
        order, ordered = self._members
        members = order[np.searchsorted(ordered, cid, "left"):np.searchsorted(ordered, cid, "right")]
        if members.size <= 1:
            return None
        row = self.exposure.of_addresses(members[:_CLUSTER_MEMBERS]).total().row(0)
        return {"cluster_id": cid, "members": int(members.size),
                "members_counted": int(min(members.size, _CLUSTER_MEMBERS)), **row}

    def transaction(self, txid: str) -> RiskResult:
        """Score a transaction by its funding and its paying side (module docstring)."""
        g = self.graph
        tx = g.find_tx(bytes.fromhex(txid)[::-1])
        if tx < 0:
            raise NotFoundError(f"transaction {txid} is not in the store's {self.chain} chain")
        coinbase = g.is_coinbase(tx)
        prev = np.asarray(g.inputs_of(tx))
        unresolved = 0 if coinbase else int((prev < 0).sum())
        funders = sorted({int(g.out_address[p]) for p in prev if p >= 0 and g.out_address[p] >= 0})
        paid: dict[int, list[int]] = {}
        for n, o in enumerate(g.outputs_of(tx)):
            a = int(g.out_address[o])
            if a >= 0 and a not in funders:
                paid.setdefault(a, []).append(n)
        payees = list(paid)
        texts = [self.names.address(a) or "" for a in funders + payees]
        results = self.addresses(texts, cluster=False) if texts else []
        fund_res, pay_res = results[:len(funders)], results[len(funders):]
        reasons = [x for r in fund_res for x in side_reasons(r, "funding")]
        for a, r in zip(payees, pay_res):
            reasons.extend(side_reasons(r, "paying", outputs=paid[a]))
        reasons.sort(key=lambda x: -x["score"])
        top = reasons[0] if reasons else None
        notes = [n for n in ("coinbase: newly mined coins (no funding side)" if coinbase else None,
                             unresolved_note(unresolved, len(prev))) if n]
        return RiskResult(
            txid, self.profile.label, top["score"] if top else 0.0, top["severity"] if top else None,
            reasons, True, None, kind="transaction", currency=self.currency,
            chain=self.chain, notes=notes,
            transaction={"coinbase": coinbase, "inputs": 0 if coinbase else len(prev),
                         "inputs_unresolved": unresolved, "funding_addresses": len(funders),
                         "outputs": len(g.outputs_of(tx)), "paying_addresses": len(payees),
                         "funding_score": max((r.score for r in fund_res), default=0.0),
                         "paying_score": max((r.score for r in pay_res), default=0.0)})
