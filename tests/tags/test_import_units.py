"""A tag import is a sequence of short per-file transactions (issue 13, items 7 and 11): merged tags
pick their label the same way in every import, and another process's `status` answers while a
long import runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from fundtrail.store import Store
from fundtrail.tags import importer

BTC = "3M6UcBNGZAW1HRjiFDMRcY5aXFrQ4F9E1y"
ETH = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"


def _merged(root: Path) -> list[tuple]:
    with Store(root).connect(read_only=True) as con:
        return con.execute("SELECT address, tag_key, label, labels, confidence, actor, "
                           "list_transform(sources, lambda s: [s.origin, s.line::VARCHAR]) "
                           "FROM tags_merged ORDER BY ALL").fetchall()


def test_equally_strong_sources_give_the_same_label_whatever_the_import_order(tmp_path: Path) -> None:
    # Two files claim the same (address, category, entity) with the same confidence but another
    # label: which label is shown must not depend on which file the engine happens to meet first.
    files = []
    for i, (btc_label, eth_label, actor) in enumerate(
            [("Binance 14", "Kraken 3", ""), ("binance.com", "kraken.com", "binance")]):
        f = tmp_path / f"src{i}.csv"
        f.write_text("address,label,category,actor,confidence\n"
                     f"{BTC},{btc_label},exchange,{actor},web_crawl\n"
                     f"{ETH},{eth_label},exchange,,web_crawl\n")
        files.append(f)
    roots = []
    for n, order in enumerate([files, files[::-1], files, files[::-1]]):
        root = tmp_path / f"store{n}"
        for f in order:  # one import per file, in this order
            importer.import_paths(Store.open(root), [f])
        roots.append(root)
    first = _merged(roots[0])
    assert all(_merged(r) == first for r in roots[1:])
    by_address = {row[0]: row for row in first}
    # The first source by (confidence, file, line) gives the label; the actor is the first named.
    assert by_address[BTC][2] == "Binance 14" and by_address[BTC][5] == "binance"
    assert by_address[ETH.lower()][2] == "Kraken 3"


def test_status_answers_while_a_long_import_runs(tmp_path: Path, testdata: Path) -> None:
    source = testdata / "labels/etherscan-labels/etherscan/accounts"  # 422 files
    labels = tmp_path / "labels"
    for copy in ("a", "b"):  # two copies: a longer import, every file its own origin
        shutil.copytree(source, labels / copy)
    store = tmp_path / "store"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "fundtrail.cli.main", "--store", str(store)]
    proc = subprocess.Popen([*cli, "tags", "import", str(labels)], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the first files are committed: the store exists
            if line.startswith("[1/"):
                break
        started = time.monotonic()
        status = subprocess.run([*cli, "status", "--json"], capture_output=True, text=True, env=env,
                                timeout=120)
        waited = time.monotonic() - started
        still_running = proc.poll() is None
    finally:
        rest = proc.stderr.read() if proc.stderr else ""  # drained, so the import never blocks on it
        proc.wait(timeout=300)
    assert status.returncode == 0, status.stderr
    assert '"tags"' in status.stdout
    # It answered during the import, not after it (before: it waited for the whole import, or
    # failed after 30 s when the import took longer).
    assert still_running, f"status took {waited:.1f} s and the import had ended"
    assert proc.returncode == 0, rest[-2000:]
