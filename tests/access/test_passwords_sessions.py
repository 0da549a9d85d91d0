"""Passwords and web sessions through the service layer: the password rule, the stored hash, login
and its one refusal, session cookies, their cache, expiry, logout, `passwd` and `disable`."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from pathlib import Path

import pytest

from fundtrail.access import users as access_users
from fundtrail.errors import AuthError, ConfigError, NotFoundError, StoreError, UsageError
from fundtrail.settings import Settings
from fundtrail.store import Store
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.access import AuditEntry, append_audit

PASSWORD = "correct horse battery"
SESSION = re.compile(r"fs_([0-9a-f]{12})_([A-Za-z0-9_-]{43,})")


def catalog(store_dir: Path, sql: str, args: list[object] | None = None) -> list[tuple[object, ...]]:
    with Store(store_dir).connect() as con:
        res = con.execute(sql, args or [])
        return res.fetchall() if res.description else []


@pytest.mark.parametrize(("password", "says"), [
    ("tiny-pw", "too short"), ("x" * 1025, "too long"), (" " * 12, "only whitespace"), ("\t \t" * 4, "whitespace"),
    ("one line\nand another", "one line"), ("pw-name-0001", "the user name"), (" PW-NAME-0001 ", "the user name"),
    ("\ud800" * 12, "UTF-8"),
])
def test_password_rule_names_the_field_and_changes_nothing(admin_ws: Workspace, password: str, says: str) -> None:
    with pytest.raises(UsageError, match=says) as err:
        admin_ws.users_add("pw-name-0001", role="analyst", password=password)
    assert err.value.field == "password" and err.value.one_line().startswith("password ")
    assert err.value.http_status == 422 and password not in err.value.one_line()
    with pytest.raises(NotFoundError):  # refused before the user was made
        admin_ws.users_get("pw-name-0001")
    with contextlib.suppress(UsageError):
        admin_ws.users_add("pw-name-0002", role="analyst")  # the same user for every parameter
    with pytest.raises(UsageError) as err:
        admin_ws.users_passwd("pw-name-0002", password.replace("0001", "0002"))
    assert err.value.field == "password"
    assert admin_ws.users_get("pw-name-0002").has_password is False


def test_edges_of_the_rule_are_accepted(admin_ws: Workspace) -> None:
    for i, ok in enumerate(("a" * 10, "ü" * 1024, "  padded password  ", "pass word with spaces")):
        assert admin_ws.users_add(f"edge{i}", role="auditor", password=ok).has_password


def test_only_a_salted_scrypt_hash_is_stored(admin_ws: Workspace, store_dir: Path) -> None:
    a = admin_ws.users_add("hash-a", role="investigator", password=PASSWORD)
    b = admin_ws.users_add("hash-b", role="analyst", password=PASSWORD)
    assert a.has_password and b.has_password and "password_hash" not in a.model_dump()
    rows = dict(catalog(store_dir, "SELECT name, password_hash FROM users WHERE name LIKE 'hash-%'"))
    for stored in rows.values():
        algo, params, salt, digest = str(stored).split("$")
        assert algo == "scrypt" and params == "n=16384,r=8,p=1" and len(salt) >= 22 and len(digest) >= 43
        assert PASSWORD not in str(stored)
    assert rows["hash-a"] != rows["hash-b"]  # same password, fresh salt
    listed = {u.name: u for u in admin_ws.users_list().users}
    assert listed["hash-a"].has_password and PASSWORD not in admin_ws.users_list().model_dump_json()
    assert admin_ws.users_add("hash-none", role="analyst").has_password is False


def test_login_gives_a_session_cookie(admin_ws: Workspace, server_ws: Workspace, store_dir: Path) -> None:
    admin_ws.users_add("lg-ok", role="investigator", password=PASSWORD)
    made = admin_ws.login("lg-ok", PASSWORD)
    m = SESSION.fullmatch(made.token)
    assert m is not None and m.group(1) == made.id and (made.user, made.role) == ("lg-ok", "investigator")
    created, expires, stored = catalog(store_dir, "SELECT created_at, expires_at, secret_hash FROM web_sessions "
                                                  "WHERE session_id = ?", [made.id])[0]
    assert isinstance(created, dt.datetime) and isinstance(expires, dt.datetime)
    assert expires - created == dt.timedelta(hours=12)  # settings.web_session_hours
    assert made.expires_at == expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert str(stored).startswith("scrypt$") and m.group(2) not in str(stored)
    actor = server_ws.authenticate_session(made.token)
    assert (actor.user, actor.role, actor.via) == ("lg-ok", "investigator", "web")
    assert server_ws.session_id(made.token) == made.id and server_ws.session_id("ft_x") is None
    other = admin_ws.login("lg-ok", PASSWORD)
    assert other.id != made.id and other.token != made.token


def test_every_login_refusal_reads_the_same(admin_ws: Workspace) -> None:
    admin_ws.users_add("lr-ok", role="analyst", password=PASSWORD)
    admin_ws.users_add("lr-nopw", role="analyst")
    admin_ws.users_add("lr-gone", role="analyst", password=PASSWORD)
    admin_ws.users_disable("lr-gone")
    messages = set()
    for name, password in [("lr-ok", PASSWORD + "x"), ("lr-ok", ""), ("lr-ok", "x" * 5000), ("lr-nobody", PASSWORD),
                           ("lr-nopw", PASSWORD), ("lr-nopw", ""), ("lr-gone", PASSWORD), ("bad name!", PASSWORD),
                           ("", PASSWORD), ("LR-OK", PASSWORD), ("lr-ok", "\ud800" * 12)]:
        with pytest.raises(AuthError) as err:
            admin_ws.login(name, password)
        assert err.value.http_status == 401 and err.value.field is None
        messages.add(err.value.one_line())
    assert messages == {"wrong user name or password"}
    assert admin_ws.login("lr-ok", PASSWORD).user == "lr-ok"


def test_logins_and_logouts_need_a_writable_workspace(server_ws: Workspace) -> None:
    for change in (lambda: server_ws.login("x", PASSWORD), lambda: server_ws.logout("fs_x"),
                   lambda: server_ws.users_passwd("x", PASSWORD), lambda: server_ws.sessions_purge()):
        with pytest.raises(StoreError, match="read-only"):
            change()


def test_sessions_are_cached_yet_every_end_is_seen_at_once(admin_ws: Workspace, server_ws: Workspace,
                                                           store_dir: Path) -> None:
    admin_ws.users_add("ca-user", role="analyst", password=PASSWORD)
    token = admin_ws.tokens_create("ca-user").token
    assert server_ws.authenticate(token).user == "ca-user"  # an API token verified and cached ...
    before = server_ws.access_stamp()
    made = admin_ws.login("ca-user", PASSWORD)
    assert server_ws.access_stamp() == before  # ... and a login does not drop it (nor anyone's)
    assert server_ws.authenticate_session(made.token).user == "ca-user"
    # the server answers from memory: the row gone without a change of the stamp is not noticed
    catalog(store_dir, "UPDATE web_sessions SET user_name = 'nobody' WHERE session_id = ?", [made.id])
    assert server_ws.authenticate_session(made.token).user == "ca-user"
    catalog(store_dir, "UPDATE web_sessions SET user_name = 'ca-user' WHERE session_id = ?", [made.id])
    admin_ws.logout(made.token)  # ... but an ending bumps the stamp: refused from the next call on
    with pytest.raises(AuthError):
        server_ws.authenticate_session(made.token)
    assert catalog(store_dir, "SELECT revoked_at IS NOT NULL FROM web_sessions WHERE session_id = ?",
                   [made.id]) == [(True,)]
    admin_ws.logout(made.token)  # twice, garbled, unknown: no error, no change
    for junk in ("", "garbage", "fs_0123456789ab_" + "A" * 43, "ft_0123456789ab_" + "A" * 43, "x" * 10_000):
        admin_ws.logout(junk)
    assert server_ws.authenticate(token).user == "ca-user"


def test_logout_needs_the_secret_not_just_the_id(admin_ws: Workspace, server_ws: Workspace) -> None:
    admin_ws.users_add("lo-user", role="analyst", password=PASSWORD)
    made = admin_ws.login("lo-user", PASSWORD)
    admin_ws.logout(f"fs_{made.id}_" + "B" * 43)
    assert server_ws.authenticate_session(made.token).user == "lo-user"


def test_expiry_is_checked_on_every_call(admin_ws: Workspace, server_ws: Workspace, store_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    admin_ws.users_add("ex-user", role="analyst", password=PASSWORD)
    made = admin_ws.login("ex-user", PASSWORD)
    assert server_ws.authenticate_session(made.token).user == "ex-user"  # now cached
    later = access_users.now() + dt.timedelta(hours=13)
    with monkeypatch.context() as m:  # the clock moved past the expiry: the cached entry is refused too
        m.setattr(access_users, "now", lambda: later)
        with pytest.raises(AuthError):
            server_ws.authenticate_session(made.token)
    # an expiry moved into the past in the catalog: a fresh process refuses it
    second = admin_ws.login("ex-user", PASSWORD)
    catalog(store_dir, "UPDATE web_sessions SET expires_at = ? WHERE session_id = ?",
            [access_users.now() - dt.timedelta(minutes=1), second.id])
    fresh = Workspace.open(store=store_dir, actor=Actor(user="server2", via="web"))
    with pytest.raises(AuthError) as err:
        fresh.authenticate_session(second.token)
    assert err.value.http_status == 401


def test_a_shorter_lifetime_from_the_settings(store_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                              admin_ws: Workspace) -> None:
    admin_ws.users_add("short-life", role="analyst", password=PASSWORD)
    monkeypatch.setenv("FUNDTRAIL_WEB_SESSION_HOURS", "2")
    ws = Workspace.open(Settings.load(store=store_dir), writable=True)
    made = ws.login("short-life", PASSWORD)
    created, expires = catalog(store_dir, "SELECT created_at, expires_at FROM web_sessions WHERE session_id = ?",
                               [made.id])[0]
    assert isinstance(created, dt.datetime) and isinstance(expires, dt.datetime)
    assert expires - created == dt.timedelta(hours=2)
    for key, bad in (("web_session_hours", 0), ("web_session_hours", 721), ("web_login_per_minute", 0),
                     ("web_login_per_minute", 10_001), ("web_login_per_minute", "many")):
        with pytest.raises(ConfigError, match=key):
            Settings.load(store=store_dir, **{key: bad})
    assert Settings.load(store=store_dir).web_login_per_minute == 10


def test_passwd_and_disable_end_the_users_sessions(admin_ws: Workspace, server_ws: Workspace) -> None:
    admin_ws.users_add("pd-user", role="investigator", password=PASSWORD)
    admin_ws.users_add("pd-bystander", role="analyst", password=PASSWORD)
    one, two = admin_ws.login("pd-user", PASSWORD), admin_ws.login("pd-user", PASSWORD)
    bystander = admin_ws.login("pd-bystander", PASSWORD)
    for s in (one, two, bystander):
        server_ws.authenticate_session(s.token)
    rec = admin_ws.users_passwd("pd-user", "a brand new secret")
    assert rec.has_password and rec.name == "pd-user"
    for s in (one, two):
        with pytest.raises(AuthError):
            server_ws.authenticate_session(s.token)
    assert server_ws.authenticate_session(bystander.token).user == "pd-bystander"
    with pytest.raises(AuthError, match="wrong user name or password"):
        admin_ws.login("pd-user", PASSWORD)
    three = admin_ws.login("pd-user", "a brand new secret")
    assert server_ws.authenticate_session(three.token).role == "investigator"
    admin_ws.users_disable("pd-user")
    with pytest.raises(AuthError):
        server_ws.authenticate_session(three.token)
    with pytest.raises(AuthError, match="wrong user name or password"):
        admin_ws.login("pd-user", "a brand new secret")
    with pytest.raises(NotFoundError) as nf:
        admin_ws.users_passwd("pd-nobody", PASSWORD)
    assert nf.value.field == "name"


def test_a_session_is_never_a_token_nor_a_token_a_session(admin_ws: Workspace, server_ws: Workspace) -> None:
    admin_ws.users_add("both", role="analyst", password=PASSWORD)
    token = admin_ws.tokens_create("both").token
    session = admin_ws.login("both", PASSWORD).token
    assert server_ws.authenticate(token).via == "api"  # both verified and cached first
    assert server_ws.authenticate_session(session).via == "web"
    with pytest.raises(AuthError):
        server_ws.authenticate(session)
    with pytest.raises(AuthError):
        server_ws.authenticate_session(token)
    same_secret = "ft_" + session[3:]  # the session's id and secret dressed as a token
    with pytest.raises(AuthError):
        server_ws.authenticate(same_secret)
    with pytest.raises(AuthError):
        server_ws.authenticate_session("fs_" + token[3:])
    messages = set()
    for bad in ("", "fs_", session + "x", session.upper(), "x" * 300, "fs_zz_" + "A" * 43):
        with pytest.raises(AuthError) as err:
            server_ws.authenticate_session(bad)
        messages.add(err.value.one_line())
    assert len(messages) == 1


def test_sessions_purge_deletes_only_long_ended_ones(admin_ws: Workspace, store_dir: Path) -> None:
    admin_ws.users_add("pg-user", role="analyst", password=PASSWORD)
    live, expired, revoked, fresh_end = (admin_ws.login("pg-user", PASSWORD) for _ in range(4))
    two_days_ago = access_users.now() - dt.timedelta(days=2)
    catalog(store_dir, "UPDATE web_sessions SET expires_at = ? WHERE session_id = ?", [two_days_ago, expired.id])
    catalog(store_dir, "UPDATE web_sessions SET revoked_at = ? WHERE session_id = ?", [two_days_ago, revoked.id])
    admin_ws.logout(fresh_end.token)
    assert admin_ws.sessions_purge() >= 2
    left = {r[0] for r in catalog(store_dir, "SELECT session_id FROM web_sessions")}
    assert {live.id, fresh_end.id} <= left and not {expired.id, revoked.id} & left
    assert admin_ws.sessions_purge() == 0


def test_session_cookies_never_reach_the_audit_log(store_dir: Path, admin_ws: Workspace) -> None:
    admin_ws.users_add("au-user", role="analyst", password=PASSWORD)
    made = admin_ws.login("au-user", PASSWORD)
    rec = append_audit(store_dir, AuditEntry(user="au-user", via="web", action="GET /search",
                                             subjects=[made.token], params={"q": f"see {made.token}",
                                                                            "password": PASSWORD}))
    text = (store_dir / "audit" / "audit.log").read_text()
    assert made.token not in text and PASSWORD not in text
    assert rec.subjects == ["[redacted]"] and rec.params == {"q": "see [redacted]", "password": "[redacted]"}
