"""Store coverage (heights held, gaps) and the one chain-selection rule, on real mainnet blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.realchain import BLOCK_574200, blocks_dir, real_store

from fundtrail.errors import NotFoundError, UsageError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.store import Store
from fundtrail.store.coverage import coverage
from fundtrail.store.select import select_chain



@pytest.fixture(scope="module")
def patchy(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> Store:
    """Blocks 0-599 plus the isolated real block 574200: a store with a gap."""
    return real_store(testdata, tmp_path_factory.mktemp("patchy"), raw=(BLOCK_574200,))


def test_coverage_lists_ranges_and_the_gap(patchy: Store) -> None:
    cov = coverage(patchy, "btc")
    # block 574200 carries its height in the coinbase (BIP34), so it is placed, not unplaced
    assert cov.ranges == [(0, 599), (574200, 574200)]
    assert cov.gaps == [(600, 574199)]
    assert cov.tip_height == 574200 and not cov.contiguous
    assert cov.holds(599) and not cov.holds(600)
    assert "0-599, 574200" in cov.describe() and "573,600 heights missing" in cov.describe()


def test_a_contiguous_store_says_so(tmp_path: Path, testdata: Path) -> None:
    store = Store.open(tmp_path / "s")
    ingest_blocks_dir(store, blocks_dir(testdata, tmp_path, ("blk00000.dat",)))
    cov = coverage(store, "btc")
    assert (cov.ranges, cov.contiguous, cov.tip_height) == ([(0, 299)], True, 299)


def test_select_chain_one_rule(patchy: Store, tmp_path: Path) -> None:
    assert select_chain(patchy, None) == ("btc", "utxo")
    assert select_chain(patchy, "btc", family="utxo") == ("btc", "utxo")
    with pytest.raises(NotFoundError, match=r"chain eth is not in the store .*stored: btc"):
        select_chain(patchy, "eth")
    with pytest.raises(UsageError, match="holds no account chain"):
        select_chain(patchy, None, family="account")
    assert NotFoundError.exit_code == 6
    with pytest.raises(NotFoundError, match="no fundtrail store"):
        Store.open(tmp_path / "missing", create=False)
