"""Issue 13 item 6 (follow-up): a rollback verifies what it copies. It reads the late input links
of the batches it rewrites; a damaged one (bit rot: size and time unchanged, so the cheap read
checks pass) must stop the rollback with a one-line StoreError naming the file, before anything
changed, instead of copying the damage into the rewritten store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import reliability as rs
from support import store_damage as sd

from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.chains.bitcoin.samplechain import build_sample_chain
from fundtrail.errors import StoreError
from fundtrail.ingest.bitcoin.jobs import ingest_raw_files
from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest
from fundtrail.ingest.bitcoin.rollback import rollback_to
from fundtrail.store import Store


def _rot(path: Path) -> None:
    """Zero 64 bytes of the first data page, keeping the file's size and modification time."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[4:68] = bytes(64)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_rollback_refuses_a_damaged_link_file_and_changes_nothing(tmp_path: Path) -> None:
    chain = build_sample_chain(seed=12, n_blocks=60, stale_branch=False).blocks
    store = tmp_path / "store"
    # block 30 before 10..29: its inputs are linked late (input_links partitions), as in
    # test_reliability_rollback.py's late-link case
    for name, blocks in [("a", chain[:10]), ("b30", chain[30:31]), ("b35", chain[35:36]), ("c", chain[10:30])]:
        ingest_raw_files(Store.open(store), [rs.blk_stream(tmp_path / f"{name}.dat", blocks)], batch_blocks=7)
    links = sorted((store / "lake" / "btc-regtest" / "input_links").glob("*.parquet"))
    assert links
    for path in links:
        _rot(path)
    ing = BitcoinIngest(Store.open(store), REGTEST, batch_blocks=7)  # the cheap checks pass: bit rot
    before = sd.state(store)
    with pytest.raises(StoreError) as exc:
        rollback_to(ing, 32)
    msg = exc.value.one_line()
    assert "\n" not in msg and "input_links/" in msg and "fsck" in msg
    assert sd.state(store) == before
