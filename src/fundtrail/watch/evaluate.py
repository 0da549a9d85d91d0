"""The watch evaluator: runs every active rule of a chain on each batch an ingest is about to commit.

It is the Bitcoin ingest's batch hook (`ingest.bitcoin.pipeline.BatchHook`): `on_batch` gets the
decoded tables, computes the alerts and the frontier changes, and returns a function that writes
them inside the batch's catalog transaction; `committed` then keeps the new in-memory state. Items
are loaded at the first batch of an ingest run and again when one is added or removed meanwhile
(one aggregate query per batch tells); the service layer installs an evaluator into a one-off
ingest only when the store has active items, so such an ingest without items pays one catalog
query in all (a `--follow` run always gets one, so that items added while it runs are evaluated).
`on_rollback` retracts the alerts of the dropped blocks and restores the frontiers (journal in
`watch.frontier`), in the rollback's transaction. docs/watch.md describes the rules.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from fundtrail.errors import FundtrailError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store import Store
from fundtrail.watch import alerts as alert_rows
from fundtrail.watch.batch import BatchView, member, sorted_keys, with_keys
from fundtrail.watch.frontier import (KEEP_SPENT_BLOCKS, STOP_PREFIX, Journal, Rows, decode_state, item_policy,
                                      outpoint_key)
from fundtrail.watch import risk_rule
from fundtrail.watch.items import Item, active_items
from fundtrail.watch.rules import Changes, deposits, movements, propagate
from fundtrail.watch.services import Attribution, fingerprint_of, known_fingerprints
from fundtrail.watch.stops import ListedStops

CatalogWrite = Callable[[duckdb.DuckDBPyConnection], None]


def _needs_attribution(item: Item) -> bool:
    return (item.kind in ("category", "frontier") or item.rule == "reaches-service"
            or (item.rule == "deposit" and bool(item.category)))


class WatchEvaluator:
    """The rules of one chain's active items, evaluated batch by batch (module docstring)."""

    def __init__(self, store: Store, chain: str) -> None:
        self.store, self.chain = store, chain
        self.loaded = False
        self.version: tuple[Any, ...] = ()
        self._pending: tuple[Changes, dict[int, list[dict[str, Any]]], dict[int, list[Item]], np.ndarray,
                             dict[str, int]] | None = None
        self._risk: dict[str, tuple[Item, list[int], risk_rule.Where]] = {}  # touched in the pending batch

    # -- loading ------------------------------------------------------------------------------------
    def _version(self) -> tuple[Any, ...]:
        """What changes when an item of the chain is added or removed (one aggregate query)."""
        with self.store.connect(read_only=True) as con:
            row = con.execute("SELECT count(*), max(created_at), max(removed_at) FROM watch_items WHERE chain = ?",
                              [self.chain]).fetchone()
            try:  # an attribution change (watch.reattribute) reloads frontiers and tags too
                seen = con.execute("SELECT max(evaluated_at) FROM watch_attribution WHERE chain = ?",
                                   [self.chain]).fetchone()
            except duckdb.CatalogException:
                seen = None
        return (*(row or ()), *(seen or ()))

    def load(self) -> None:
        """Read the active items and frontiers; resolve targets to ids (at the first batch, after a
        rollback, and when items were added or removed meanwhile: a long `--follow` run). A change of
        attribution the rules have not run on yet (a process killed after committing it) is
        re-evaluated first (`watch.reattribute.catch_up`).

        Millions of small objects are made here (items, frontier rows, their index, the tag map):
        the cyclic garbage collector is paused meanwhile, then they are frozen out of its passes
        (`gc.freeze`). Otherwise its full passes over them were half of the load at 100,000 items
        and 1,000 frontiers, and a 0.3-0.7 s stall in the middle of a later block's evaluation."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            self._load()
        finally:
            if enabled:
                gc.freeze()  # (the objects stay freed by reference counting; only cycles would wait)
                gc.enable()

    def _load(self) -> None:
        from fundtrail.watch.reattribute import catch_up

        catch_up(self.store, self.chain)
        self.version = self._version()
        with self.store.connect(read_only=True) as con:
            items = active_items(con, self.chain)
            rows = con.execute("SELECT f.item_id, f.output, f.state, f.height, f.amount FROM watch_frontier f "
                               "JOIN watch_items w ON w.item_id = f.item_id WHERE w.chain = ? AND w.removed_at IS NULL",
                               [self.chain]).fetchall()
        self.items = {i.item_id: i for i in items}
        self.frontiers: dict[str, Rows] = {i.item_id: {} for i in items if i.kind == "frontier" or
                                           i.rule == "reaches-service"}
        journal: dict[str, list[tuple[int, str]]] = {}
        stops: list[tuple[str, str]] = []  # (item, address) of the saved traces' listed stops
        for item_id, output, state, height, amount in rows:
            if output.startswith(STOP_PREFIX):
                stops.append((item_id, output[len(STOP_PREFIX):]))
            elif item_id in self.frontiers:
                st, spent = decode_state(state)
                if spent is None:
                    self.frontiers[item_id][outpoint_key(output)] = (st, height, None, amount)
                else:
                    journal.setdefault(item_id, []).append((int(spent), output))
        self.journal = Journal(journal)
        self.stops = ListedStops(self.store, self.chain, stops)
        # each item's policy object, decided once from its rows (its states keep their arithmetic)
        self.policies = {k: item_policy(self.items[k].policy or "haircut", r) for k, r in self.frontiers.items()}
        # which items hold each frontier output: a batch then visits only the items it spends from
        self.holders: dict[tuple[bytes, int], set[str]] = {}
        for item_id, item_rows in self.frontiers.items():
            for key in item_rows:
                self.holders.setdefault(key, set()).add(item_id)
        self.by_output: dict[tuple[bytes, int], list[Item]] = {}
        self.by_address: dict[int, list[Item]] = {}
        self.by_fp: dict[tuple[int, int], list[Item]] = {}
        self.fp1s = np.zeros(0, np.uint64)
        self.watched = np.zeros(0, np.int64)  # the keys of by_address, sorted (batch.member)
        self.categories = [i for i in items if i.kind == "category"]
        self.has_risk = any(i.rule == "risk-above" for i in items)
        addresses = [i for i in items if i.kind == "address" and i.rule in ("moved", "deposit", "risk-above")]
        for i in items:
            if i.kind == "output" and i.rule == "moved":
                self.by_output.setdefault(outpoint_key(i.target), []).append(i)
        if addresses:
            self._resolve_addresses(addresses)
        clusters = [i for i in items if i.kind == "cluster"]
        if clusters:
            self._resolve_clusters(clusters)
        self.watched = sorted_keys(np.fromiter(self.by_address, np.int64, len(self.by_address)))
        self.attr = Attribution(self.store, self.chain) if any(_needs_attribution(i) for i in items) else None
        self.loaded = True

    def _resolve_addresses(self, items: list[Item]) -> None:
        net = bitcoin_network_of(self.chain)
        for i in items:
            self.by_fp.setdefault(fingerprint_of(i.target, net), []).append(i)
        self.fp1s = sorted_keys(np.fromiter((k[0] for k in self.by_fp), np.uint64, len(self.by_fp)))
        for aid, fp1, fp2 in known_fingerprints(self.store, self.chain, list(self.by_fp)):
            self.by_address.setdefault(aid, []).extend(self.by_fp[(fp1, fp2)])

    def _resolve_clusters(self, items: list[Item]) -> None:
        from fundtrail.cluster.query import load_clustering

        try:
            cl = load_clustering(self.store, self.chain)
        except FundtrailError:
            return  # the clustering is gone: nothing to match until the next run
        for i in items:
            for aid in cl.members(int(i.target)).tolist():
                self.by_address.setdefault(int(aid), []).append(i)

    # -- the hook -----------------------------------------------------------------------------------
    def on_batch(self, chain: str, tables: dict[str, pa.Table]) -> CatalogWrite | None:
        """Evaluate the batch; the catalog write of its alerts and frontier changes (or None)."""
        if not self.loaded or self._version() != self.version:
            self.load()
        self._pending = None
        if not self.items or tables["transactions"].num_rows == 0:
            return None
        batch = BatchView(tables)
        found = self.attr.observe(tables["addresses"]) if self.attr is not None else {}
        new_watched = self._new_watched_addresses(tables["addresses"])
        by_address, watched = self.by_address, self.watched
        if new_watched:
            by_address = {**by_address}
            for aid, its in new_watched.items():
                by_address[aid] = by_address.get(aid, []) + its
            watched = with_keys(watched, np.fromiter(new_watched, np.int64, len(new_watched)))
        changes = Changes()
        movements(batch, self.by_output, by_address, self.categories, self.attr, found, changes, watched=watched)
        deposits(batch, by_address, self.categories, self.attr, found, changes, watched=watched)
        starts: dict[str, set[int]] = {}  # the batch's spent outputs against the frontiers' index
        for key, tx in batch.spender.items():
            for item_id in self.holders.get(key, ()):
                starts.setdefault(item_id, set()).add(tx)
        self.stops.observe(tables["addresses"])
        for item_id in sorted(starts):
            propagate(batch, self.items[item_id], self.frontiers[item_id], self.attr, found, changes,
                      start=starts[item_id], pol=self.policies[item_id], stops=self.stops.of(item_id))
        pruned = self._prune(changes)
        self._pending = (changes, found, new_watched, watched, pruned)
        self._risk = risk_rule.touched(batch, by_address) if self.has_risk else {}
        if changes.empty():
            return None

        def write(con: duckdb.DuckDBPyConnection) -> None:
            alert_rows.write_many(con, changes.alerts)
            changes.write_frontier(con)

        return write

    def _prune(self, changes: Changes) -> dict[str, int]:
        """The journal rows of the items the batch moved spent more than KEEP_SPENT_BLOCKS below
        it, into `changes.prune`; how many per item (dropped from the journal once committed)."""
        low = changes.low_height()
        if low is None:
            return {}
        changes.prune, counts = self.journal.due(changes.frontier_items(), low - KEEP_SPENT_BLOCKS)
        return counts

    def _new_watched_addresses(self, addresses: pa.Table) -> dict[int, list[Item]]:
        """Watched addresses first seen in this batch (their ids are assigned now)."""
        if not self.by_fp or addresses.num_rows == 0:
            return {}
        fp1 = addresses.column("fp1").to_numpy(zero_copy_only=False)
        fp2 = addresses.column("fp2").to_numpy(zero_copy_only=False)
        ids = addresses.column("address_id").to_numpy(zero_copy_only=False)
        out: dict[int, list[Item]] = {}
        for i in np.flatnonzero(member(fp1, self.fp1s)).tolist():
            its = self.by_fp.get((int(fp1[i]), int(fp2[i])))
            if its:
                out[int(ids[i])] = list(its)
        return out

    def committed(self) -> None:
        """The batch is committed: its new frontiers, addresses and tags become the current ones."""
        if self._pending is None:
            return
        changes, found, new_watched, watched, pruned = self._pending
        self._pending = None
        for item_id, (removed, added) in changes.delta.items():
            rows = self.frontiers.setdefault(item_id, {})
            for key in removed:
                del rows[key]
                holders = self.holders.get(key)
                if holders is not None:
                    holders.discard(item_id)
                    if not holders:
                        del self.holders[key]
            rows.update(added)
            for key in added:
                self.holders.setdefault(key, set()).add(item_id)
        self.journal.commit(pruned, changes.journal)
        self.stops.commit()
        if self.attr is not None:
            self.attr.keep(found)
        for aid, its in new_watched.items():
            self.by_address[aid] = self.by_address.get(aid, []) + its
        self.watched = watched
        touched, self._risk = self._risk, {}
        if touched:
            self._score(touched)

    def _score(self, touched: dict[str, tuple[Item, list[int], risk_rule.Where]]) -> None:
        """`risk-above` for the watched addresses the committed batch touched (scores need the
        committed chain: their alerts and states are written in a transaction of their own)."""
        from fundtrail.trace.graph import GraphIndex

        graph = GraphIndex.ensure(self.store, self.chain)
        targets = {k: (item, risk_rule.addresses_of(item, graph, aids) if item.kind == "cluster" else [item.target],
                       where) for k, (item, aids, where) in touched.items()}
        risk_rule.score_committed(self.store, self.chain, targets, graph=graph)

    def on_rollback(self, chain: str, dropped: list[tuple[int, str]]) -> CatalogWrite | None:
        """Retract the alerts of the dropped blocks and restore the frontiers to the fork point."""
        self.loaded = False  # reloaded from the catalog at the next batch
        self._pending = None
        self._risk = {}
        if not dropped:
            return None
        known = [h for h, _ in dropped if h >= 0]  # a block stored without its height (-1) is not counted
        keep = min(known) - 1 if known else None
        hashes = [x for _, x in dropped]

        def write(con: duckdb.DuckDBPyConnection) -> None:
            alert_rows.retract(con, chain, hashes, {})
            if keep is None:
                return
            rows = con.execute("SELECT f.item_id, f.output, f.state, f.height FROM watch_frontier f JOIN watch_items w "
                               "ON w.item_id = f.item_id WHERE w.chain = ?", [chain]).fetchall()
            from fundtrail.watch.frontier import encode_state

            for item_id, output, state, height in rows:
                st, spent = decode_state(state)
                if height is not None and height > keep:
                    con.execute("DELETE FROM watch_frontier WHERE item_id = ? AND output = ?", [item_id, output])
                elif spent is not None and spent > keep:
                    con.execute("UPDATE watch_frontier SET state = ? WHERE item_id = ? AND output = ?",
                                [encode_state(st), item_id, output])

        return write

