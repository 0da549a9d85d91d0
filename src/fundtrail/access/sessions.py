"""Web sessions: `fs_<id>_<secret>` cookie values, shown once, stored only as a slow salted hash.

A session is what a successful password login gives the browser: the web workbench sends it back
as an HttpOnly cookie with every request. Like an API token it has an id (12 hex digits, to name
it without revealing it) and a secret (32 random bytes, URL-safe base64), but a different prefix
and table, so neither is ever accepted in place of the other. A session ends at its expiry
(`web_session_hours` after login), at logout, when its user's password changes, or when its user
is disabled. Creating one does not bump the access stamp (a login must not drop what servers
cached about everyone else); ending one does, so every process refuses it from its next request.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from fundtrail.access import stamp
from fundtrail.access.hashing import dummy_hash, hash_secret, verify_secret
from fundtrail.access.users import now
from fundtrail.errors import AuthError
from fundtrail.store import Store

SESSION_PATTERN = re.compile(r"fs_([0-9a-f]{12})_([A-Za-z0-9_-]{43,128})")
#: Ended sessions are kept this long after they ended (so `sessions_purge` never races a login).
PURGE_AFTER = dt.timedelta(days=1)


def refused() -> AuthError:
    """The one error for every session that is not (or no longer) valid."""
    return AuthError("the session has ended or is not valid", hint="log in again")


def create_session(store: Store, user: str, *, hours: int) -> dict[str, Any]:
    """A new session of `user` lasting `hours`: its record plus `token`, the only time the whole
    cookie value exists outside the browser. The caller has checked the password."""
    secret = secrets.token_urlsafe(32)
    hashed = hash_secret(secret)
    created = now()
    expires = created + dt.timedelta(hours=hours)
    with store.connect() as con:
        while True:
            session_id = secrets.token_hex(6)
            if not con.execute("SELECT 1 FROM web_sessions WHERE session_id = ?", [session_id]).fetchone():
                break
        con.execute("INSERT INTO web_sessions (session_id, user_name, secret_hash, created_at, expires_at) "
                    "VALUES (?, ?, ?, ?, ?)", [session_id, user, hashed, created, expires])
    return {"token": f"fs_{session_id}_{secret}", "id": session_id, "user": user, "expires_at": expires}


def verify(store: Store, token: str, *, read_only: bool) -> tuple[str, str, str, dt.datetime]:
    """(session id, user, role, expiry) of a valid, unrevoked, unexpired session of an enabled
    user; the one AuthError of `refused()` for anything else."""
    match = SESSION_PATTERN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise refused()
    session_id, secret = match.groups()
    with store.connect(read_only=read_only) as con:
        row = con.execute(
            "SELECT s.secret_hash, s.revoked_at, s.expires_at, u.name, u.role, u.disabled_at "
            "FROM web_sessions s JOIN users u ON u.name = s.user_name WHERE s.session_id = ?",
            [session_id]).fetchone()
    good = verify_secret(secret, row[0] if row else dummy_hash())
    if row is None or not good or row[1] is not None or row[5] is not None or row[2] <= now():
        raise refused()
    return session_id, str(row[3]), str(row[4]), row[2]


def revoke_session(store: Store, token: str) -> bool:
    """End the session `token` (True when one ended now); a garbled, unknown, wrong or already
    ended token changes nothing. The secret is checked: knowing an id is not enough to end it."""
    match = SESSION_PATTERN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        return False
    session_id, secret = match.groups()
    with store.connect() as con:
        row = con.execute("SELECT secret_hash, revoked_at FROM web_sessions WHERE session_id = ?",
                          [session_id]).fetchone()
    if not verify_secret(secret, row[0] if row else dummy_hash()) or row is None or row[1] is not None:
        return False
    with store.connect() as con:
        con.execute("UPDATE web_sessions SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL",
                    [now(), session_id])
    stamp.bump(store.root)
    return True


def revoke_user_sessions(store: Store, user: str) -> int:
    """End every open session of `user` (password changed, user disabled); the caller bumps the
    access stamp. Returns how many ended."""
    with store.connect() as con:
        row = con.execute("UPDATE web_sessions SET revoked_at = ? WHERE user_name = ? AND revoked_at IS NULL",
                          [now(), user]).fetchone()
    return int(row[0]) if row else 0


def purge(store: Store) -> int:
    """Delete the rows of sessions that expired or were revoked more than a day ago (they can
    never be valid again); returns how many. Needs no stamp bump: nothing valid changes."""
    cutoff = now() - PURGE_AFTER
    with store.connect() as con:
        row = con.execute("DELETE FROM web_sessions WHERE expires_at < ? OR revoked_at < ?",
                          [cutoff, cutoff]).fetchone()
    return int(row[0]) if row else 0
