"""Analyst overrides: manual merges and splits, kept in the catalog and applied after every run.

Heuristics err (an undetected CoinJoin merges strangers; a missed link splits one wallet), and an
analyst who knows better must be able to say so, with a reason and a name, without losing it at
the next run. Overrides are replayed in the order they were made on top of the union-find result:
- merge A B: the clusters of A and B become one;
- split A...: these addresses leave their clusters and form one cluster of their own; the rest
  of each cluster stays together (split more addresses if the rest should fall apart too).
Cluster ids keep the rule "smallest address id of the cluster" after overrides too.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np

from fundtrail.errors import UsageError
from fundtrail.store import Store
from fundtrail.store.sql import scalar

MERGE, SPLIT = "merge", "split"


@dataclass(frozen=True)
class Override:
    """One analyst decision: `kind` merge or split over `addresses` (ids), with reason and author."""

    override_id: int
    chain: str
    kind: str
    addresses: tuple[int, ...]
    reason: str
    author: str
    created_at: _dt.datetime

    def describe(self) -> str:
        """Evidence text shown by `cluster why`."""
        return f"manual {self.kind} by {self.author}: {self.reason}"


def _check_text(reason: str, author: str) -> None:
    if not reason or not reason.strip():
        raise UsageError("reason is empty: an override needs a reason", field="reason")
    if not author or not author.strip():
        raise UsageError("author is empty: an override needs an author", field="author")


def record(store: Store, chain: str, kind: str, addresses: list[int], reason: str, author: str) -> Override:
    """Store a merge (two addresses) or split (one or more) override; returns it."""
    _check_text(reason, author)
    if kind == MERGE:
        if len(addresses) != 2:
            raise UsageError("merge takes exactly two addresses", field="addresses")
        if addresses[0] == addresses[1]:
            raise UsageError("merge needs two different addresses", field="addresses")
    elif kind == SPLIT:
        if not addresses:
            raise UsageError("split needs at least one address", field="addresses")
        addresses = sorted(set(addresses))
    else:
        raise UsageError(f"unknown override kind {kind!r}; use merge or split", field="kind")
    with store.connect() as con:
        oid = int(scalar(con.execute("SELECT coalesce(max(override_id), -1) + 1 FROM cluster_overrides")))
        now = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
        con.execute("INSERT INTO cluster_overrides VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [oid, chain, kind, addresses, reason.strip(), author.strip(), now])
    return Override(oid, chain, kind, tuple(addresses), reason.strip(), author.strip(), now)


def list_overrides(store: Store, chain: str, upto: int | None = None, con=None) -> list[Override]:
    """Overrides of `chain` in the order they apply (up to override id `upto` when given)."""
    if con is None:
        with store.connect(read_only=True) as c:
            return list_overrides(store, chain, upto, c)
    rows = con.execute("SELECT override_id, chain, kind, addresses, reason, author, created_at "
                       "FROM cluster_overrides WHERE chain = ? AND (? IS NULL OR override_id <= ?) "
                       "ORDER BY override_id", [chain, upto, upto]).fetchall()
    return [Override(r[0], r[1], r[2], tuple(int(a) for a in r[3]), r[4], r[5], r[6]) for r in rows]


def apply(labels: np.ndarray, overrides: list[Override]) -> np.ndarray:
    """Cluster ids after the overrides (a new array; `labels` is left as it is).

    Addresses beyond the array (not yet clustered) are ignored. Each override costs a pass over the
    array: fine for the tens or hundreds an investigation makes.
    """
    out = np.array(labels, dtype=np.int64, copy=True)
    apply_in_place(out, overrides, max(1, out.shape[0]))
    return out


def apply_in_place(out: np.ndarray, overrides: list[Override], step: int) -> None:
    """`apply` into `out` itself (e.g. a memory-mapped file), reading and writing `step` rows at a
    time, so that no temporary is the size of the array."""
    n = out.shape[0]

    def replace(old: int, new: int) -> None:
        for lo in range(0, n, step):
            chunk = out[lo:lo + step]
            chunk[chunk == old] = new

    def first_member(cid: int) -> int | None:
        for lo in range(0, n, step):
            hit = np.flatnonzero(out[lo:lo + step] == cid)
            if hit.size:
                return lo + int(hit[0])
        return None

    for ov in overrides:
        ids = np.array([a for a in ov.addresses if 0 <= a < n], np.int64)
        if ov.kind == MERGE and ids.size == 2:
            la, lb = int(out[ids[0]]), int(out[ids[1]])
            if la != lb:
                replace(max(la, lb), min(la, lb))
        elif ov.kind == SPLIT and ids.size:
            old = np.unique(out[ids])
            out[ids] = -1
            for cid in old.tolist():
                first = first_member(cid)
                if first is not None and first != cid:
                    replace(cid, first)  # the smallest remaining member takes over the id
            out[ids] = ids.min()
