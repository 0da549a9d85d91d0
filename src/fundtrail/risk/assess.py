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
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fundtrail.chains.bitcoin.address import parse_address as parse_btc
from fundtrail.chains.bitcoin.addresskey import address_key, fingerprint
from fundtrail.chains.bitcoin.params import Network
from fundtrail.chains.bitcoin.params import network as btc_network
from fundtrail.errors import FundtrailError, NotFoundError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.risk.exposure import ExposureIndex
from fundtrail.risk.cluster_exposure import member_rows
from fundtrail.risk.members import ClusterMembers
from fundtrail.risk.profile import Profile
from fundtrail.risk.score import RiskResult, TagEvidence, score_address
from fundtrail.risk.tagsonly import text_tags
from fundtrail.store.lake import Store
from fundtrail.store.spill import Spill, default_limit
from fundtrail.trace.attribution import TagMap, chain_currency
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.report import Names
from fundtrail.trace.seeds import address_id

#: Members whose exposure makes up a cluster's (bigger clusters say how many were counted).
_CLUSTER_MEMBERS = 1_000_000
#: Batches up to this size take per-address paths (numpy's cost per call is more than it saves).
_SMALL = 16
#: Members summed per pass when the clusters of a batch are summed (bounds the per-member arrays).
_CHUNK = 65_536
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
                 tagged: Container[str] | None = None, memory_limit: int | None = None) -> None:
        """`graph` and `tagmap`: already loaded ones to share (a workspace's caches), else loaded here;
        `tagged`: the tagged addresses, to skip the catalog for untagged ones (a workspace's `TagRows`:
        no catalog visit at all); `memory_limit`: for building the exposure index (docs/scale.md)."""
        self.store, self.chain, self.profile = store, chain, profile
        self.tagged = tagged
        self.memory_limit = default_limit() if memory_limit is None else memory_limit
        self._finder: ClusterMembers | None = None  # the clusters' members, made on first use
        self._cluster_rows: dict[int, dict | None] = {}  # cluster id -> its exposure row
        self._net: Network | Literal[False] | None = None  # the chain's Bitcoin network (False: none)
        self.currency = chain_currency(chain)
        with step(f"updating the graph index of {chain}"):
            self.graph = graph if graph is not None else GraphIndex.ensure(store, chain)
        with step(f"resolving {self.currency} tags to {chain} addresses"):
            self.tagmap = tagmap if tagmap is not None else TagMap.load(store, self.graph)
        with step(f"updating the exposure index of {chain}"):
            lim = self.memory_limit  # the codes, while the index is keyed: in memory up to an eighth of it
            with Spill(store.root, None if lim is None else lim // 4, "exposure-codes") as sp:
                self.exposure = ExposureIndex.ensure(store, self.graph, profile.exposure_categories,
                                                     self.tagmap.category_codes(self.graph.n_addresses, sp),
                                                     memory_limit=memory_limit)
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

    def _resolve_all(self, texts: list[str]) -> np.ndarray:
        """`_resolve` of every text, the first malformed one raising its error: each text parsed
        once to its fingerprint (no canonical text rendered, which `address_id` adds), then all
        looked up in the index together. A text this lean path cannot parse goes through
        `_resolve`, so errors are the same."""
        n, g = len(texts), self.graph
        keys = np.asarray(g.addr_fp1)
        if self._net is None:
            try:
                self._net = btc_network(bitcoin_network_of(self.chain))
            except FundtrailError:
                self._net = False
        if self._net is False or not keys.shape[0]:
            return np.array([self._resolve(t) for t in texts], np.int64)
        fps: list[tuple[int, int] | None] = []
        for text in texts:
            try:
                stype, payload = parse_btc(text.strip(), self._net)
                fps.append(fingerprint(*address_key(int(stype), payload)))
            except Exception:  # noqa: BLE001 - `_resolve` below gives its error, or its answer
                fps.append(None)
        if n <= _SMALL:  # one address (the address summary): numpy's per-call cost would dominate
            return np.array([self._resolve(t) if fp is None else g.find_address(*fp) for t, fp in zip(texts, fps)],
                            np.int64)
        parsed = np.array([fp is not None for fp in fps], bool)
        fp1 = np.array([fp[0] if fp else 0 for fp in fps], np.uint64)
        fp2 = np.array([fp[1] if fp else 0 for fp in fps], np.uint64)
        lo = np.searchsorted(keys, fp1, "left")
        at = np.minimum(lo, keys.shape[0] - 1)
        first = parsed & (lo < keys.shape[0]) & (keys[at] == fp1)
        hit = first & (np.asarray(g.addr_fp2)[at] == fp2)
        ids = np.where(hit, np.asarray(g.addr_fp_ids)[at], -1).astype(np.int64)
        for i in np.flatnonzero(first & ~hit).tolist():  # fp1 shared by several addresses: scan its run
            ids[i] = g.find_address(int(fp1[i]), int(fp2[i]))
        for i in np.flatnonzero(~parsed).tolist():
            ids[i] = self._resolve(texts[i])
        return ids

    def addresses(self, texts: list[str], *, cluster: bool = True, exposure: bool = True) -> list[RiskResult]:
        """Score addresses (UsageError on the first malformed one); `cluster`: add the exposure of
        each address's cluster; `exposure` False: the results keep score, reasons and flags but not
        the exposure breakdown (a screening row shows none; clusters are then not summed either).
        Exposure, cluster totals and the tag check are done for the whole batch at once; only the
        scoring itself runs per address."""
        ids = self._resolve_all(texts)
        by_text = text_tags(self.store, texts, [bool(a >= 0) for a in ids], self.currency, tagged=self.tagged)
        cids, in_cluster = self._cluster_ids(ids)
        clusters = self._cluster_exposures(cids, in_cluster) if cluster and exposure else None
        # an address neither tagged nor in a tagged cluster has no tags of the chain (most of them)
        by_cluster = self.tagmap.by_cluster
        tagged = self.tagmap.table.has(ids) | (in_cluster & by_cluster.has(cids) if by_cluster is not None else False)
        out = []
        for i, (text, a, has, row) in enumerate(zip(
                texts, ids.tolist(), tagged.tolist(), self.exposure.of_addresses(ids).rows())):
            tags = self._tags(a, by_text[i]) if has or by_text[i] else []
            res = score_address(self.profile, text.strip(), tags, row if a >= 0 else None)
            res.currency, res.chain = self.currency, self.chain
            if a < 0:
                res.exposure_reason = f"no activity in the store's {self.chain} chain"
            elif not exposure:
                res.exposure = None
            else:
                row["cluster"] = clusters[i] if clusters is not None else None
            out.append(res)
        return out

    def _cluster_ids(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per address id: its cluster id, and whether it has one (`TagMap.cluster_of` is None for
        an unclustered chain, no activity, or an address newer than the clustering)."""
        labels = self.tagmap.labels
        if labels is None:
            return np.zeros(ids.shape, np.int64), np.zeros(ids.shape, bool)
        if ids.shape[0] <= _SMALL:
            found = [self.tagmap.cluster_of(a) for a in ids.tolist()]
            return np.array([c or 0 for c in found], np.int64), np.array([c is not None for c in found], bool)
        lab = np.asarray(labels)
        inside = (ids >= 0) & (ids < lab.shape[0])
        return np.where(inside, lab[np.where(inside, ids, 0)], 0).astype(np.int64), inside

    def _cluster_exposures(self, cids: np.ndarray, inside: np.ndarray) -> list[dict | None]:
        """Exposure of each address's cluster (its members' exposures summed; flows between members
        count as they are), or None when the chain is not clustered or the cluster is the address.
        Clusters not seen before by this assessor are summed together in one pass."""
        rows = self._cluster_rows
        new = sorted({c for c, ok in zip(cids.tolist(), inside.tolist()) if ok and c not in rows})
        if new:
            self._sum_clusters(np.array(new, np.int64))
        return [rows[c] if ok else None for c, ok in zip(cids.tolist(), inside.tolist())]

    def prepare(self, min_members: int = 64) -> int:
        """Sum now the exposure of every cluster of at least `min_members` addresses (an
        exchange's cluster can take a quarter second the first time; a server does this before
        its first request), and make the largest clusters' inherited tags (`TagMap.prepare`).
        Returns how many clusters were summed."""
        self.tagmap.prepare()
        members = self._member_finder()
        if members is None:
            return 0
        big = members.clusters_of_size(min_members)
        todo = np.array(sorted(set(big.tolist()) - set(self._cluster_rows)), np.int64)
        if todo.size:
            self._sum_clusters(todo)
        return int(todo.size)

    def _member_finder(self) -> ClusterMembers | None:
        """The clusters' members (an index by cluster when it fits the memory limit, else a scan of
        the labels a range at a time: the same members in the same order); None unclustered."""
        if self._finder is None and self.tagmap.labels is not None:
            self._finder = ClusterMembers(self.tagmap.labels, self.memory_limit)
        return self._finder

    def _sum_clusters(self, cids: np.ndarray) -> None:
        """Sum the exposure of clusters `cids` (sorted, distinct) into `_cluster_rows`: each one's
        first `_CLUSTER_MEMBERS` members by address id, clusters of one address None. Members are
        taken in chunks of about `_CHUNK` (whole clusters), bounding the arrays of a big batch, and
        their rows read in chain order (`cluster_exposure.member_rows`: a cluster's outputs are all
        over the chain, which address by address is a random read of the whole index)."""
        finder = self._member_finder()
        assert finder is not None, "only called for a clustered chain"
        size = finder.sizes(cids)
        for c in cids[size <= 1].tolist():
            self._cluster_rows[c] = None
        multi = size > 1
        cids, size = cids[multi], size[multi]
        counted = np.minimum(size, _CLUSTER_MEMBERS)
        ends = np.cumsum(counted)
        first = 0
        while first < cids.size:  # clusters first..last-1: at most _CHUNK members (or one cluster)
            last = max(int(np.searchsorted(ends, ends[first] - counted[first] + _CHUNK, "right")), first + 1)
            n = counted[first:last]
            offsets = np.cumsum(n) - n
            members = finder.members(cids[first:last], _CLUSTER_MEMBERS)
            totals = list(member_rows(self.exposure, members).segments(offsets, offsets + n).rows())
            for c, k_all, k, row in zip(cids[first:last].tolist(), size[first:last].tolist(), n.tolist(), totals):
                self._cluster_rows[c] = {"cluster_id": c, "members": k_all, "members_counted": k, **row}
            first = last

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

