"""Service operations on clusters: show (by cluster id or member address), members, why, run,
analyst overrides, runs.

The current clustering of a chain (newest completed run with today's overrides) is loaded once per
workspace and chain and kept until the store's state for the chain changes (`refresh()`); this
workspace's own runs and overrides drop it at once. Reads never write: a read-only workspace shows
and explains without touching the catalog; runs and overrides need a writable one.

A run's progress callback gets `("clustering", done, total)` in transactions, and one-line notes
(the service tags read for the false-merge guard, the members matched to them) as
`(note, 0, 0)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any
from contextlib import contextmanager

import numpy as np

from fundtrail.cluster import explain, overrides, query, runs
from fundtrail.cluster.engine import check_params, parse_heuristics, run_clustering
from fundtrail.cluster.snapshot import Snapshot, open_snapshot
from fundtrail.errors import FundtrailError, UsageError
from fundtrail.watch.reattribute import reattribute, watched_chains
from fundtrail.workspace.cluster_models import (
    ClusterMember,
    ClusterMembersPage,
    ClusterOverrideRequest,
    ClusterOverrideResult,
    ClusterOverridesResult,
    ClusterResult,
    ClusterRun,
    ClusterRunRequest,
    ClusterRunResult,
    ClusterRunsResult,
    ClusterWhyResult,
)
from fundtrail.workspace.cluster_tags import service_labels, tags_of_cluster
from fundtrail.workspace.cluster_totals import utxo_totals
from fundtrail.workspace import lookup_utxo
from fundtrail.workspace.lookup_base import LookupBase
from fundtrail.workspace.core import (
    ChainRef,
    Progress,
    check_limit,
    decode_cursor,
    encode_cursor,
    no_progress,
)

#: A cluster id is the smallest address id of its members: at most 19 decimal digits (int64). No
#: address of a supported chain is written in digits only, so a ref of digits is a cluster id.
_MAX_ID_DIGITS = 19


def is_cluster_id(ref: str) -> bool:
    """Whether a cluster reference is a cluster id (decimal digits) rather than an address."""
    text = ref.strip()
    return text.isascii() and text.isdigit() and len(text) <= _MAX_ID_DIGITS


#: Most address ids whose texts are made from the graph index (beyond: one join over the lake).
INDEX_TEXTS_MAX = 5_000

class ClusterOps(LookupBase):
    """Clusters: what an address belongs to, why, and the runs and overrides that made it so."""

    # -- reads ------------------------------------------------------------------------------
    def cluster(self, ref: str, *, chain: str | None = None) -> ClusterResult:
        """A cluster by id or by a member address (as `cluster show --json`)."""
        ch = self.chain(chain, what="cluster show")
        with self._snapshot(ch) as snap:
            return self._cluster_in(ch, snap, ref)

    def cluster_members(self, ref: str, *, chain: str | None = None, limit: int = 100,
                        cursor: str | None = None) -> ClusterMembersPage:
        """The member addresses of a cluster (by id or a member address), in address-id order,
        `limit` (1..1000) at a time; pass `next_cursor` back as `cursor` for the next page."""
        check_limit(limit, maximum=1000)
        ch = self.chain(chain, what="cluster members")
        with self._snapshot(ch) as snap:
            return self._members_in(ch, snap, ref, limit, cursor, field="ref")

    def cluster_with_members(self, ref: str, *, chain: str | None = None, limit: int = 100,
                             cursor: str | None = None) -> tuple[ClusterResult, ClusterMembersPage]:
        """`cluster` and `cluster_members` of the same cluster read from one snapshot (the
        workbench's cluster page shows both; opening a snapshot costs ~15 ms)."""
        check_limit(limit, maximum=1000)
        ch = self.chain(chain, what="cluster show")
        with self._snapshot(ch) as snap:
            return (self._cluster_in(ch, snap, ref),
                    self._members_in(ch, snap, ref, limit, cursor, field="address"))

    def _cluster_in(self, ch: ChainRef, snap: Snapshot, ref: str) -> ClusterResult:
        fast = None
        if ch.family == "utxo":  # totals from the graph index (the lake's joins took ~70 ms)
            fast = functools.partial(utxo_totals, self.graph_index(ch.name))
        texts = self._texts(ch, snap)
        cl = self._clustering(ch.name)
        if is_cluster_id(ref):
            cid = query.cluster_root(snap, cl, int(ref.strip()))
            r = query.show_member(self.store, snap, cid, cl, totals_of=fast, texts_of=texts)
        else:
            aid = _address_id(snap, ref, "address")
            r = query.show_member(self.store, snap, aid, cl, ref, totals_of=fast, texts_of=texts)
        r.update(query.amount_units(snap.chain, snap.family))
        r.update(tags_of_cluster(self.store, snap, cl, r["address"], r["cluster_id"], texts_of=texts))
        return ClusterResult.model_validate(r)

    def _members_in(self, ch: ChainRef, snap: Snapshot, ref: str, limit: int, cursor: str | None, *,
                    field: str) -> ClusterMembersPage:
        pos = decode_cursor(cursor, ("after",))
        if pos is not None and not isinstance(pos["after"], int):
            raise UsageError("cursor is not a cursor this listing returned", field="cursor")
        cl = self._clustering(ch.name)
        if is_cluster_id(ref):
            cid = query.cluster_root(snap, cl, int(ref.strip()))
        else:
            cid = cl.cluster_of(_address_id(snap, ref, field))
        members = cl.members(cid)
        start = 0 if pos is None else int(np.searchsorted(members, pos["after"], side="right"))
        ids = members[start:start + limit]
        texts = self._texts(ch, snap)(ids)
        more = start + limit < members.size
        return ClusterMembersPage(
            chain=ch.name, cluster_id=cid, size=int(members.size), limit=limit,
            members=[ClusterMember(address_id=int(i), address=texts.get(int(i), str(int(i)))) for i in ids],
            next_cursor=encode_cursor({"after": int(ids[-1])}) if more and ids.size else None)

    def _texts(self, ch: ChainRef, snap: Snapshot) -> Callable[[Any], dict[int, str]]:
        """Address texts of ids: from the graph index for a few (a lake join costs ~10 ms each
        time), from the lake for many (one join beats a Python loop over tens of thousands)."""
        if ch.family != "utxo":
            return functools.partial(query.address_texts, snap)
        g, network = self.graph_index(ch.name), self.network(ch.name)

        def texts(ids: Any) -> dict[int, str]:
            wanted = [int(i) for i in ids]
            if len(wanted) > INDEX_TEXTS_MAX or (wanted and max(wanted) + 1 >= int(g.addr_ptr.shape[0])):
                return query.address_texts(snap, wanted)
            return {i: lookup_utxo.address_text(g, network, i) for i in wanted}

        return texts

    def cluster_why(self, a: str, b: str, *, chain: str | None = None) -> ClusterWhyResult:
        """The evidence chain linking two addresses, or that they are not linked (`cluster why`)."""
        ch = self.chain(chain, what="cluster why")
        with self._snapshot(ch) as snap:
            _address_id(snap, a, "a")
            _address_id(snap, b, "b")
            r = explain.why(self.store, snap, a, b, self._clustering(ch.name))
        return ClusterWhyResult.model_validate(r)

    def cluster_overrides(self, *, chain: str | None = None) -> ClusterOverridesResult:
        """Analyst overrides of a chain in the order they apply."""
        ch = self.chain(chain, what="cluster overrides")
        with self.store.connect(read_only=True) as con:
            ovs = overrides.list_overrides(self.store, ch.name, con=con)
        with self._snapshot(ch) as snap:
            texts = query.address_texts(snap, [a for ov in ovs for a in ov.addresses])
        return ClusterOverridesResult([_override(ov, [texts.get(a, str(a)) for a in ov.addresses]) for ov in ovs])

    def cluster_runs(self, *, chain: str | None = None, limit: int = 20) -> ClusterRunsResult:
        """Recent clustering runs, newest first (of every chain unless `chain` is given)."""
        check_limit(limit, maximum=1000)
        name = self.chain(chain, what="cluster runs").name if chain is not None else None
        return ClusterRunsResult([ClusterRun.model_validate(r.to_json())
                                  for r in runs.list_runs(self.store, name, limit)])

    # -- writes -----------------------------------------------------------------------------
    def cluster_run(self, req: ClusterRunRequest, progress: Progress = no_progress) -> ClusterRunResult:
        """Cluster a chain (incrementally when possible) and commit the run (a job; see the module
        docstring for its progress)."""
        self.require_writable("a clustering run")
        ch = self.chain(req.chain, what="cluster run")
        names = parse_heuristics(h for h in req.heuristics if h.strip())
        names = check_params(ch.family, names, req.change_floor, req.coinjoin_floor)[0]
        hot: list[int] = []
        if req.hot_wallets:
            with self._snapshot(ch) as snap:
                hot = [_address_id(snap, a, "hot_wallets") for a in req.hot_wallets]

        def say(text: str) -> None:
            progress(text, 0, 0)

        services = service_labels(self.store, ch.name, say)
        say(f"clustering {ch.name} with {', '.join(names)}")
        try:
            summary = run_clustering(self.store, ch.name, heuristics=names, change_floor=req.change_floor,
                                     coinjoin_floor=req.coinjoin_floor, full=req.full, hot_wallets=hot,
                                     service_labels=services, memory_limit=self.settings.memory_limit_bytes,
                                     progress=lambda done, total: progress("clustering", done, total))
        finally:
            self._forget_clustering(ch.name)
        if ch.name in watched_chains(self.store):  # watch rules run again on the new clusters (docs/watch.md)
            say("re-evaluating watch rules on the new clustering")
            reattribute(self.store, ch.name, {"kind": "cluster run", "run_id": summary.run_id})
        return ClusterRunResult.model_validate(summary.to_json())

    def cluster_override(self, req: ClusterOverrideRequest) -> ClusterOverrideResult:
        """Record an analyst's merge or split (kept across runs, in force at once)."""
        self.require_writable("an override")
        ch = self.chain(req.chain, what=f"cluster {req.kind}")
        with self._snapshot(ch) as snap:
            ids = [_address_id(snap, a, "addresses") for a in req.addresses]
        author = req.author if req.author is not None else self.actor.user
        ov = overrides.record(self.store, ch.name, req.kind, ids, req.reason, author)
        self._forget_clustering(ch.name)
        if ch.name in watched_chains(self.store):  # in force at once: the watch rules run again too
            reattribute(self.store, ch.name, {"kind": f"cluster {req.kind}", "override_id": ov.override_id})
        return _override(ov, [a.strip() for a in req.addresses])

    # -- helpers ----------------------------------------------------------------------------
    @contextmanager
    def _snapshot(self, ch: ChainRef) -> Iterator[Snapshot]:
        with open_snapshot(self.store, ch.name) as snap:
            yield snap

    def _clustering(self, chain: str) -> query.Clustering:
        return self.cached(("clustering", chain), lambda: query.load_clustering(self.store, chain), chain=chain)

    def _forget_clustering(self, chain: str) -> None:
        """Drop the cached clustering of `chain` after this workspace changed it."""
        self.forget(("clustering", chain))


def _address_id(snap: Snapshot, text: str, field: str) -> int:
    """The id of a stored address, errors naming the request field."""
    try:
        return query.address_id(snap, text)
    except FundtrailError as exc:
        if exc.field is None:
            exc.field = field
        raise


def _override(ov: overrides.Override, texts: list[str]) -> ClusterOverrideResult:
    return ClusterOverrideResult(override_id=ov.override_id, chain=ov.chain, kind=ov.kind,
                                 address_ids=list(ov.addresses), addresses=texts or None, reason=ov.reason,
                                 author=ov.author, created_at=ov.created_at.isoformat())
