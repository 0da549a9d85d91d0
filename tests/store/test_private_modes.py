"""Issue 13 item 11 (follow-up): everything under a store is private to its owner, not only the
lake and catalog: the ingest state cache (`cache/`), derived indexes (`derived/`: graph,
account graph, exposure, account exposure, tag map), cluster runs (`clusters/`) and the lock
files. After ingest, `cluster run`, `trace` and `risk` on a Bitcoin and an Ethereum chain, no
file or directory under the store is accessible to group or others (`find S -perm /077` is empty)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from support import store_damage as sd
from support.realchain import blocks_dir

HAL = "1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3"  # paid in block 170
ETH_SENDER = "0xed059bc543141c8c93031d545079b3da0233b27f"  # sends in block 1755635


def _open_to_others(root: Path) -> list[str]:
    out = []
    for p in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(os.lstat(p).st_mode)
        if mode & 0o077:
            out.append(f"{p.relative_to(root)} {mode:o}")
    return out


def test_nothing_under_the_store_is_accessible_to_others(testdata: Path, etl_fixtures: Path,
                                                        tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: files 0644 and directories 0755 unless made private
    try:
        store = tmp_path / "S"
        recording = etl_fixtures / "test_stream" / "blocks_1755634_1755635"
        for argv in (["ingest", "bitcoin", "--blocks-dir", str(blocks_dir(testdata, tmp_path))],
                     ["cluster", "run", "--chain", "btc"], ["trace", sd.TRACE_TXID], ["risk", HAL],
                     ["ingest", "ethereum", "--replay", str(recording), "--chain", "eth"],
                     ["cluster", "run", "--chain", "eth"], ["trace", "--chain", "eth", ETH_SENDER],
                     ["risk", "--chain", "eth", ETH_SENDER]):
            code, _, err = sd.run(store, argv)
            assert code == 0, (argv, err)
    finally:
        os.umask(old)
    made = {p.relative_to(store).parts[0] for p in store.rglob("*")}
    assert {"cache", "derived", "clusters", "lake", ".cluster-btc.lock", ".cluster-eth.lock"} <= made
    derived = {p.name for p in (store / "derived").glob("*/*")}
    assert {"graph", "exposure", "account-graph", "account-exposure", "tagmap"} <= derived
    assert _open_to_others(store) == []
