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

from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from fundtrail.errors import FundtrailError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store import Store
from fundtrail.watch import alerts as alert_rows
from fundtrail.watch.batch import BatchView
from fundtrail.watch.frontier import KEEP_SPENT_BLOCKS, Rows, decode_state, outpoint_key
from fundtrail.watch import risk_rule
from fundtrail.watch.items import Item, active_items
from fundtrail.watch.rules import Changes, deposits, movements, propagate
from fundtrail.watch.services import Attribution

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
        self._pending: tuple[Changes, dict[int, list[dict[str, Any]]], dict[int, list[Item]]] | None = None
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
        re-evaluated first (`watch.reattribute.catch_up`)."""
        from fundtrail.watch.reattribute import catch_up

        catch_up(self.store, self.chain)
        self.version = self._version()
        with self.store.connect(read_only=True) as con:
            items = active_items(con, self.chain)
            rows = con.execute("SELECT f.item_id, f.output, f.state, f.height FROM watch_frontier f JOIN watch_items w "
                               "ON w.item_id = f.item_id WHERE w.chain = ? AND w.removed_at IS NULL",
                               [self.chain]).fetchall()
        self.items = {i.item_id: i for i in items}
        self.frontiers: dict[str, Rows] = {i.item_id: {} for i in items if i.kind == "frontier" or
                                           i.rule == "reaches-service"}
        for item_id, output, state, height in rows:
            if item_id in self.frontiers:
                st, spent = decode_state(state)
                if spent is None:
                    self.frontiers[item_id][outpoint_key(output)] = (st, height, None)
        # which items hold each frontier output: a batch then visits only the items it spends from
        self.holders: dict[tuple[bytes, int], set[str]] = {}
        for item_id, item_rows in self.frontiers.items():
            for key in item_rows:
                self.holders.setdefault(key, set()).add(item_id)
        self.by_output: dict[tuple[bytes, int], list[Item]] = {}
        self.by_address: dict[int, list[Item]] = {}
        self.by_fp: dict[tuple[int, int], list[Item]] = {}
        self.fp1s = np.zeros(0, np.uint64)
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
        self.attr = Attribution(self.store, self.chain) if any(_needs_attribution(i) for i in items) else None
        self.loaded = True

    def _resolve_addresses(self, items: list[Item]) -> None:
        from fundtrail.chains.resolve import parse_utxo_address

        net = bitcoin_network_of(self.chain)
        for i in items:
            a = parse_utxo_address(i.target, net)
            self.by_fp.setdefault((a.fp1, a.fp2), []).append(i)
        self.fp1s = np.fromiter((k[0] for k in self.by_fp), np.uint64, len(self.by_fp))
        keys = pa.table({"fp1": pa.array([k[0] for k in self.by_fp], pa.uint64()),
                         "fp2": pa.array([k[1] for k in self.by_fp], pa.uint64())})
        view = f"{self.chain.replace('-', '_')}_addresses"
        with self.store.query() as con:
            con.register("_watched_fp", keys)
            try:
                found = con.execute(f"SELECT a.address_id, a.fp1, a.fp2 FROM {view} a JOIN _watched_fp k "
                                    "ON a.fp1 = k.fp1 AND a.fp2 = k.fp2").fetchall()
            finally:
                con.unregister("_watched_fp")
        for aid, fp1, fp2 in found:
            self.by_address.setdefault(int(aid), []).extend(self.by_fp[(int(fp1), int(fp2))])

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
        by_address = self.by_address
        if new_watched:
            by_address = {**by_address}
            for aid, its in new_watched.items():
                by_address[aid] = by_address.get(aid, []) + its
        changes = Changes()
        movements(batch, self.by_output, by_address, self.categories, self.attr, found, changes)
        deposits(batch, by_address, self.categories, self.attr, found, changes)
        hit: set[str] = set()
        for key in batch.spender:  # the batch's spent outputs against the frontiers' index
            hit |= self.holders.get(key, set())
        for item_id in sorted(hit):
            propagate(batch, self.items[item_id], self.frontiers[item_id], self.attr, found, changes)
        self._pending = (changes, found, new_watched)
        self._risk = _risk_touched(batch, by_address) if self.has_risk else {}
        if changes.empty():
            return None
        def write(con: duckdb.DuckDBPyConnection) -> None:
            alert_rows.write_many(con, changes.alerts)
            changes.write_frontier(con)
            low = changes.low_height()
            if low is not None and changes.frontier_items():  # one statement for every item the batch moved
                con.execute("DELETE FROM watch_frontier WHERE list_contains(?, item_id) AND state LIKE '%\"spent\":%' "
                            "AND state NOT LIKE '%\"spent\":null%' "
                            "AND CAST(json_extract_string(state, '$.spent') AS BIGINT) < ?",
                            [changes.frontier_items(), low - KEEP_SPENT_BLOCKS])

        return write

    def _new_watched_addresses(self, addresses: pa.Table) -> dict[int, list[Item]]:
        """Watched addresses first seen in this batch (their ids are assigned now)."""
        if not self.by_fp or addresses.num_rows == 0:
            return {}
        fp1 = addresses.column("fp1").to_numpy(zero_copy_only=False)
        fp2 = addresses.column("fp2").to_numpy(zero_copy_only=False)
        ids = addresses.column("address_id").to_numpy(zero_copy_only=False)
        out: dict[int, list[Item]] = {}
        for i in np.flatnonzero(np.isin(fp1, self.fp1s)).tolist():
            its = self.by_fp.get((int(fp1[i]), int(fp2[i])))
            if its:
                out[int(ids[i])] = list(its)
        return out

    def committed(self) -> None:
        """The batch is committed: its new frontiers, addresses and tags become the current ones."""
        if self._pending is None:
            return
        changes, found, new_watched = self._pending
        self._pending = None
        for item_id, rows in changes.live.items():
            for key in self.frontiers.get(item_id, {}):
                holders = self.holders.get(key)
                if holders is not None:
                    holders.discard(item_id)
                    if not holders:
                        del self.holders[key]
            self.frontiers[item_id] = rows
            for key in rows:
                self.holders.setdefault(key, set()).add(item_id)
        if self.attr is not None:
            self.attr.keep(found)
        for aid, its in new_watched.items():
            self.by_address[aid] = self.by_address.get(aid, []) + its
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
        alerts, rows = risk_rule.evaluate(self.store, self.chain, targets, graph=graph)
        if not alerts and not rows:
            return
        with self.store.connect() as con:
            con.execute("BEGIN")
            for alert in alerts:
                alert_rows.write(con, alert)
            risk_rule.write_rows(con, rows)
            con.execute("COMMIT")

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


def _risk_touched(batch: BatchView, by_address: dict[int, list[Item]]) -> dict[str, tuple[Item, list[int],
                                                                                         risk_rule.Where]]:
    """risk-above items whose addresses the batch pays or spends from: (item, address ids, the
    last transaction touching them)."""
    risky = {a: [i for i in its if i.rule == "risk-above"] for a, its in by_address.items()}
    risky = {a: its for a, its in risky.items() if its}
    if not risky:
        return {}
    watched = np.fromiter(risky, np.int64, len(risky))
    last: dict[int, int] = {}
    for addr, txs in ((batch.in_address, batch.in_tx), (batch.out_address, batch.out_tx)):
        for k in np.flatnonzero(np.isin(addr, watched)).tolist():
            a, tx = int(addr[k]), int(txs[k])
            last[a] = max(last.get(a, tx), tx)
    aids: dict[str, list[int]] = {}
    at: dict[str, int] = {}
    items: dict[str, Item] = {}
    for a, tx in last.items():
        for item in risky[a]:
            items[item.item_id] = item
            aids.setdefault(item.item_id, []).append(a)
            at[item.item_id] = max(at.get(item.item_id, tx), tx)
    out: dict[str, tuple[Item, list[int], risk_rule.Where]] = {}
    for item_id, item in items.items():
        height, block_hash, when = batch.block_of(at[item_id])
        out[item_id] = (item, aids[item_id], risk_rule.Where(height, block_hash, batch.txid_hex(at[item_id]), when))
    return out


def evaluator_factory(store: Store, chain: str) -> WatchEvaluator | None:
    """The `HookFactory` the service layer hands to ingest: an evaluator for Bitcoin-family chains."""
    try:
        bitcoin_network_of(chain)
    except FundtrailError:
        return None
    return WatchEvaluator(store, chain)
