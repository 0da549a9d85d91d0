"""Schema 6 -> 7 (web sessions): an older store keeps its users and tokens, and gains logins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.errors import StoreError
from fundtrail.store import Store, migrations
from support.schema import make_older
from fundtrail.workspace import Actor, Workspace


def test_migrate_6_to_7_keeps_users_and_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "store"
    ws = Workspace.open(store=root, create=True, actor=Actor(user="old-admin", via="python"))
    ws.users_add("old-inv", role="investigator")
    ws.users_add("old-gone", role="analyst")
    token = ws.tokens_create("old-inv").token
    ws.users_disable("old-gone")
    before = ws.users_list().model_dump()
    make_older(root, 6)
    assert Store(root).schema_version() == 6
    with Store(root).connect(read_only=True) as con:
        assert not con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'web_sessions'").fetchall()
    with pytest.raises(StoreError) as err:
        Workspace.open(store=root)
    assert "fundtrail migrate" in err.value.one_line()
    assert main(["--store", str(root), "migrate", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["from_version"] == 6 and 7 in res["applied_now"] and res["schema_version"] == migrations.LATEST
    server = Workspace.open(store=root)
    assert server.users_list().model_dump() == before
    assert all(u["has_password"] is False for u in before["users"])
    assert server.authenticate(token).user == "old-inv"
    admin = Workspace.open(store=root, writable=True)
    admin.users_passwd("old-inv", "a password at last")
    session = admin.login("old-inv", "a password at last")
    assert server.authenticate_session(session.token).role == "investigator"
    assert server.authenticate(token).user == "old-inv"  # the token is untouched by the password
