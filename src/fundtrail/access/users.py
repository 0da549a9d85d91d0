"""Users in the catalog: a name, a role, who created them and when, whether they are disabled,
and whether they have a password (for the web workbench; only its slow salted hash is stored).

Users are never deleted (the audit log names them, and a court must be able to tell who a name
was); disabling one refuses their tokens and ends their web sessions from the next request on.
Every change bumps the access stamp (`stamp.bump`) so that a running server drops what it cached
about tokens and sessions.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fundtrail.access import stamp
from fundtrail.access.roles import check_role
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.store import Store

NAME_PATTERN = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_COLUMNS = "name, role, created_at, created_by, disabled_at, disabled_by, password_hash IS NOT NULL"


def check_name(name: str, *, field: str = "name") -> str:
    """`name` when it is a valid user name (1-64 of `A-Z a-z 0-9 . _ @ -`), else a UsageError."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"{field} {name!r} is not a user name (1-64 characters of A-Z a-z 0-9 . _ @ -)",
                         field=field)
    return name


def now() -> dt.datetime:
    """The current time as the catalog stores it: naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(("name", "role", "created_at", "created_by", "disabled_at", "disabled_by", "has_password"),
                    row))


def add_user(store: Store, name: str, role: str, *, by: str, password_hash: str | None = None) -> dict[str, Any]:
    """Create the user `name` with `role` (and the stored form of a checked password, if any);
    a UsageError when the name is taken."""
    check_name(name)
    check_role(role)
    with store.connect() as con:
        if con.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise UsageError(f"name {name!r} is already a user", field="name")
        con.execute("INSERT INTO users (name, role, created_at, created_by, password_hash) VALUES (?, ?, ?, ?, ?)",
                    [name, role, now(), by, password_hash])
    stamp.bump(store.root)
    return get_user(store, name)


def get_user(store: Store, name: str, *, field: str = "name", read_only: bool = False) -> dict[str, Any]:
    """The user `name`; NotFoundError (on `field`) when there is none."""
    check_name(name, field=field)
    with store.connect(read_only=read_only) as con:
        row = con.execute(f"SELECT {_COLUMNS} FROM users WHERE name = ?", [name]).fetchone()
    if row is None:
        raise NotFoundError(f"{field} {name!r} is not a user", field=field)
    return _row(row)


def list_users(store: Store, *, read_only: bool = True) -> list[dict[str, Any]]:
    """Every user, by name."""
    with store.connect(read_only=read_only) as con:
        rows = con.execute(f"SELECT {_COLUMNS} FROM users ORDER BY name").fetchall()
    return [_row(r) for r in rows]


def disable_user(store: Store, name: str, *, by: str) -> dict[str, Any]:
    """Disable `name` (their tokens stop working, their web sessions end); disabling a disabled
    user changes nothing."""
    user = get_user(store, name)
    if user["disabled_at"] is None:
        when = now()
        with store.connect() as con:
            con.execute("UPDATE users SET disabled_at = ?, disabled_by = ? WHERE name = ?", [when, by, name])
            con.execute("UPDATE web_sessions SET revoked_at = ? WHERE user_name = ? AND revoked_at IS NULL",
                        [when, name])
        stamp.bump(store.root)
        user = get_user(store, name)
    return user
