"""kill -9 in the middle of a real import, then a rerun: the tags equal those of one clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from fundtrail.store import Store

_STATE = {
    "tags": "SELECT origin, line, subject, currency, address, validation, label, category, concepts, "
            "confidence, source, creator, lastmod, actor, context, visibility, tag_key, content_hash "
            "FROM tags ORDER BY ALL",
    "merged": "SELECT address, tag_key, category, label, labels, confidence, actor, visibility, "
              "list_transform(sources, lambda s: [s.origin, s.line::VARCHAR, s.source]) FROM tags_merged ORDER BY ALL",
    "files": "SELECT path, sha256, format FROM tag_files ORDER BY ALL",
}


def _state(root: Path) -> dict[str, list]:
    with Store(root).connect(read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in _STATE.items()}


def _cmd(store: Path, source: Path) -> list[str]:
    return [sys.executable, "-m", "fundtrail.cli.main", "--store", str(store), "tags", "import", str(source)]


def test_kill_during_import_then_rerun_gives_the_clean_result(tmp_path: Path, testdata: Path) -> None:
    source = testdata / "labels/etherscan-labels/etherscan/accounts"  # 422 files, several commits
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(_cmd(clean, source), check=True, capture_output=True, env=env)

    proc = subprocess.Popen(_cmd(killed, source), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:  # progress lines: kill once well past the first commits
        if line.startswith("[150/"):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = _state(killed)
    assert 0 < len(partial["files"]) < 422  # some transactions committed, not all

    rerun = subprocess.run(_cmd(killed, source), check=True, capture_output=True, text=True, env=env)
    assert " unchanged" in rerun.stderr and " imported" in rerun.stderr
    assert _state(killed) == _state(clean)
