"""Users and API tokens: validation, slow salted hashes, authentication and its cache."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fundtrail.errors import AuthError, NotFoundError, StoreError, UsageError
from fundtrail.store import Store
from fundtrail.workspace import Workspace


def test_users_add_list_disable(admin_ws: Workspace) -> None:
    u = admin_ws.users_add("ana.lyst@pd", role="analyst")
    assert (u.name, u.role, u.active, u.created_by) == ("ana.lyst@pd", "analyst", True, "root-admin")
    assert u.created_at.endswith("Z") and "T" in u.created_at
    assert "ana.lyst@pd" in [x.name for x in admin_ws.users_list().users]
    d = admin_ws.users_disable("ana.lyst@pd")
    assert not d.active and d.disabled_by == "root-admin" and d.disabled_at
    assert admin_ws.users_disable("ana.lyst@pd").disabled_at == d.disabled_at  # idempotent


@pytest.mark.parametrize(("name", "role", "field"), [
    ("", "analyst", "name"), ("a b", "analyst", "name"), ("x" * 65, "analyst", "name"),
    ("ok-name", "boss", "role"), ("semi;colon", "admin", "name"),
])
def test_bad_user_input_names_the_field(admin_ws: Workspace, name: str, role: str, field: str) -> None:
    with pytest.raises(UsageError) as err:
        admin_ws.users_add(name, role=role)
    assert err.value.field == field


def test_duplicate_user_and_unknown_user(admin_ws: Workspace) -> None:
    admin_ws.users_add("dup", role="auditor")
    with pytest.raises(UsageError, match="already a user") as err:
        admin_ws.users_add("dup", role="admin")
    assert err.value.field == "name"
    with pytest.raises(NotFoundError) as nf:
        admin_ws.users_disable("nobody")
    assert nf.value.field == "name"
    with pytest.raises(NotFoundError) as nf:
        admin_ws.tokens_create("nobody")
    assert nf.value.field == "user"


def test_read_only_workspace_refuses_changes(server_ws: Workspace) -> None:
    for change in (lambda: server_ws.users_add("ro", role="admin"), lambda: server_ws.tokens_create("dup"),
                   lambda: server_ws.users_disable("dup"), lambda: server_ws.tokens_revoke("0" * 12)):
        with pytest.raises(StoreError, match="read-only"):
            change()


def test_token_format_and_only_a_slow_salted_hash_stored(admin_ws: Workspace, store_dir: Path) -> None:
    admin_ws.users_add("inv", role="investigator")
    made = admin_ws.tokens_create("inv")
    prefix, tid, secret = made.token.split("_", 2)
    assert prefix == "ft" and tid == made.id and len(tid) == 12 and len(secret) >= 43
    with Store(store_dir).connect(read_only=True) as con:
        stored = con.execute("SELECT secret_hash FROM api_tokens WHERE token_id = ?", [tid]).fetchone()[0]
    algo, params, salt, digest = stored.split("$")
    assert algo == "scrypt" and params == "n=16384,r=8,p=1" and len(salt) >= 22 and len(digest) >= 43
    assert secret not in stored and made.token not in stored
    again = admin_ws.tokens_create("inv")
    with Store(store_dir).connect(read_only=True) as con:
        other = con.execute("SELECT secret_hash FROM api_tokens WHERE token_id = ?", [again.id]).fetchone()[0]
    assert other.split("$")[2] != salt  # a fresh salt per token
    listed = admin_ws.tokens_list(user="inv").tokens
    assert {t.id for t in listed} == {made.id, again.id}
    assert made.token not in str([t.model_dump() for t in listed])


def test_authenticate_and_its_cache_see_revocation_at_once(admin_ws: Workspace, server_ws: Workspace) -> None:
    admin_ws.users_add("cached", role="analyst")
    token = admin_ws.tokens_create("cached")
    actor = server_ws.authenticate(token.token)
    assert (actor.user, actor.role, actor.via) == ("cached", "analyst", "api")
    t0 = time.perf_counter()
    for _ in range(50):
        server_ws.authenticate(token.token)
    per_call = (time.perf_counter() - t0) / 50
    assert per_call < 0.005  # answered from memory, not by a 2**14 scrypt (tens of ms)
    admin_ws.tokens_revoke(token.id)
    with pytest.raises(AuthError):
        server_ws.authenticate(token.token)
    assert admin_ws.tokens_revoke(token.id).revoked_by == "root-admin"  # twice: no change, no error


def test_disabling_a_user_refuses_their_tokens_next_request(admin_ws: Workspace, server_ws: Workspace) -> None:
    admin_ws.users_add("leaver", role="investigator")
    token = admin_ws.tokens_create("leaver").token
    assert server_ws.authenticate(token).role == "investigator"
    admin_ws.users_disable("leaver")
    with pytest.raises(AuthError):
        server_ws.authenticate(token)
    with pytest.raises(UsageError, match="disabled") as err:
        admin_ws.tokens_create("leaver")
    assert err.value.field == "user"


def test_every_refusal_reads_the_same(admin_ws: Workspace, server_ws: Workspace) -> None:
    admin_ws.users_add("probe", role="analyst")
    good = admin_ws.tokens_create("probe").token
    tid = good.split("_")[1]
    wrong_secret = f"ft_{tid}_" + "A" * 43
    unknown_id = "ft_0123456789ab_" + good.split("_", 2)[2]
    messages = set()
    for bad in ("", "Bearer x", "ft_zz_abc", wrong_secret, unknown_id, good + "x", "ft_" + tid, "x" * 1000):
        with pytest.raises(AuthError) as err:
            server_ws.authenticate(bad)
        assert err.value.http_status == 401 and tid not in err.value.one_line()
        messages.add(err.value.one_line())
    assert len(messages) == 1
    assert server_ws.authenticate(good).user == "probe"
    assert server_ws.token_id(good) == tid and server_ws.token_id("nonsense") is None


def test_bad_token_ids_name_the_field(admin_ws: Workspace) -> None:
    with pytest.raises(UsageError) as err:
        admin_ws.tokens_revoke("../etc")
    assert err.value.field == "token_id"
    with pytest.raises(NotFoundError) as nf:
        admin_ws.tokens_revoke("abcdefabcdef")
    assert nf.value.field == "token_id"
