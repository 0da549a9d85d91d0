"""Watch items in the catalog (table `watch_items`, docs/watch.md): what is watched, by which rule.

An item names its target as text (an address, `TXID:VOUT`, a cluster id, a saved trace `T-…`, a tag
category) so that it survives re-ingests and re-clusterings; the evaluator resolves it to ids once
per ingest run. Only the owner, or members of the item's case, see an item and its alerts: the
access rule is one SQL condition (`VISIBLE`), shared by every listing.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from fundtrail.errors import NotFoundError, UsageError

RULES = ("moved", "deposit", "reaches-service", "risk-above")
SEVERITIES = ("info", "warning", "critical")
KINDS = ("address", "output", "cluster", "frontier", "category")
#: Rules each target kind accepts (reaches-service follows taint: it needs outputs to start from).
RULES_OF_KIND = {
    "address": ("moved", "deposit", "reaches-service", "risk-above"),
    "output": ("moved", "reaches-service"),
    "cluster": ("moved", "deposit", "risk-above"),
    "frontier": ("moved", "reaches-service"),
    "category": ("moved", "deposit"),
}
DEFAULT_SEVERITY = {"moved": "warning", "deposit": "warning", "reaches-service": "critical",
                    "risk-above": "warning"}
#: Rules stored but not evaluated yet (said by `watch add` and in docs/watch.md, never a silent no-op).
NOT_EVALUATED: tuple[str, ...] = ()  # rules stored but not evaluated (none today)
_COLUMNS = ("item_id", "chain", "kind", "target", "rule", "name", "severity", "category", "policy", "min_value",
            "threshold", "case_id", "owner", "created_at", "removed_at", "removed_by")
#: The items a user may see: their own, and those of cases they are a member of.
VISIBLE = ("(w.owner = ? OR w.case_id IN (SELECT case_id FROM case_members WHERE user_name = ?))")


@dataclass(frozen=True)
class Item:
    """One watch item as stored."""

    item_id: str
    chain: str
    kind: str
    target: str
    rule: str
    name: str
    severity: str
    category: str | None
    policy: str | None
    min_value: str | None
    threshold: float | None
    case_id: str | None
    owner: str
    created_at: dt.datetime
    removed_at: dt.datetime | None = None
    removed_by: str | None = None

    @property
    def categories(self) -> list[str]:
        """The item's categories (comma-separated in the catalog)."""
        return [c for c in (self.category or "").split(",") if c]

    @property
    def min_sat(self) -> int:
        return int(self.min_value or 0)

    def summary(self) -> dict[str, Any]:
        """The item as alert documents name it."""
        return {"id": self.item_id, "name": self.name, "kind": self.kind, "target": self.target,
                "case_id": self.case_id}


def now() -> dt.datetime:
    """UTC now without tzinfo (the catalog's TIMESTAMP columns are UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_item_id() -> str:
    return f"W-{secrets.token_hex(4)}"


def check_rule(kind: str, rule: str) -> None:
    """UsageError (field `rule`) for a rule the target kind does not take."""
    if rule not in RULES:
        raise UsageError(f"rule {rule!r} is not a watch rule (known: {', '.join(RULES)})", field="rule")
    if rule not in RULES_OF_KIND[kind]:
        raise UsageError(f"rule {rule} does not apply to a {kind} target (it takes: "
                         f"{', '.join(RULES_OF_KIND[kind])})", field="rule")


def check_severity(severity: str) -> str:
    if severity not in SEVERITIES:
        raise UsageError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}", field="severity")
    return severity


def insert(con: duckdb.DuckDBPyConnection, item: Item) -> None:
    """Add an item (inside the caller's transaction: with its frontier rows, if any)."""
    con.execute(f"INSERT INTO watch_items ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})",
                [getattr(item, c) for c in _COLUMNS])


def insert_many(con: duckdb.DuckDBPyConnection, items: list[Item],
                frontier: list[tuple[str, str, str, str | None, int | None]]) -> None:
    """Add items and their frontier rows (item_id, output, amount, state, height) in two bulk
    statements (inside the caller's transaction): 100,000 watched addresses at once."""
    if items:
        table = pa.table({c: [getattr(i, c) for i in items] for c in _COLUMNS})
        con.register("_new_items", table)
        try:
            con.execute(f"INSERT INTO watch_items ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)} FROM _new_items")
        finally:
            con.unregister("_new_items")
    if frontier:
        names = ("item_id", "output", "amount", "state", "height")
        rows = pa.table({n: pa.array([r[k] for r in frontier], pa.int64() if n == "height" else pa.string())
                         for k, n in enumerate(names)})
        con.register("_new_frontier", rows)
        try:
            con.execute(f"INSERT INTO watch_frontier ({', '.join(names)}) SELECT {', '.join(names)} FROM _new_frontier")
        finally:
            con.unregister("_new_frontier")


def _item(row: tuple[Any, ...]) -> Item:
    return Item(**dict(zip(_COLUMNS, row)))


def active_items(con: duckdb.DuckDBPyConnection, chain: str) -> list[Item]:
    """The items of `chain` not removed, oldest first (what the evaluator loads once per run)."""
    rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM watch_items WHERE chain = ? AND removed_at IS NULL "
                       "ORDER BY created_at, item_id", [chain]).fetchall()
    return [_item(r) for r in rows]


def load_item(con: duckdb.DuckDBPyConnection, item_id: str) -> Item:
    """An item by id, removed or not, without an access check (the evaluator's own reads)."""
    row = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM watch_items WHERE item_id = ?", [item_id]).fetchone()
    if row is None:
        raise NotFoundError(f"watch item {item_id} not found", field="item")
    return _item(row)


def has_active(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any item is active (an ingest without items pays one query, no evaluator)."""
    try:
        row = con.execute("SELECT count(*) FROM watch_items WHERE removed_at IS NULL").fetchone()
    except duckdb.CatalogException:  # a catalog not migrated to schema 12 (opened read-only)
        return False
    return bool(row and row[0])


def visible_items(con: duckdb.DuckDBPyConnection, user: str, *, removed: bool = False) -> list[Item]:
    """The items `user` may see, oldest first; removed ones too with `removed`."""
    cond = "" if removed else " AND w.removed_at IS NULL"
    rows = con.execute(f"SELECT {', '.join('w.' + c for c in _COLUMNS)} FROM watch_items w WHERE {VISIBLE}{cond} "
                       "ORDER BY w.created_at, w.item_id", [user, user]).fetchall()
    return [_item(r) for r in rows]


def get_item(con: duckdb.DuckDBPyConnection, item_id: str, user: str) -> Item:
    """An item the user may see; NotFoundError (field `item`) otherwise, as for an unknown id."""
    if not isinstance(item_id, str) or len(item_id) != 10 or not item_id.startswith("W-"):
        raise UsageError(f"item {str(item_id)[:40]!r} is not a watch item id (W- and 8 hex digits, as "
                         "`fundtrail watch list` shows)", field="item")
    row = con.execute(f"SELECT {', '.join('w.' + c for c in _COLUMNS)} FROM watch_items w "
                      f"WHERE w.item_id = ? AND {VISIBLE}", [item_id, user, user]).fetchone()
    if row is None:
        raise NotFoundError(f"watch item {item_id} not found", field="item")
    return _item(row)


def remove(con: duckdb.DuckDBPyConnection, item: Item, user: str) -> None:
    """Mark an item removed (alerts keep naming it); its frontier rows go."""
    con.execute("UPDATE watch_items SET removed_at = ?, removed_by = ? WHERE item_id = ?",
                [now(), user, item.item_id])
    con.execute("DELETE FROM watch_frontier WHERE item_id = ?", [item.item_id])


def items_version(con: duckdb.DuckDBPyConnection, chain: str) -> tuple[Any, ...]:
    """What changes when an item of the chain is added or removed, or attribution was re-evaluated
    (one aggregate query): an evaluator reloads when it differs from the one it loaded with."""
    row = con.execute("SELECT count(*), max(created_at), max(removed_at) FROM watch_items WHERE chain = ?",
                      [chain]).fetchone()
    try:
        seen = con.execute("SELECT max(evaluated_at) FROM watch_attribution WHERE chain = ?", [chain]).fetchone()
    except duckdb.CatalogException:
        seen = None
    return (*(row or ()), *(seen or ()))
