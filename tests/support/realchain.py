"""Stores of real mainnet blocks from ../shared/data, built the way a user would (blocks directory,
then raw files), shared by the tests that need "blocks 0-599" or "0-599 plus a busy block"."""

from __future__ import annotations

import shutil
from pathlib import Path

from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir, ingest_raw_files
from fundtrail.store import Store

#: real block 574200 (3,315 txs, 2019): its inputs spend outputs the store does not hold
BLOCK_574200 = "btcd/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk"


def blocks_dir(testdata: Path, base: Path, names: tuple[str, ...] = ("blk00000.dat", "blk00001.dat")) -> Path:
    """A Bitcoin Core-style blocks directory holding NBitcoin's blk files (mainnet blocks 0-599)."""
    bdir = base / "blocks"
    bdir.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(testdata / "btc-raw-blocks" / "nbitcoin" / name, bdir / name)
    return bdir


def real_store(testdata: Path, base: Path, *, raw: tuple[str, ...] = ()) -> Store:
    """Blocks 0-599 ingested from blk files, then `raw` files (paths under btc-raw-blocks/)."""
    store = Store.open(base / "store")
    ingest_blocks_dir(store, blocks_dir(testdata, base))
    if raw:
        ingest_raw_files(store, [testdata / "btc-raw-blocks" / r for r in raw])
    return store
