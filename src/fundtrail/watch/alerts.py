"""Alerts and retractions in the catalog (tables `alerts` and `alert_outbox`, docs/watch.md).

Every alert is written inside the transaction of the batch (or rollback) that caused it, with one
outbox row per active webhook, so an alert once committed is never lost and its delivery is owed.
The idempotency key is `sha256(item_id, rule, chain, block_hash, txid, detail)`: evaluating the
same batch twice adds nothing. A block reorganised away and later mined again (the same key)
gets a new alert only because its first one was retracted: the key is then chained with the
retraction's id, deterministically, so a re-evaluation still adds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from fundtrail.errors import NotFoundError, UsageError
from fundtrail.watch.items import VISIBLE, Item, load_item, now

_COLUMNS = ("alert_id", "item_id", "chain", "rule", "severity", "kind", "retracts", "height", "block_hash", "txid",
            "title", "document", "idempotency_key", "created_at", "acked_at", "acked_by", "retracted_by")


@dataclass
class Alert:
    """An alert about to be written (the evaluator's output) or as stored."""

    item: Item
    height: int | None
    block_hash: str | None
    txid: str | None
    title: str
    detail: str
    body: dict[str, Any] = field(default_factory=dict)  # rule-specific fields of the document
    time: int | None = None
    kind: str = "alert"
    retracts: str | None = None


def idempotency_key(item_id: str, rule: str, chain: str, block_hash: str | None, txid: str | None,
                    detail: str) -> str:
    raw = json.dumps([item_id, rule, chain, block_hash, txid, detail], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _key(alert: Alert) -> str:
    item = alert.item
    return idempotency_key(item.item_id, item.rule if alert.kind == "alert" else "retraction", item.chain,
                           alert.block_hash, alert.txid, alert.detail)


def _free_key(con: duckdb.DuckDBPyConnection, alert: Alert, key: str, retracted_by: str | None) -> str | None:
    """The key to store `alert` under when `key` is taken: None when the same alert is stored
    (nothing to add), else the key chained with the retraction of the earlier one (module docstring)."""
    while True:
        if retracted_by is None or alert.kind != "alert":
            return None
        key = hashlib.sha256(f"{key}:{retracted_by}".encode()).hexdigest()
        row = con.execute("SELECT retracted_by FROM alerts WHERE idempotency_key = ?", [key]).fetchone()
        if row is None:
            return key
        retracted_by = row[0]


def _document(alert: Alert, alert_id: str, created: dt.datetime) -> str:
    item = alert.item
    doc = {"alert_id": alert_id, "kind": alert.kind, "retracts": alert.retracts, "rule": item.rule,
           "severity": item.severity, "item": item.summary(), "chain": item.chain, "height": alert.height,
           "block_hash": alert.block_hash, "txid": alert.txid,
           "time": (dt.datetime.fromtimestamp(alert.time, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    if alert.time is not None else None),
           "title": alert.title, **alert.body, "created_at": _iso(created)}
    return json.dumps(doc)


def write(con: duckdb.DuckDBPyConnection, alert: Alert) -> str | None:
    """Insert an alert and its outbox rows (pending, one per active webhook); None when its key
    is already stored (the batch was evaluated before). Returns the new alert id."""
    return write_many(con, [alert])[0]


def write_many(con: duckdb.DuckDBPyConnection, alerts: list[Alert]) -> list[str | None]:
    """`write` for many alerts in a few bulk statements (a block at scale raises dozens): the new
    ids, None for each alert already stored."""
    if not alerts:
        return []
    keys = [_key(a) for a in alerts]
    # a join, not list_contains(?, key): that compares every stored alert with every key
    taken = dict(con.execute("SELECT a.idempotency_key, a.retracted_by FROM alerts a JOIN (SELECT unnest(?) AS k) k "
                             "ON a.idempotency_key = k.k", [keys]).fetchall())
    created = now()
    ids = secrets.token_bytes(6 * len(alerts)).hex()  # one system call for the batch's alert ids
    rows: list[list[Any]] = []
    out: list[str | None] = []
    in_batch: set[str] = set()
    for n, (alert, key) in enumerate(zip(alerts, keys)):
        use: str | None = key
        if key in taken:
            use = _free_key(con, alert, key, taken[key])
        if use is None or use in in_batch:
            out.append(None)
            continue
        in_batch.add(use)
        alert_id = f"AL-{ids[12 * n:12 * n + 12]}"
        item = alert.item
        # one microsecond apart: the outbox delivers by created_at, so a batch's alerts go out in chain order
        at = created + dt.timedelta(microseconds=len(rows))
        rows.append([alert_id, item.item_id, item.chain, item.rule, item.severity, alert.kind, alert.retracts,
                     alert.height, alert.block_hash, alert.txid, alert.title, _document(alert, alert_id, at),
                     use, at])
        out.append(alert_id)
    if rows:
        names = _COLUMNS[:14]
        table = pa.table({n: pa.array([r[k] for r in rows], _ARROW.get(n, pa.string())) for k, n in enumerate(names)})
        con.register("_new_alerts", table)
        try:
            con.execute(f"INSERT INTO alerts ({', '.join(names)}) SELECT {', '.join(names)} FROM _new_alerts")
            con.execute("INSERT INTO alert_outbox (alert_id, webhook_id, status, attempts, next_attempt_at) "
                        "SELECT a.alert_id, w.webhook_id, 'pending', 0, a.created_at FROM _new_alerts a "
                        "CROSS JOIN webhooks w WHERE w.removed_at IS NULL")
        finally:
            con.unregister("_new_alerts")
    return out


_ARROW = {"height": pa.int64(), "created_at": pa.timestamp("us")}


def retract(con: duckdb.DuckDBPyConnection, chain: str, hashes: list[str], items: dict[str, Item]) -> list[str]:
    """A retraction for each live alert of `chain` raised in a block of `hashes` (display hex),
    and `retracted_by` set on it; returns the retraction ids. `items`: the items by id (removed
    ones are loaded here: a retraction is owed even for an item removed since)."""
    if not hashes:
        return []
    rows = con.execute("SELECT alert_id, item_id, height, block_hash, txid, title FROM alerts WHERE chain = ? "
                       "AND kind = 'alert' AND retracted_by IS NULL AND list_contains(?, block_hash) "
                       "ORDER BY created_at, alert_id", [chain, hashes]).fetchall()
    out = []
    for alert_id, item_id, height, block_hash, txid, title in rows:
        item = items.get(item_id) or load_item(con, item_id)
        new = write(con, Alert(item, height, block_hash, txid, f"retracted (block {height} reorganised away): "
                               f"{title}", alert_id, {"facts": {"retracted_alert": alert_id}},
                               kind="retraction", retracts=alert_id))
        if new is not None:
            con.execute("UPDATE alerts SET retracted_by = ? WHERE alert_id = ?", [new, alert_id])
            out.append(new)
    return out


def record(row: tuple[Any, ...]) -> dict[str, Any]:
    """An alerts row as a dict (document parsed)."""
    out = dict(zip(_COLUMNS, row))
    out["document"] = json.loads(out["document"])
    return out


def list_alerts(con: duckdb.DuckDBPyConnection, user: str, *, item: str | None, unacked: bool,
                since: dt.datetime | None, limit: int, after: tuple[str, str] | None) -> list[dict[str, Any]]:
    """Alerts of items the user may see, newest first; `after` = (created_at iso, alert_id) of the
    last row of the previous page."""
    where: list[str] = [VISIBLE]
    args: list[Any] = [user, user]
    if item is not None:
        where.append("a.item_id = ?")
        args.append(item)
    if unacked:
        where.append("a.acked_at IS NULL")
    if since is not None:
        where.append("a.created_at >= ?")
        args.append(since)
    if after is not None:
        where.append("(a.created_at, a.alert_id) < (CAST(? AS TIMESTAMP), ?)")
        args += list(after)
    sql = (f"SELECT {', '.join('a.' + c for c in _COLUMNS)} FROM alerts a JOIN watch_items w ON w.item_id = a.item_id "
           f"WHERE {' AND '.join(where)} ORDER BY a.created_at DESC, a.alert_id DESC LIMIT ?")
    return [record(r) for r in con.execute(sql, [*args, limit]).fetchall()]


def count_unacked(con: duckdb.DuckDBPyConnection, user: str) -> int:
    """How many alerts of items the user may see are unacknowledged (one aggregate query)."""
    row = con.execute(f"SELECT count(*) FROM alerts a JOIN watch_items w ON w.item_id = a.item_id "
                      f"WHERE {VISIBLE} AND a.acked_at IS NULL", [user, user]).fetchone()
    return int(row[0]) if row else 0


def get_alert(con: duckdb.DuckDBPyConnection, alert_id: str, user: str) -> dict[str, Any]:
    """One alert of an item the user may see; NotFoundError (field `alert`) otherwise."""
    if not isinstance(alert_id, str) or len(alert_id) != 15 or not alert_id.startswith("AL-"):
        raise UsageError(f"alert {str(alert_id)[:40]!r} is not an alert id (AL- and 12 hex digits, as "
                         "`fundtrail alerts list` shows)", field="alert")
    row = con.execute(f"SELECT {', '.join('a.' + c for c in _COLUMNS)} FROM alerts a JOIN watch_items w "
                      f"ON w.item_id = a.item_id WHERE a.alert_id = ? AND {VISIBLE}",
                      [alert_id, user, user]).fetchone()
    if row is None:
        raise NotFoundError(f"alert {alert_id} not found", field="alert")
    return record(row)


def ack(con: duckdb.DuckDBPyConnection, alert_id: str, user: str) -> dict[str, Any]:
    """Acknowledge an alert (the first acknowledgement stays); the alert as now stored."""
    get_alert(con, alert_id, user)
    con.execute("UPDATE alerts SET acked_at = ?, acked_by = ? WHERE alert_id = ? AND acked_at IS NULL",
                [now(), user, alert_id])
    return get_alert(con, alert_id, user)
