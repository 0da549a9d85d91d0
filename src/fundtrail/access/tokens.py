"""API tokens: `ft_<id>_<secret>`, shown once, stored only as a slow salted hash of the secret.

The id (12 hex digits) names the token in listings, revocations and the audit log without
revealing it; the secret is 32 random bytes (URL-safe base64). `verify` answers only "this token
belongs to this enabled user" or AuthError, never which check failed: a client probing tokens
learns nothing about which ids, users or secrets exist.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from fundtrail.access import stamp
from fundtrail.access.hashing import dummy_hash, hash_secret, verify_secret
from fundtrail.access.users import get_user, now
from fundtrail.errors import AuthError, NotFoundError, UsageError
from fundtrail.store import Store

TOKEN_PATTERN = re.compile(r"ft_([0-9a-f]{12})_([A-Za-z0-9_-]{43,128})")
ID_PATTERN = re.compile(r"[0-9a-f]{12}")
_COLUMNS = "token_id, user_name, created_at, created_by, revoked_at, revoked_by"
_NAMES = ("id", "user", "created_at", "created_by", "revoked_at", "revoked_by")


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(_NAMES, row))


def create_token(store: Store, user: str, *, by: str) -> dict[str, Any]:
    """A new token for the enabled user `user`: the record plus `token`, the only time the
    whole token exists outside the client."""
    record = get_user(store, user, field="user")
    if record["disabled_at"] is not None:
        raise UsageError(f"user {user!r} is disabled", field="user")
    secret = secrets.token_urlsafe(32)
    hashed = hash_secret(secret)
    with store.connect() as con:
        while True:
            token_id = secrets.token_hex(6)
            if not con.execute("SELECT 1 FROM api_tokens WHERE token_id = ?", [token_id]).fetchone():
                break
        con.execute("INSERT INTO api_tokens (token_id, user_name, secret_hash, created_at, created_by) "
                    "VALUES (?, ?, ?, ?, ?)", [token_id, user, hashed, now(), by])
    stamp.bump(store.root)
    return {"token": f"ft_{token_id}_{secret}", "id": token_id, "user": user}


def check_id(token_id: str) -> str:
    """`token_id` when it is shaped like a token id, else a UsageError on `token_id`."""
    if not isinstance(token_id, str) or not ID_PATTERN.fullmatch(token_id):
        raise UsageError(f"token_id {token_id!r} is not a token id (12 hex digits, as `tokens list` "
                         "shows)", field="token_id")
    return token_id


def get_token(store: Store, token_id: str, *, read_only: bool = False) -> dict[str, Any]:
    """The token record `token_id` (never its hash); NotFoundError when there is none."""
    check_id(token_id)
    with store.connect(read_only=read_only) as con:
        row = con.execute(f"SELECT {_COLUMNS} FROM api_tokens WHERE token_id = ?", [token_id]).fetchone()
    if row is None:
        raise NotFoundError(f"token_id {token_id!r} is not a token", field="token_id")
    return _row(row)


def list_tokens(store: Store, *, user: str | None = None, read_only: bool = True) -> list[dict[str, Any]]:
    """Every token record (optionally of one user), oldest first; never a secret or hash."""
    where, args = ("WHERE user_name = ?", [user]) if user is not None else ("", [])
    with store.connect(read_only=read_only) as con:
        rows = con.execute(f"SELECT {_COLUMNS} FROM api_tokens {where} ORDER BY created_at, token_id",
                           args).fetchall()
    return [_row(r) for r in rows]


def revoke_token(store: Store, token_id: str, *, by: str) -> dict[str, Any]:
    """Revoke `token_id` (refused from the next request on); revoking twice changes nothing."""
    record = get_token(store, token_id)
    if record["revoked_at"] is None:
        with store.connect() as con:
            con.execute("UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE token_id = ?",
                        [now(), by, token_id])
        stamp.bump(store.root)
        record = get_token(store, token_id)
    return record


def verify(store: Store, token: str, *, read_only: bool) -> tuple[str, str, str]:
    """(token id, user, role) of a valid token of an enabled user; AuthError for anything else,
    with one message whatever the reason."""
    refused = AuthError("the token is not valid", hint="ask an admin for a token")
    match = TOKEN_PATTERN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise refused
    token_id, secret = match.groups()
    with store.connect(read_only=read_only) as con:
        row = con.execute(
            "SELECT t.secret_hash, t.revoked_at, u.name, u.role, u.disabled_at FROM api_tokens t "
            "JOIN users u ON u.name = t.user_name WHERE t.token_id = ?", [token_id]).fetchone()
    good = verify_secret(secret, row[0] if row else dummy_hash())
    if row is None or not good or row[1] is not None or row[4] is not None:
        raise refused
    return token_id, str(row[2]), str(row[3])
