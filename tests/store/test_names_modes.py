"""Issue 13 items 10 and 11: chain names that could reach SQL or paths are refused at the edge and
in the store; store paths with quotes work; a chain is registered only under its writer lock; store
files are private (0600 in 0700 directories)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support import store_damage as sd
from support.realchain import blocks_dir

from fundtrail.errors import StoreError, UsageError
from fundtrail.model.chains import check_chain_name
from fundtrail.store import Store


@pytest.mark.parametrize("name", ["eth main", "../../x", "x'; DROP TABLE batches; --", "", "Eth", "1eth",
                                  "a" * 33, "eth/main", "eth_main"])
def test_bad_chain_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a valid chain name"):
        check_chain_name(name)
    store = Store.open(tmp_path / "s")
    with pytest.raises(UsageError):
        store.ensure_chain(name, "account", "x")
    assert store.chains() == [] and not any(p.name.startswith(".ingest-") for p in store.root.iterdir())


@pytest.mark.parametrize("name", ["eth main", "../../x"])
def test_ingest_with_a_bad_chain_name_leaves_the_store_usable(name: str, etl_fixtures: Path, tmp_path: Path) -> None:
    """`--chain "eth main"` was accepted and broke every later read; `../../x` left the store unusable."""
    recording = etl_fixtures / "test_stream" / "blocks_1755634_1755635"
    store = tmp_path / "s"
    argv = ["ingest", "ethereum", "--replay", str(recording), "--chain", "eth", "--chain-id", "1"]
    assert sd.run(store, argv)[0] == 0
    before = sd.state(store)
    code, _, err = sd.run(store, ["ingest", "ethereum", "--replay", str(recording), "--chain", name,
                                 "--chain-id", "1"])
    assert code == 2 and err.count("\n") == 1 and "not a valid chain name" in err
    assert sd.state(store) == before and not (tmp_path / "x").exists()
    assert not list(tmp_path.rglob(".ingest-*x*"))
    for argv in (["status"], ["fsck"], ["export", "transfers", "--chain", "eth"]):
        code, _, err = sd.run(store, argv)
        assert code == 0, (argv, err)


def test_store_path_with_a_quote(testdata: Path, tmp_path: Path) -> None:
    """A store path containing ' used to break ingest and every read."""
    store = tmp_path / "it's store"
    bdir = blocks_dir(testdata, tmp_path)
    for argv in (["ingest", "bitcoin", "--blocks-dir", str(bdir)], ["status"], ["fsck"],
                 ["trace", sd.TRACE_TXID]):
        code, out, err = sd.run(store, argv)
        assert code == 0, (argv, err)
    code, out, _ = sd.run(store, ["export", "transactions"])
    assert code == 0 and len(out.splitlines()) == 616


def test_a_legacy_chain_with_an_invalid_name_does_not_break_the_store(testdata: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    assert sd.run(store, ["ingest", "bitcoin", "--blocks-dir", str(blocks_dir(testdata, tmp_path))])[0] == 0
    with Store(store).connect() as con:  # as an older version registered it
        con.execute("INSERT INTO chains (chain, family, network) VALUES ('eth main', 'account', 'eth main')")
    code, out, err = sd.run(store, ["export", "transactions"])
    assert code == 0 and len(out.splitlines()) == 616, err


def test_chain_is_registered_only_under_its_writer_lock(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    lock = store.root / ".ingest-btc-regtest.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)", str(lock)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match="another fundtrail process is ingesting btc-regtest"):
            store.ensure_chain("btc-regtest", "utxo", "regtest")
        assert store.chains() == []
    finally:
        holder.kill()
        holder.wait()
    store.ensure_chain("btc-regtest", "utxo", "regtest")
    assert [c["chain"] for c in store.chains()] == ["btc-regtest"]


def test_store_files_are_private(testdata: Path, tmp_path: Path) -> None:
    store = tmp_path / "new" / "store"
    assert sd.run(store, ["ingest", "bitcoin", "--blocks-dir", str(blocks_dir(testdata, tmp_path))])[0] == 0
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    for p in [store / "lake", *(store / "lake").rglob("*")]:
        want = 0o700 if p.is_dir() else 0o600
        assert stat.S_IMODE(p.stat().st_mode) == want, p
    for name in ("catalog.duckdb", ".ingest-btc.lock"):
        assert stat.S_IMODE((store / name).stat().st_mode) == 0o600, name
    code, out, _ = sd.run(store, ["fsck", "--json"])
    assert code == 0 and '"modes"' not in out
