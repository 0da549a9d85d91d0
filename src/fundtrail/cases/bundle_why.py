"""`cluster why` for many address pairs at once: the clustering evidence of a bundle's inherited tags.

A traced exchange deposit address often inherits its tag from dozens of tagged members of its
cluster, and a bundle needs the evidence path of every such (address, member) pair: hundreds of
pairs, each a `fundtrail cluster why` costing a snapshot, two address look-ups and a read of the
evidence forest. Here one snapshot and one clustering serve a chain, the addresses are resolved in
one join, and each cluster's evidence graph (forest edges plus analyst overrides, exactly as
`cluster.explain.why` builds it) is read and indexed once; one breadth-first search per (cluster,
address) serves every tagged member that address is paired with. The paths are `explain.why`'s: the
same `EvidenceGraph`, the same search, the same steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from fundtrail.chains.resolve import parse_utxo_address
from fundtrail.cluster.explain import EvidenceGraph
from fundtrail.cluster.query import address_texts, load_clustering
from fundtrail.cluster.snapshot import Snapshot, open_snapshot
from fundtrail.errors import FundtrailError
from fundtrail.store import Store

Pair = tuple[str, str]


def _ids(snap: Snapshot, texts: Iterable[str]) -> dict[str, int]:
    """Address id of each UTXO address text the chain holds (one join over the fingerprints)."""
    fps: dict[tuple[int, int], str] = {}
    for text in texts:
        try:
            addr = parse_utxo_address(text, snap.network)
        except FundtrailError:
            continue
        fps[(int(addr.fp1), int(addr.fp2))] = text
    if not fps:
        return {}
    keys = list(fps)
    snap.con.register("_why_fp", pa.table({"fp1": pa.array([k[0] for k in keys], pa.uint64()),
                                           "fp2": pa.array([k[1] for k in keys], pa.uint64())}))
    try:
        rows = snap.con.execute(f"SELECT a.address_id, a.fp1, a.fp2 FROM {snap.prefix}_addresses a "
                                "JOIN _why_fp w ON a.fp1 = w.fp1 AND a.fp2 = w.fp2").fetchall()
    finally:
        snap.con.unregister("_why_fp")
    return {fps[(int(f1), int(f2))]: int(i) for i, f1, f2 in rows}


def why_many(store: Store, chain: str, pairs: list[Pair]) -> dict[Pair, dict[str, Any]]:
    """`cluster why A B` (its JSON: from, to, from_cluster, to_cluster, run_id, linked, steps) of
    every pair of UTXO chain `chain`; a pair whose address the chain lacks gets `linked` false."""
    if not pairs:
        return {}
    cl = load_clustering(store, chain)
    out: dict[Pair, dict[str, Any]] = {}
    with open_snapshot(store, chain) as snap:
        ids = _ids(snap, {t for p in pairs for t in p})
        graphs: dict[int, EvidenceGraph] = {}
        paths: dict[Pair, list[tuple[int, int, int]] | None] = {}
        for a, b in pairs:
            ia, ib = ids.get(a), ids.get(b)
            ca = cl.cluster_of(ia) if ia is not None else None
            cb = cl.cluster_of(ib) if ib is not None else None
            out[(a, b)] = {"chain": chain, "from": a, "to": b, "from_cluster": ca, "to_cluster": cb,
                           "run_id": cl.run.run_id, "linked": ca is not None and ca == cb, "steps": []}
            if ia is None or ib is None or ca is None or ca != cb or ia == ib:
                continue
            if ca not in graphs:
                graphs[ca] = EvidenceGraph(store, snap, cl, cl.members(ca))
            paths[(a, b)] = graphs[ca].path(ia, ib)
        wanted = {i for path in paths.values() for x, y, _ in path or [] for i in (x, y)}
        texts = address_texts(snap, sorted(wanted))
    for (a, b), path in paths.items():
        graph = graphs[out[(a, b)]["from_cluster"]]
        out[(a, b)]["steps"] = [graph.step(texts.get(x), texts.get(y), e) for x, y, e in path or []]
    return out
