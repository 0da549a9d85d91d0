"""User passwords for the web workbench: the rule, the stored slow salted hash, the login check.

A password only ever exists in memory for the length of one call: it is stored as
`hashing.hash_secret` (scrypt, salted) in `users.password_hash` and never logged or audited.
The login check answers only "this enabled user has this password" or one AuthError whatever the
reason (unknown name, wrong password, no password set, disabled user), and it costs one scrypt in
every case (`hashing.dummy_hash` stands in where there is no hash), so neither the message nor the
time tells which user names exist.
"""

from __future__ import annotations

from fundtrail.access import sessions, stamp
from fundtrail.access.hashing import dummy_hash, hash_secret, verify_secret
from fundtrail.access.users import NAME_PATTERN, get_user
from fundtrail.errors import AuthError, UsageError
from fundtrail.store import Store

MIN_LENGTH, MAX_LENGTH = 10, 1024
LOGIN_REFUSED = "wrong user name or password"


def check_password(password: str, name: str) -> str:
    """`password` when it follows the rule (10..1024 characters, one line, not all whitespace, not
    the user name), else a UsageError on field `password` saying which part it breaks."""
    if not isinstance(password, str):
        raise UsageError("password must be text", field="password")
    if len(password) < MIN_LENGTH:
        raise UsageError(f"password is too short: at least {MIN_LENGTH} characters", field="password")
    if len(password) > MAX_LENGTH:
        raise UsageError(f"password is too long: at most {MAX_LENGTH} characters", field="password")
    if not password.strip():
        raise UsageError("password must not be only whitespace", field="password")
    if "\n" in password or "\r" in password:
        raise UsageError("password must be one line (no line breaks)", field="password")
    if password.strip().casefold() == name.casefold():
        raise UsageError("password must not be the user name", field="password")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError("password is not valid text (it cannot be encoded as UTF-8)", field="password") from None
    return password


def set_password(store: Store, name: str, password: str) -> None:
    """Store the hash of a new `password` for the existing user `name` and end their web sessions
    (in every process: the access stamp is bumped)."""
    get_user(store, name)
    check_password(password, name)
    hashed = hash_secret(password)
    with store.connect() as con:
        con.execute("UPDATE users SET password_hash = ? WHERE name = ?", [hashed, name])
    sessions.revoke_user_sessions(store, name)
    stamp.bump(store.root)


def check_login(store: Store, name: str, password: str, *, read_only: bool) -> tuple[str, str]:
    """(user, role) when `name` is an enabled user whose password is `password`; the one AuthError
    `wrong user name or password` for anything else, after one scrypt in every case."""
    refused = AuthError(LOGIN_REFUSED)
    usable = isinstance(password, str) and 0 < len(password) <= MAX_LENGTH
    given = password if usable else ""
    row = None
    if isinstance(name, str) and NAME_PATTERN.fullmatch(name):
        with store.connect(read_only=read_only) as con:
            row = con.execute("SELECT name, role, disabled_at, password_hash FROM users WHERE name = ?",
                              [name]).fetchone()
    stored = row[3] if row is not None and row[3] else dummy_hash()
    try:
        good = verify_secret(given, stored)
    except UnicodeEncodeError:  # a lone surrogate: no stored password can be it
        verify_secret("", stored)
        good = False
    if row is None or not row[3] or row[2] is not None or not usable or not good:
        raise refused
    return str(row[0]), str(row[1])
