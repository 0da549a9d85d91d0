"""Issue 13 item 10 (follow-up): `ingest ethereum --chain NAME` refuses an invalid name before
anything is opened: a new store directory is not created (it used to get an empty catalog)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import store_damage as sd


@pytest.mark.parametrize("name", ["eth main", "../../x", "Eth", "x'y"])
def test_invalid_chain_name_creates_nothing(name: str, etl_fixtures: Path, tmp_path: Path) -> None:
    recording = etl_fixtures / "test_stream" / "blocks_1755634_1755635"
    store = tmp_path / "new" / "store"
    code, out, err = sd.run(store, ["ingest", "ethereum", "--replay", str(recording), "--chain", name])
    assert code == 2 and err.count("\n") == 1 and "not a valid chain name" in err, err
    assert list(tmp_path.iterdir()) == []
