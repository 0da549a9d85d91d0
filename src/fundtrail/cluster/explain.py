"""`why`: the chain of evidence that puts two addresses in one cluster.

The graph searched is the stored evidence forest of the current clustering (one edge per union
that joined two sets, each naming its transaction and heuristic) plus the analyst's merges (and
the grouping of each split), restricted to the members of the cluster. Breadth-first search gives
the path with the fewest steps in that graph. Without overrides the graph is a forest, so the path
is the unique forest path: every step is real evidence, but a shorter chain may exist through
co-spends that were not stored because their addresses were already joined.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa

from fundtrail.cluster import runs
from fundtrail.cluster.overrides import MERGE, SPLIT
from fundtrail.cluster.query import (
    Clustering,
    address_id,
    address_texts,
    load_clustering,
)
from fundtrail.cluster.snapshot import Snapshot
from fundtrail.store import Store
from fundtrail.store.txhash import tx_hash_text

PATH_NOTE = ("fewest steps in the stored evidence forest plus analyst overrides; the forest keeps one "
             "transaction per union, so a shorter chain over all co-spends may exist")


@numba.njit(cache=True)
def _bfs_from(indptr: np.ndarray, nbr: np.ndarray, edge: np.ndarray, src: int, via: np.ndarray,
              prev: np.ndarray) -> None:
    """Breadth-first search of the whole component of `src`: `prev`/`via` of every node reached
    (one search serves every address paired with `src`)."""
    queue = np.empty(indptr.shape[0] - 1, np.int64)
    seen = np.zeros(indptr.shape[0] - 1, np.bool_)
    head, tail = 0, 1
    queue[0] = src
    seen[src] = True
    while head < tail:
        x = queue[head]
        head += 1
        for k in range(indptr[x], indptr[x + 1]):
            y = nbr[k]
            if not seen[y]:
                seen[y] = True
                prev[y] = x
                via[y] = edge[k]
                queue[tail] = y
                tail += 1


def _evidence(store: Store, cl: Clustering, members: np.ndarray, con) -> pa.Table:
    files = runs.forest_files(store, runs.lineage(store, cl.run))
    con.register("_cluster", pa.table({"address_id": pa.array(members, pa.int64())}))
    try:  # paths as a parameter: a store path may hold any character, a quote included
        return con.sql("""SELECT e.a, e.b, e.txid, e.heuristic::VARCHAR AS heuristic, e.confidence
                          FROM read_parquet($1) e
                          WHERE e.a IN (SELECT address_id FROM _cluster)
                            AND e.b IN (SELECT address_id FROM _cluster)""",
                       params=[[p.as_posix() for p in files]]).to_arrow_table()
    finally:
        con.unregister("_cluster")


class EvidenceGraph:
    """One cluster's evidence graph (stored forest edges plus analyst overrides), indexed for
    breadth-first search; the searches from one address are kept, so many pairs cost one each."""

    def __init__(self, store: Store, snap: Snapshot, cl: Clustering, members: np.ndarray) -> None:
        ev = _evidence(store, cl, members, snap.con)
        src = list(ev.column("a").to_numpy())
        dst = list(ev.column("b").to_numpy())
        self.txids: list[str | None] = [
            None if t is None else tx_hash_text(t, chain=snap.chain, network=snap.network)
            if snap.family == "account" else t[::-1].hex()
            for t in ev.column("txid").to_pylist()]
        self.heur: list[str] = ev.column("heuristic").to_pylist()
        self.conf = [round(float(c), 6) for c in ev.column("confidence").to_pylist()]
        self.reasons: list[str | None] = [None] * len(src)
        member_set = set(members.tolist())
        for ov in cl.overrides:
            ids = [x for x in ov.addresses if x in member_set]
            if ov.kind == MERGE and len(ids) == 2:
                pairs = [(ids[0], ids[1])]
            elif ov.kind == SPLIT and len(ids) == len(ov.addresses) and len(ids) > 1:
                pairs = [(ids[0], x) for x in ids[1:]]
            else:
                continue
            for x, y in pairs:
                src.append(x)
                dst.append(y)
                self.txids.append(None)
                self.heur.append(f"manual_{ov.kind}")
                self.conf.append(1.0)
                self.reasons.append(ov.describe())
        self.members = members
        local_a = np.searchsorted(members, np.asarray(src, np.int64))
        local_b = np.searchsorted(members, np.asarray(dst, np.int64))
        ends = np.concatenate([local_a, local_b]).astype(np.int64)
        others = np.concatenate([local_b, local_a])
        edge_ids = np.concatenate([np.arange(len(src)), np.arange(len(src))]).astype(np.int64)
        order = np.argsort(ends, kind="stable")
        self.indptr = np.zeros(members.size + 1, np.int64)
        self.indptr[1:] = np.cumsum(np.bincount(ends, minlength=members.size))
        self.nbr, self.edge = others[order].astype(np.int64), edge_ids[order]
        self._searched: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def path(self, a: int, b: int) -> list[tuple[int, int, int]] | None:
        """(from id, to id, edge) of each step of the shortest path from `a` to `b`; None if none."""
        la, lb = int(np.searchsorted(self.members, a)), int(np.searchsorted(self.members, b))
        if la not in self._searched:
            via, prev = np.full(self.members.size, -1, np.int64), np.full(self.members.size, -1, np.int64)
            _bfs_from(self.indptr, self.nbr, self.edge, la, via, prev)
            self._searched[la] = (via, prev)
        via, prev = self._searched[la]
        if la != lb and prev[lb] < 0:
            return None
        nodes, edges = [lb], []
        while nodes[-1] != la:
            edges.append(int(via[nodes[-1]]))
            nodes.append(int(prev[nodes[-1]]))
        nodes.reverse()
        edges.reverse()
        return [(int(self.members[nodes[i]]), int(self.members[nodes[i + 1]]), e) for i, e in enumerate(edges)]

    def step(self, x: str | None, y: str | None, e: int) -> dict:
        """One step of `cluster why`'s JSON: the two addresses and the evidence edge joining them."""
        out: dict = {"from": x, "to": y, "txid": self.txids[e], "heuristic": self.heur[e], "confidence": self.conf[e]}
        if self.reasons[e]:
            out["reason"] = self.reasons[e]
        return out


def why(store: Store, snap: Snapshot, text_a: str, text_b: str, cl: Clustering | None = None) -> dict:
    """Explain whether and how two addresses are linked (see the module docstring for the search);
    `cl` is the chain's current clustering when the caller holds it (loaded otherwise)."""
    a, b = address_id(snap, text_a), address_id(snap, text_b)
    cl = cl if cl is not None else load_clustering(store, snap.chain)
    ca, cb = cl.cluster_of(a), cl.cluster_of(b)
    names = address_texts(snap, [a, b])
    out = {"chain": snap.chain, "from": names.get(a), "to": names.get(b), "from_cluster": ca,
           "to_cluster": cb, "run_id": cl.run.run_id}
    if ca != cb:
        return {**out, "linked": False, "steps": [],
                "answer": f"not linked: {names.get(a)} is in cluster {ca} ({cl.members(ca).size} addresses), "
                          f"{names.get(b)} in cluster {cb} ({cl.members(cb).size} addresses)"}
    if a == b:
        return {**out, "linked": True, "steps": [], "answer": "the same address", "note": PATH_NOTE}
    graph = EvidenceGraph(store, snap, cl, cl.members(ca))
    path = graph.path(a, b)
    if path is None:
        return {**out, "linked": True, "steps": [],
                "answer": "in one cluster, but no evidence path inside it: the link went through "
                          "addresses taken out by a split override", "note": PATH_NOTE}
    texts = address_texts(snap, sorted({i for x, y, _ in path for i in (x, y)}))
    steps = [graph.step(texts.get(x), texts.get(y), e) for x, y, e in path]
    return {**out, "linked": True, "steps": steps,
            "answer": f"linked in cluster {ca} through {len(steps)} step(s)", "note": PATH_NOTE}
