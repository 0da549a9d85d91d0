"""Schema 8 -> 9 (cases): a store built before cases keeps everything and gains case files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.errors import StoreError
from fundtrail.store import Store, migrations
from support.schema import make_older
from fundtrail.workspace import Actor, Workspace



def test_migrate_8_to_9_keeps_everything(built: dict[str, Any], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    root = built["store"]
    ws = Workspace.open(store=root, writable=True, actor=Actor(user="mig-admin"))
    ws.users_add("mig-user", role="investigator")
    graph = ws.graph_save("before cases", "btc-regtest", {"nodes": [1, 2]})
    before = (ws.users_list().model_dump(), ws.graph_list().model_dump(), ws.status().model_dump())
    make_older(root, 8)
    assert Store(root).schema_version() == 8
    with pytest.raises(StoreError) as old:
        Workspace.open(store=root)  # reading never migrates
    assert "fundtrail migrate" in old.value.one_line()
    assert main(["--store", str(root), "migrate", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["from_version"] == 8 and res["applied_now"] == list(range(9, migrations.LATEST + 1))
    assert res["schema_version"] == migrations.LATEST
    after_ws = Workspace.open(store=root, actor=Actor(user="mig-admin"))
    status = after_ws.status().model_dump()
    assert status.pop("schema_version") == before[2].pop("schema_version") == migrations.LATEST
    assert (after_ws.users_list().model_dump(), after_ws.graph_list().model_dump()) == before[:2]
    assert after_ws.graph_load(graph.id).document == {"nodes": [1, 2]}
    assert {k: v for k, v in status.items() if k != "store_bytes"} == \
        {k: v for k, v in before[2].items() if k != "store_bytes"}
    assert after_ws.case_list().cases == []
    assert main(["--store", str(root), "--as", "mig-user", "case", "new", "--title", "After", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert [c.id for c in Workspace.open(store=root, actor=Actor(user="mig-user")).case_list().cases] == [made["id"]]
