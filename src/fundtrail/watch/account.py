"""The watch evaluator of account chains (EVM, TRON): the rules on every batch an ingest commits.

The account-chain twin of `watch.evaluate.WatchEvaluator`, behind the same hook protocol
(`ingest.hooks.BatchHook`): `on_batch` computes the alerts and ledger rows of a batch and returns
the write that runs inside its catalog transaction; `committed` keeps the new frontiers;
`on_rollback` retracts the alerts of the dropped blocks and deletes the ledger rows above the fork.
Items are (re)loaded at the first batch and whenever one is added or removed (one aggregate query
per batch). Attribution is the tags' direct attribution, as account traces stop on (a deposit
address joining an exchange's cluster does not stop a trace on an account chain: see
`trace.attribution.account_attribution`). docs/watch.md, "Account chains", describes the rules.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from fundtrail.chains.resolve import account_text, parse_account_address
from fundtrail.chains.tron.address import is_tron_chain
from fundtrail.errors import UsageError
from fundtrail.model.chains import ACCOUNT_CHAINS
from fundtrail.store import Store
from fundtrail.tags.lookup import has_tags
from fundtrail.trace.attribution import chain_currency
from fundtrail.watch import alerts as alert_rows
from fundtrail.watch import risk_rule
from fundtrail.watch.account_batch import NATIVE, AccountBatch
from fundtrail.watch.account_ledgers import KEEP_BLOCKS, WatchLedger, load, prune, replay, split_output
from fundtrail.watch.account_rules import AccountChanges, Context, Frontier, propagate, simple_rules
from fundtrail.watch.frontier import insert_rows
from fundtrail.ingest.hooks import CatalogWrite
from fundtrail.watch.items import Item, active_items, items_version

ZERO = bytes(20)


class AccountWatchEvaluator:
    """The rules of one account chain's active items, evaluated batch by batch (module docstring)."""

    def __init__(self, store: Store, chain: str) -> None:
        self.store, self.chain = store, chain
        self.p = chain.replace("-", "_")
        self.loaded = False
        self.version: tuple[Any, ...] = ()
        self._pending: tuple[AccountChanges, dict[int, bytes], dict[int, tuple[str, int | None]]] | None = None
        self._risk: dict[str, tuple[Item, list[str], risk_rule.Where]] = {}  # touched in the pending batch
        known = ACCOUNT_CHAINS.get(chain)
        self.native = (known.native_symbol, known.native_decimals) if known else ("ETH", 18)

    # -- loading ------------------------------------------------------------------------------------
    def load(self) -> None:
        """Items, their address ids, tags, token units and ledgers, as the store holds them now; a
        change of attribution the rules have not run on yet is re-evaluated first."""
        from fundtrail.watch.reattribute import catch_up

        catch_up(self.store, self.chain)
        with self.store.connect(read_only=True) as con:
            self.version = items_version(con, self.chain)
            items = active_items(con, self.chain)
            rows = con.execute("SELECT f.item_id, f.output, f.state FROM watch_frontier f JOIN watch_items w "
                               "ON w.item_id = f.item_id WHERE w.chain = ? AND w.removed_at IS NULL "
                               "AND f.output LIKE 'acct:%'", [self.chain]).fetchall()
            tags = con.execute("SELECT address, category, label, source FROM tags WHERE currency = ? AND "
                               "category IS NOT NULL ORDER BY address, confidence_level DESC",
                               [chain_currency(self.chain)]).fetchall() if has_tags(con) else []
        self.items = {i.item_id: i for i in items}
        self.tags: dict[bytes, list[dict[str, Any]]] = {}
        for address, category, label, source in tags:
            try:
                raw = parse_account_address(address, chain=self.chain)
            except UsageError:
                continue
            self.tags.setdefault(raw, []).append({"address": address, "category": category, "label": label,
                                                  "source": source})
        wanted: dict[bytes, list[Item]] = {}
        for i in items:
            if i.kind == "address":
                wanted.setdefault(parse_account_address(i.target, chain=self.chain), []).append(i)
        newest: dict[tuple[str, str, str], tuple[int, str]] = {}
        for item_id, output, state in rows:
            parts = split_output(output)
            if parts is not None and item_id in self.items:
                address, asset, height = parts
                if (item_id, address, asset) not in newest or newest[(item_id, address, asset)][0] < height:
                    newest[(item_id, address, asset)] = (height, state)
        ledger_bytes = {parse_account_address(a, chain=self.chain) for (_, a, x) in newest} | {
            parse_account_address(x, chain=self.chain) for (_, _, x) in newest if x != "native"}
        self.ids: dict[bytes, int] = self._ids({*wanted, *self.tags, *ledger_bytes, ZERO})
        self.bytes_of: dict[int, bytes] = {v: k for k, v in self.ids.items()}
        self.zero_id = self.ids.get(ZERO)
        self.wanted = wanted
        self.by_address: dict[int, list[Item]] = {}
        for raw, its in wanted.items():
            if raw in self.ids:
                self.by_address.setdefault(self.ids[raw], []).extend(its)
        self.categories = [i for i in items if i.kind == "category"]
        self.has_risk = any(i.rule == "risk-above" for i in items)
        from fundtrail.trace.account_report import token_units

        self.units = {a: (u.symbol, u.decimals) for a, u in token_units(self.store, self.chain).items()}
        self.frontiers: dict[str, Frontier] = {}
        for i in items:
            if i.kind == "address" and i.rule == "reaches-service":
                raw = parse_account_address(i.target, chain=self.chain)
                self.frontiers[i.item_id] = Frontier({self.ids[raw]} if raw in self.ids else set())
            elif i.kind == "frontier":  # a saved trace: its ledgers only (watch.account_frontier)
                self.frontiers[i.item_id] = Frontier()
        for (item_id, address, asset), (_, state) in newest.items():
            led = load(state)
            front = self.frontiers.get(item_id)
            if led is None or front is None:
                continue
            aid = self.ids.get(parse_account_address(address, chain=self.chain))
            xid = NATIVE if asset == "native" else self.ids.get(parse_account_address(asset, chain=self.chain))
            if aid is not None and xid is not None:
                front.ledgers[(aid, xid)] = led
        self.loaded = True

    def _ids(self, raws: set[bytes]) -> dict[bytes, int]:
        if not raws:
            return {}
        keys = pa.table({"address": pa.array(sorted(raws), pa.binary())})
        with self.store.query() as con:
            try:
                con.register("_watched_raw", keys)
                found = con.execute(f"SELECT a.address, a.address_id FROM {self.p}_addresses a JOIN _watched_raw k "
                                    "ON a.address = k.address").fetchall()
            except duckdb.CatalogException:
                return {}  # the chain has no rows yet
            finally:
                con.unregister("_watched_raw")
        return {bytes(a): int(i) for a, i in found}

    def _version(self) -> tuple[Any, ...]:
        with self.store.connect(read_only=True) as con:
            return items_version(con, self.chain)

    def _lookup(self, aid: int) -> bytes | None:
        """The bytes of a stored address id the loaded maps do not hold (read once, then kept)."""
        with self.store.query() as con:
            row = con.execute(f"SELECT address FROM {self.p}_addresses WHERE address_id = ?", [aid]).fetchone()
        if row is None:
            return None
        self.bytes_of[aid] = bytes(row[0])
        return self.bytes_of[aid]

    # -- naming -------------------------------------------------------------------------------------
    def _context(self, new: dict[int, bytes], new_units: dict[int, tuple[str, int | None]]) -> Context:
        def raw_of(aid: int) -> bytes | None:
            got = self.bytes_of.get(aid) or new.get(aid)
            return got if got is not None or aid < 0 else self._lookup(aid)

        def text(aid: int) -> str | None:
            raw = raw_of(aid) if aid >= 0 else None
            if raw is not None:
                return account_text(raw, chain=self.chain)
            return None if aid < 0 else f"address id {aid}"

        def asset_text(asset: int) -> str:
            return "native" if asset == NATIVE else (text(asset) or str(asset))

        def unit(asset: int) -> tuple[str, int | None]:
            if asset == NATIVE:
                return self.native
            return self.units.get(asset) or new_units.get(asset) or ("", None)

        def service(aid: int, categories: list[str]) -> dict[str, Any] | None:
            raw = raw_of(aid)
            for t in self.tags.get(raw, ()) if raw is not None else ():
                if t["category"] in categories:
                    return {"label": t["label"], "category": t["category"], "address": text(aid), "via": "tag",
                            "tag_source": t["source"]}
            return None

        return Context(text, asset_text, unit, service)

    # -- the hook -----------------------------------------------------------------------------------
    def on_batch(self, chain: str, tables: dict[str, pa.Table]) -> CatalogWrite | None:
        if not self.loaded or self._version() != self.version:
            self.load()
        self._pending = None
        self._risk = {}
        if not self.items or tables["transfers"].num_rows == 0:
            return None
        new = self._new_addresses(tables["addresses"])
        if self.zero_id is None:
            self.zero_id = next((a for a, raw in new.items() if raw == ZERO), None)
        batch = AccountBatch(tables, self.zero_id, bare_hashes=is_tron_chain(self.chain))
        by_address = dict(self.by_address)
        for aid, raw in new.items():
            if raw in self.wanted:
                by_address[aid] = by_address.get(aid, []) + self.wanted[raw]
        tokens = tables["tokens"]
        new_units = {int(a): (s or "", d) for a, s, d in zip(tokens.column("address_id").to_pylist(),
                                                           tokens.column("symbol").to_pylist(),
                                                           tokens.column("decimals").to_pylist())}
        ctx = self._context(new, new_units)
        changes = AccountChanges()
        simple_rules(batch, by_address, self.categories, ctx, changes)
        present = set(batch.addresses.tolist()) if batch.events else set()
        for item_id, front in sorted(self.frontiers.items()):
            item = self.items[item_id]
            if not front.sources and item.kind == "address":  # a watched address first seen now: the source
                raw = parse_account_address(item.target, chain=self.chain)
                front = Frontier({a for a, r in new.items() if r == raw}, front.ledgers)
            if front.addresses() & present:
                propagate(batch, self.items[item_id], front, ctx, self._replayer(batch), changes)
        self._pending = (changes, new, new_units)
        self._risk = risk_rule.touched_account(batch, by_address) if self.has_risk else {}
        if changes.empty():
            return None

        def write(con: duckdb.DuckDBPyConnection) -> None:
            alert_rows.write_many(con, changes.in_chain_order())
            if changes.rows:
                insert_rows(con, changes.rows, replace=True)
                if changes.heights:
                    prune(con, sorted(changes.live), min(changes.heights) - KEEP_BLOCKS)

        return write

    def _replayer(self, batch: AccountBatch) -> Any:
        def run(address: int, asset: int, before: int, policy: str) -> WatchLedger:
            return replay(self.store, self.chain, address, asset, batch, before, policy, self.zero_id)
        return run

    def _new_addresses(self, addresses: pa.Table) -> dict[int, bytes]:
        return {int(a): bytes(r) for a, r in zip(addresses.column("address_id").to_pylist(),
                                                 addresses.column("address").to_pylist())}

    def committed(self) -> None:
        if self._pending is None:
            return
        changes, new, new_units = self._pending
        self._pending = None
        touched, self._risk = self._risk, {}
        for aid, raw in new.items():
            self.bytes_of[aid] = raw
            self.ids[raw] = aid
            if raw in self.wanted:
                self.by_address[aid] = self.by_address.get(aid, []) + self.wanted[raw]
                for item in self.wanted[raw]:
                    front = self.frontiers.get(item.item_id)
                    if front is not None:
                        front.sources.add(aid)
        self.units.update(new_units)
        for item_id, front in changes.live.items():
            self.frontiers[item_id] = front
        if touched:  # risk-above: scored on the committed chain (watch.risk_rule)
            risk_rule.score_committed(self.store, self.chain, touched)

    def on_rollback(self, chain: str, dropped: list[tuple[int, str]]) -> CatalogWrite | None:
        """Retract the alerts of the dropped blocks and delete the ledger rows above the fork."""
        self.loaded = False
        self._pending = None
        self._risk = {}
        if not dropped:
            return None
        keep = min(h for h, _ in dropped) - 1
        hashes = [x for _, x in dropped]

        def write(con: duckdb.DuckDBPyConnection) -> None:
            alert_rows.retract(con, chain, hashes, {})
            con.execute("DELETE FROM watch_frontier WHERE output LIKE 'acct:%' AND height > ? AND item_id IN "
                        "(SELECT item_id FROM watch_items WHERE chain = ?)", [keep, chain])

        return write
