"""Webhooks alerts are delivered to: their catalog rows and their HMAC secrets (docs/watch.md, "Delivery").

A webhook's secret is the key its receiver checks signatures with, so it must never reach a place
others read: not the catalog (copied into backups and evidence work), not a log, not the audit log.
It lives in `<store>/secrets/webhooks/<webhook_id>` (mode 0600, directories 0700), written durably
*before* the catalog row, so a crash between the two leaves an orphan secret file (harmless, never
used) rather than a webhook whose signatures nobody can check. A URL with `user:password@` is refused:
the URL is stored and listed, and credentials must not be.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb

from fundtrail.errors import DataError, NotFoundError, UsageError
from fundtrail.store import Store
from fundtrail.store.partitions import FILE_MODE, make_private_dir, write_durably

__all__ = ["MAX_URL_CHARS", "REMOVED_REASON", "SECRET_DIR", "add_webhook", "check_id",
           "check_url", "list_webhooks", "read_secret", "remove_webhook", "utc_now"]

SECRET_DIR = Path("secrets") / "webhooks"
MAX_URL_CHARS = 2048
MAX_SECRET_CHARS = 1024
REMOVED_REASON = "webhook removed"
_ID = re.compile(r"WH-[0-9a-f]{8}")


def utc_now() -> dt.datetime:
    """Now as the catalog keeps times: naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def check_id(webhook_id: str, *, field: str = "webhook_id") -> str:
    """`webhook_id` if it has the form `WH-` and 8 hex digits, else a UsageError naming `field`."""
    if not isinstance(webhook_id, str) or _ID.fullmatch(webhook_id) is None:
        raise UsageError(f"{field} {str(webhook_id)[:40]!r} is not a webhook id (WH- and 8 hex digits)", field=field)
    return webhook_id


def check_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host and no credentials; a UsageError on field `url`
    otherwise. The message never repeats a `user:password@` part."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise UsageError(f"url must be 1 to {MAX_URL_CHARS} characters", field="url")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise UsageError("url must not contain spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise UsageError("url is not a valid URL", field="url") from None
    if "@" in parts.netloc:
        raise UsageError("url must not carry user:password@ credentials (they would be stored and listed); "
                         "authenticate receivers by the signature header", field="url")
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"url must start with http:// or https:// (got {parts.scheme or 'no'} scheme)",
                         field="url")
    if not parts.hostname:
        raise UsageError("url has no host", field="url")
    if port == 0:
        raise UsageError("url has port 0", field="url")
    if parts.fragment:
        raise UsageError("url must not have a #fragment (it is never sent)", field="url")
    return url


def _check_secret(secret: str) -> str:
    if not isinstance(secret, str) or not 16 <= len(secret) <= MAX_SECRET_CHARS:
        raise UsageError(f"secret must be 16 to {MAX_SECRET_CHARS} characters (omit it to get a random one)",
                         field="secret")
    if any(ord(c) < 32 or ord(c) == 127 for c in secret):
        raise UsageError("secret must not contain control characters or line ends", field="secret")
    return secret


def _secret_path(store: Store, webhook_id: str) -> Path:
    return store.root / SECRET_DIR / check_id(webhook_id)


def add_webhook(store: Store, url: str, *, secret: str | None, owner: str) -> dict[str, Any]:
    """Register a webhook: its secret written (0600) before its catalog row. Returns the row and
    the secret (the only time it is handed out)."""
    check_url(url)
    key = _check_secret(secret) if secret is not None else secrets.token_hex(32)
    with store.connect(read_only=True) as con:
        taken = {r[0] for r in con.execute("SELECT webhook_id FROM webhooks").fetchall()}
    webhook_id = next(i for i in (f"WH-{secrets.token_hex(4)}" for _ in range(100)) if i not in taken)
    folder = store.root / SECRET_DIR
    make_private_dir(folder)
    write_durably(folder / webhook_id, key.encode("utf-8"), mode=FILE_MODE)
    now = utc_now()
    with store.connect() as con:
        con.execute("INSERT INTO webhooks VALUES (?, ?, ?, ?, ?, NULL)",
                    [webhook_id, url, str(SECRET_DIR / webhook_id), owner, now])
    return {"webhook_id": webhook_id, "url": url, "owner": owner, "created_at": now, "removed_at": None,
            "secret": key}


def read_secret(store: Store, webhook_id: str) -> bytes:
    """The HMAC key of `webhook_id` from its 0600 file; DataError when the file is missing."""
    try:
        return _secret_path(store, webhook_id).read_bytes()
    except FileNotFoundError:
        raise DataError(f"the secret of webhook {webhook_id} is missing from {SECRET_DIR}",
                        hint="remove the webhook and add it again") from None


def _row(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(
        "SELECT w.webhook_id, w.url, w.owner, w.created_at, w.removed_at,"
        " count(*) FILTER (WHERE o.status = 'pending'),"
        " count(*) FILTER (WHERE o.status = 'delivered'),"
        " count(*) FILTER (WHERE o.status = 'dead')"
        f" FROM webhooks w LEFT JOIN alert_outbox o USING (webhook_id) {where}"
        " GROUP BY ALL ORDER BY w.created_at, w.webhook_id", params)
    names = ["webhook_id", "url", "owner", "created_at", "removed_at", "pending", "delivered", "dead"]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def list_webhooks(store: Store, *, include_removed: bool = False, read_only: bool = True) -> list[dict[str, Any]]:
    """Webhook rows with their outbox counts (pending, delivered, dead), oldest first."""
    with store.connect(read_only=read_only) as con:
        return _row(con, "" if include_removed else "WHERE w.removed_at IS NULL", [])


def remove_webhook(store: Store, webhook_id: str) -> tuple[dict[str, Any], int]:
    """Mark a webhook removed and, in the same transaction, its pending deliveries `dead` ("webhook
    removed"); then delete its secret. Returns its row and how many deliveries were dead-lettered."""
    check_id(webhook_id)
    with store.connect() as con:
        found = con.execute("SELECT removed_at FROM webhooks WHERE webhook_id = ?", [webhook_id]).fetchone()
        if found is None:
            raise NotFoundError(f"no webhook {webhook_id}", hint="see `fundtrail webhooks list`", field="webhook_id")
        if found[0] is not None:
            raise UsageError(f"webhook {webhook_id} was already removed ({found[0]:%Y-%m-%d %H:%M:%S} UTC)",
                             field="webhook_id")
        con.execute("BEGIN")
        dead = con.execute("SELECT count(*) FROM alert_outbox WHERE webhook_id = ? AND status = 'pending'",
                           [webhook_id]).fetchone()
        con.execute("UPDATE alert_outbox SET status = 'dead', last_error = ? WHERE webhook_id = ? "
                    "AND status = 'pending'", [REMOVED_REASON, webhook_id])
        con.execute("UPDATE webhooks SET removed_at = ? WHERE webhook_id = ?", [utc_now(), webhook_id])
        con.execute("COMMIT")
        row = _row(con, "WHERE w.webhook_id = ?", [webhook_id])[0]
    with contextlib.suppress(FileNotFoundError):
        _secret_path(store, webhook_id).unlink()
    return row, int(dead[0]) if dead else 0
