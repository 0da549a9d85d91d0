"""An account-chain ingest within a memory budget (issue 19): the real CLI against a TRON node, the
address book's hot table forced down to a few entries so it spills to disk at once; the store
equals the unbounded run's table by table, also when the bounded run is killed mid-way and rerun
(the book is then rebuilt from the store into the spilling table), and no spill file is left."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support.tron_fake_node import FakeTron, ingest_cli, store_content

from fundtrail.store import Store

BOUNDED = {"FUNDTRAIL_MEMORY_LIMIT": "256MB", "FUNDTRAIL_TEST_HOT_ENTRIES": "3"}


def _cli(store: Path, url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return ingest_cli(store, url, env, batch_blocks=2)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_TEST_")}
    env.pop("FUNDTRAIL_MEMORY_LIMIT", None)
    return dict(env, **extra)


@pytest.fixture(scope="module")
def node():
    with FakeTron(head=12, txs_per_block=4) as n:
        yield n


@pytest.fixture(scope="module")
def clean(node: FakeTron, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The unbounded path: in this process, no memory budget, the book a plain in-memory table."""
    from fundtrail.ingest.tron.jobs import ingest_tron
    from fundtrail.ingest.tron.rpc import TronRpc
    from fundtrail.ingest.tron.transport import TronHttpTransport

    root = tmp_path_factory.mktemp("clean")
    with TronRpc(TronHttpTransport(node.url)) as rpc:
        ingest_tron(Store.open(root), rpc, batch_blocks=2)
    return store_content(root)


def _no_spill_left(root: Path) -> None:
    assert not list(root.rglob("spill-eth-addr*"))


def test_bounded_ingest_equals_unbounded(node: FakeTron, clean: dict, tmp_path: Path) -> None:
    done = _cli(tmp_path, node.url, _env(**BOUNDED))
    assert done.returncode == 0, done.stderr
    got = store_content(tmp_path)
    assert got == clean
    with Store.open(tmp_path).query() as con:  # more addresses than the hot table holds
        assert con.execute("SELECT count(*) FROM tron_addresses").fetchall()[0][0] > 3 * 4
    _no_spill_left(tmp_path)


@pytest.mark.parametrize("point,at", [("eth_before_commit", 3), ("eth_after_commit", 4)])
def test_bounded_kill_then_rerun_equals_uninterrupted(node: FakeTron, clean: dict, tmp_path: Path, point: str,
                                                      at: int) -> None:
    crashed = _cli(tmp_path, node.url, _env(**BOUNDED, FUNDTRAIL_TEST_CRASH_POINT=point,
                                            FUNDTRAIL_TEST_CRASH_AT=str(at)))
    assert crashed.returncode == -9, crashed.stderr
    assert len(store_content(tmp_path)["block_index"]) < len(clean["block_index"])
    rerun = _cli(tmp_path, node.url, _env(**BOUNDED))
    assert rerun.returncode == 0, rerun.stderr
    assert store_content(tmp_path) == clean
    _no_spill_left(tmp_path)


def test_the_book_really_spills_in_process(node: FakeTron, clean: dict, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The same run in this process, to see inside: the book is a SpillingTable with runs on disk
    when the ingest ends, and its directory is gone after."""
    from fundtrail.ingest.bitcoin.spill_budget import memory_budget
    from fundtrail.ingest.bitcoin.spill_table import SpillingTable
    from fundtrail.ingest.ethereum.book import AddressBook
    from fundtrail.ingest.tron.jobs import ingest_tron
    from fundtrail.ingest.tron.rpc import TronRpc
    from fundtrail.ingest.tron.transport import TronHttpTransport

    monkeypatch.setenv("FUNDTRAIL_TEST_HOT_ENTRIES", "3")
    seen: list[tuple[bool, bool]] = []
    real = AddressBook.close

    def observed(self: AddressBook) -> None:
        spilling = isinstance(self.table, SpillingTable)
        seen.append((spilling, spilling and self.table.spill.has_runs and self.table.spill.dir.is_dir()))
        real(self)

    monkeypatch.setattr(AddressBook, "close", observed)
    store = Store.open(tmp_path / "s")
    with memory_budget(256 << 20), TronRpc(TronHttpTransport(node.url)) as rpc:
        ingest_tron(store, rpc, batch_blocks=2)
    assert seen == [(True, True)]
    assert store_content(tmp_path / "s") == clean
    _no_spill_left(tmp_path / "s")


def test_batch_size_follows_the_budget() -> None:
    """Blocks per batch: `batch_blocks` without a budget and under a workstation's default one;
    under a small one, what fits a quarter of it at the busiest block seen (8 KB a transaction)."""
    from fundtrail.ingest.bitcoin.spill_budget import memory_budget
    from fundtrail.ingest.ethereum.pipeline import EthIngest

    ing = EthIngest.__new__(EthIngest)  # only the sizing state: no store, no node
    ing.batch_blocks, ing._tx_per_block = 100, None
    assert ing.batch_size() == 100
    with memory_budget(12 << 30):
        assert ing.batch_size() == 100
    with memory_budget(256 << 20):
        assert ing.batch_size() == 4  # 64 MB / (8 KB x 2,000 assumed)
        ing._tx_per_block = 160
        assert ing.batch_size() == 51
        ing._tx_per_block = 10**6
        assert ing.batch_size() == 1
