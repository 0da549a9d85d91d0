"""Service operations: users, passwords, roles, API tokens, web sessions and the audit log
(domain: `fundtrail.access`).

The interfaces reach access control only through here: the API authenticates a bearer token with
`authenticate`, the web workbench a session cookie with `authenticate_session` (both answered from
memory after the first slow-hash check, and dropped as soon as any user, token or session ends),
checks the route's permission with `allows`/`require`, and records every request with
`audit_append`; the CLI records every command the same way (`cli/audit.py`). Users, passwords,
tokens, logins and logouts are catalog changes (a writable workspace); the audit log is its own
append-only file and is written by read-only workspaces too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from fundtrail.access import audit, passwords, sessions, stamp, tokens, users
from fundtrail.access.audit_verify import verify_log
from fundtrail.access.hashing import hash_secret
from fundtrail.access.passwords import check_password
from fundtrail.access.roles import PERMISSIONS, ROLES, allows, check_role, require
from fundtrail.errors import AuditError, AuthError, UsageError
from fundtrail.store.lake import CATALOG
from fundtrail.workspace.core import Actor, Model, Via, WorkspaceBase, check_limit, decode_cursor, encode_cursor

__all__ = ["PERMISSIONS", "ROLES", "AccessOps", "AuditEntry", "AuditPage", "AuditProblem", "AuditRecord",
           "AuditVerifyResult", "SessionCreated", "TokenCreateResult", "TokenRecord", "TokensListResult", "UserRecord",
           "UsersListResult", "allows", "append_audit", "append_audit_many", "check_audit_writable", "check_password",
           "check_role", "is_store", "require"]

_CACHE_MAX = 10_000


def _iso(value: Any) -> str | None:
    """A catalog timestamp (naive UTC) as ISO 8601 UTC with `Z`."""
    if value is None:
        return None
    assert isinstance(value, dt.datetime)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class UserRecord(Model):
    """A user: name, role, who created and disabled them and when (times ISO 8601 UTC), and
    whether they have a password for the web workbench (never the password or its hash)."""

    name: str
    role: str
    active: bool
    has_password: bool
    created_at: str
    created_by: str | None = None
    disabled_at: str | None = None
    disabled_by: str | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> UserRecord:
        return cls(name=row["name"], role=row["role"], active=row["disabled_at"] is None,
                   has_password=bool(row["has_password"]), created_at=_iso(row["created_at"]) or "",
                   created_by=row["created_by"], disabled_at=_iso(row["disabled_at"]), disabled_by=row["disabled_by"])


class UsersListResult(Model):
    """Every user, by name."""

    users: list[UserRecord]


class TokenCreateResult(Model):
    """A new token: shown this once, never stored or shown again."""

    token: str
    id: str
    user: str


class SessionCreated(Model):
    """A new web session after a successful login: `token` is the cookie value, in this result
    only (`fs_<id>_<secret>`); `id` names the session in logs; `expires_at` ISO 8601 UTC."""

    token: str
    id: str
    user: str
    role: str
    expires_at: str


class TokenRecord(Model):
    """A token as listings show it: its id and owner, never the token or its hash."""

    id: str
    user: str
    active: bool
    created_at: str
    created_by: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> TokenRecord:
        return cls(id=row["id"], user=row["user"], active=row["revoked_at"] is None,
                   created_at=_iso(row["created_at"]) or "", created_by=row["created_by"],
                   revoked_at=_iso(row["revoked_at"]), revoked_by=row["revoked_by"])


class TokensListResult(Model):
    """Token records, oldest first."""

    tokens: list[TokenRecord]


class AuditEntry(Model):
    """What an interface records about one lookup or change (the log adds seq, time and hashes).

    `action` is the CLI command path (`trace`, `cluster show`) or the API method and route
    template (`GET /api/v1/{chain}/addresses/{address}`); `subjects` the addresses, txids, outputs,
    cluster and case ids asked about; `params` the other request parameters (values under
    secret-like names are redacted); `result_size` counts `result_unit`s; `outcome` is `ok` or
    the error code; `status` the HTTP status or exit code."""

    user: str
    role: str | None = None
    via: Via = "python"
    action: str = Field(min_length=1)
    subjects: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    result_size: int | None = None
    result_unit: Literal["items", "bytes"] | None = None
    outcome: str = "ok"
    status: int = 0

    @classmethod
    def of(cls, actor: Actor, action: str, **fields: Any) -> AuditEntry:
        """An entry for what `actor` did."""
        return cls(user=actor.user, role=actor.role, via=actor.via, action=action, **fields)


class AuditRecord(Model):
    """One record of the audit log, exactly as stored (docs/security.md)."""

    seq: int
    time: str
    user: str
    role: str | None
    via: str
    action: str
    subjects: list[str]
    params: dict[str, Any]
    result_size: int | None
    result_unit: str | None
    outcome: str
    status: int
    prev: str
    hash: str


class AuditPage(Model):
    """Audit records, oldest first (newest last); `next_cursor` continues with OLDER records."""

    records: list[AuditRecord]
    limit: int
    next_cursor: str | None = None


class AuditProblem(Model):
    """The first bad record: its line in audit/audit.log, its seq (when readable), what is wrong."""

    line: int | None
    seq: int | None
    what: str


class AuditVerifyResult(Model):
    """The verdict of `audit verify`: ok, how many records were found good, the last seq and hash
    (to note down: a later verify must reach them), the head anchor, and the first problem."""

    ok: bool
    records: int
    last_seq: int
    last_hash: str
    head_seq: int | None
    head_hash: str | None
    problem: AuditProblem | None = None
    note: str | None = None


def is_store(root: Path) -> bool:
    """True when `root` holds a store catalog (a directory without one has nothing to audit)."""
    return bool((Path(root) / CATALOG).is_file())


def check_audit_writable(root: Path) -> None:
    """AuditError unless a record can be appended to the audit log of the store at `root` now."""
    audit.audit_log(root).check_writable()


def append_audit(root: Path, entry: AuditEntry) -> AuditRecord:
    """Append `entry` to the audit log of the store at `root`, returning once it is on disk."""
    result = append_audit_many(root, [entry])[0]
    if isinstance(result, AuditError):
        raise result
    return result


def append_audit_many(root: Path, entries: list[AuditEntry]) -> list[AuditRecord | AuditError]:
    """Append `entries` in order in one group commit; per entry its record once on disk, or the
    AuditError that kept it off (returned, not raised: each request of a batch fails alone)."""
    data = [_audit_data(entry) for entry in entries]
    return [out if isinstance(out, AuditError) else AuditRecord(**out)
            for out in audit.audit_log(root).append_many(data)]


def _audit_data(entry: AuditEntry) -> dict[str, Any]:
    data = entry.model_dump(mode="json")
    data["params"] = audit.scrub(data["params"])
    data["subjects"] = audit.scrub(data["subjects"])
    return data


def _time_bound(value: str | None, field: str) -> str | None:
    """An ISO 8601 time or date (UTC unless it says otherwise) or unix seconds, in the log's form."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        when = dt.datetime.fromtimestamp(float(text), dt.UTC)
    except ValueError:
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"{field} {value!r} is not a time (ISO 8601 such as 2024-05-01T12:00:00Z, "
                             "or unix seconds)", field=field) from None
    except (OverflowError, OSError):
        raise UsageError(f"{field} {value!r} is out of range", field=field) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _AuthCache:
    """Verified tokens and sessions of this workspace, in memory only: key HMAC-SHA256(token) under
    a random per-process key (the tokens themselves are never kept), valid while the access stamp is."""

    def __init__(self) -> None:
        self.key = os.urandom(32)
        self.stamp: tuple[int, int, int] | bool | None = False  # False: never checked
        self.entries: dict[bytes, tuple[str, str, str]] = {}
        #: web sessions apart from tokens, so neither is ever answered for the other; with expiry
        self.sessions: dict[bytes, tuple[str, str, str, dt.datetime]] = {}
        self.lock = threading.Lock()


class AccessOps(WorkspaceBase):
    """Users, tokens, authentication and the audit log."""

    # -- users and tokens (catalog changes) ------------------------------------------------------
    def users_add(self, name: str, *, role: str, password: str | None = None) -> UserRecord:
        """Create user `name` with `role` (analyst, investigator, auditor, admin) and, for the web
        workbench, a `password` (10..1024 characters, not the name; only its slow salted hash is
        stored). Without one the user works with API tokens only."""
        users.check_name(name)
        check_role(role)
        if password is not None:
            check_password(password, name)
        self.require_writable("adding a user")
        hashed = hash_secret(password) if password is not None else None
        return UserRecord.of(users.add_user(self.store, name, role, by=self.actor.user, password_hash=hashed))

    def users_passwd(self, name: str, password: str) -> UserRecord:
        """Set (or replace) the password of user `name`; their open web sessions end in every
        process from the next request on."""
        users.check_name(name)
        check_password(password, name)
        self.require_writable("setting a password")
        passwords.set_password(self.store, name, password)
        return UserRecord.of(users.get_user(self.store, name))

    def users_get(self, name: str) -> UserRecord:
        """The user `name`; NotFoundError (field `name`) when there is none."""
        return UserRecord.of(users.get_user(self.store, name, read_only=not self.writable))

    def users_list(self) -> UsersListResult:
        """Every user, by name."""
        rows = users.list_users(self.store, read_only=not self.writable)
        return UsersListResult(users=[UserRecord.of(r) for r in rows])

    def users_disable(self, name: str) -> UserRecord:
        """Disable `name`: their tokens and web sessions are refused from the next request on."""
        users.check_name(name)
        self.require_writable("disabling a user")
        return UserRecord.of(users.disable_user(self.store, name, by=self.actor.user))

    def tokens_create(self, user: str) -> TokenCreateResult:
        """A new API token for `user`; the token is in this result only."""
        users.check_name(user, field="user")
        self.require_writable("creating a token")
        return TokenCreateResult(**tokens.create_token(self.store, user, by=self.actor.user))

    def tokens_revoke(self, token_id: str) -> TokenRecord:
        """Revoke token `token_id`: refused from the next request on."""
        tokens.check_id(token_id)
        self.require_writable("revoking a token")
        return TokenRecord.of(tokens.revoke_token(self.store, token_id, by=self.actor.user))

    def tokens_list(self, *, user: str | None = None) -> TokensListResult:
        """Token records (of one user), never the tokens."""
        if user is not None:
            users.check_name(user, field="user")
        rows = tokens.list_tokens(self.store, user=user, read_only=not self.writable)
        return TokensListResult(tokens=[TokenRecord.of(r) for r in rows])

    # -- authentication --------------------------------------------------------------------------
    def _auth_cache(self) -> _AuthCache:
        found = self.__dict__.get("_access_auth_cache")
        if isinstance(found, _AuthCache):
            return found
        made: _AuthCache = self.__dict__.setdefault("_access_auth_cache", _AuthCache())
        return made

    def access_stamp(self) -> tuple[int, int, int] | None:
        """The stamp every users/tokens change bumps (one `os.stat`): a server keeps what it
        verified while the stamp is unchanged and drops it at once when it changes."""
        return stamp.current(self.store.root)

    def authenticate(self, token: str, *, via: Via = "api") -> Actor:
        """The actor (user, role) a bearer token stands for; AuthError for a malformed, unknown
        or revoked token or a disabled user, without saying which. Fast after the first check:
        verified tokens are remembered until any user or token changes."""
        if not isinstance(token, str) or not 0 < len(token) <= 256:
            raise AuthError("the token is not valid", hint="ask an admin for a token")
        _digest, hit = self._verified(token, session=False)
        return Actor(user=hit[1], role=hit[2], via=via)

    def _verified(self, token: str, *, session: bool) -> tuple[bytes, Any]:
        """The verification of an API token or a session (`session`), from memory when this
        process checked it since the access stamp last changed (any change drops both kinds),
        else from the catalog (slow hash), then remembered; with the token's digest."""
        cache = self._auth_cache()
        now = stamp.current(self.store.root)
        digest = hmac.new(cache.key, token.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        with cache.lock:
            if cache.stamp != now:
                cache.entries.clear()
                cache.sessions.clear()
                cache.stamp = now
            table: dict[bytes, Any] = cache.sessions if session else cache.entries
            hit = table.get(digest)
        if hit is None:
            verify = sessions.verify if session else tokens.verify
            hit = verify(self.store, token, read_only=not self.writable)
            with cache.lock:
                if cache.stamp == now:
                    if len(table) >= _CACHE_MAX:
                        table.clear()
                    table[digest] = hit
        return digest, hit

    # -- web sessions ----------------------------------------------------------------------------
    def login(self, name: str, password: str) -> SessionCreated:
        """A new web session for user `name` with `password`, lasting `web_session_hours`. An
        unknown name, a wrong password, a user without a password and a disabled user all get
        the same AuthError `wrong user name or password`, after the same slow hash. Does not drop
        what other processes cached (a login changes nobody else's access)."""
        self.require_writable("logging in")
        user, role = passwords.check_login(self.store, name, password, read_only=False)
        made = sessions.create_session(self.store, user, hours=self.settings.web_session_hours)
        return SessionCreated(token=made["token"], id=made["id"], user=user, role=role,
                              expires_at=_iso(made["expires_at"]) or "")

    def logout(self, token: str) -> None:
        """End the session `token` in every process; an unknown, garbled or ended one: nothing."""
        self.require_writable("logging out")
        sessions.revoke_session(self.store, token)

    def authenticate_session(self, token: str) -> Actor:
        """The actor (user, role, via `web`) of a valid, unexpired session cookie of an enabled
        user; AuthError otherwise (an API token is never a session). Fast after the first check,
        like `authenticate`; the expiry is checked on every call."""
        if not isinstance(token, str) or not 0 < len(token) <= 256:
            raise sessions.refused()
        digest, hit = self._verified(token, session=True)
        if hit[3] <= users.now():
            cache = self._auth_cache()
            with cache.lock:
                cache.sessions.pop(digest, None)
            raise sessions.refused()
        return Actor(user=hit[1], role=hit[2], via="web")

    def sessions_purge(self) -> int:
        """Delete the records of sessions that ended (expired or revoked) over a day ago; returns
        how many. Ended sessions are refused anyway: this only keeps the table small."""
        self.require_writable("purging sessions")
        return sessions.purge(self.store)

    @staticmethod
    def session_id(token: str) -> str | None:
        """The id part of a session cookie shaped like one (for logs and rate limits), else None;
        says nothing about whether the session is valid."""
        match = sessions.SESSION_PATTERN.fullmatch(token) if isinstance(token, str) else None
        return match.group(1) if match else None

    @staticmethod
    def token_id(token: str) -> str | None:
        """The id part of a token shaped like one (for rate limits and logs), else None; says
        nothing about whether the token is valid."""
        match = tokens.TOKEN_PATTERN.fullmatch(token) if isinstance(token, str) else None
        return match.group(1) if match else None

    # -- the audit log ---------------------------------------------------------------------------
    def audit_append(self, record: AuditEntry) -> AuditRecord:
        """Append one record and return it once it is on disk; AuditError (and the request must
        fail) when it cannot be written. Works on a read-only workspace."""
        return append_audit(self.store.root, record)

    def audit_append_many(self, records: list[AuditEntry]) -> list[AuditRecord | AuditError]:
        """Append `records` in order in one group commit (a server's waiting requests at once);
        per record its stored form, or the AuditError that kept it off the disk."""
        return append_audit_many(self.store.root, records)

    def audit_check_writable(self) -> None:
        """AuditError unless a record could be appended now."""
        check_audit_writable(self.store.root)

    def audit_show(self, *, user: str | None = None, since: str | None = None, until: str | None = None,
                   limit: int = 100, cursor: str | None = None) -> AuditPage:
        """The last `limit` records matching (by user; time from `since` up to `until`), oldest
        first; `next_cursor` pages back to older ones."""
        check_limit(limit, maximum=10_000)
        lo, hi = _time_bound(since, "since"), _time_bound(until, "until")
        pos = decode_cursor(cursor, ("before",))
        before = pos["before"] if pos else None
        if before is not None and not isinstance(before, int):
            raise UsageError("cursor is not a cursor this listing returned", field="cursor")
        found: list[dict[str, Any]] = []
        more = False
        for _line, rec in audit.iter_records(self.store.root / audit.AUDIT_DIR / audit.LOG_NAME):
            if before is not None and rec.get("seq", 0) >= before:
                break
            if user is not None and rec.get("user") != user:
                continue
            t = str(rec.get("time", ""))
            if (lo is not None and t < lo) or (hi is not None and t > hi):
                continue
            found.append(rec)
            if len(found) > limit:
                found.pop(0)
                more = True
        page = [AuditRecord(**r) for r in found]
        nxt = encode_cursor({"before": page[0].seq}) if more and page else None
        return AuditPage(records=page, limit=limit, next_cursor=nxt)

    def audit_verify(self) -> AuditVerifyResult:
        """Check every record, the chain and the head anchor; names the first bad record."""
        res = verify_log(self.store.root)
        head = res["head"]
        return AuditVerifyResult(
            ok=res["ok"], records=res["records"], last_seq=res["last_seq"], last_hash=res["last_hash"],
            head_seq=head["seq"] if head else None, head_hash=head["hash"] if head else None,
            problem=AuditProblem(**res["problem"]) if res["problem"] else None, note=res["note"])
