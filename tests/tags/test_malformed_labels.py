"""The malformed label corpus (tests/tags/labelcorpus.py) through the real CLI: each bad file is a
one-line problem naming file:line, never a traceback; the good file next to it is imported and
committed; where the bad file is rejected the store is as it was (issue 13, items 7-9)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.store import Store

_spec = importlib.util.spec_from_file_location("labelcorpus", Path(__file__).with_name("labelcorpus.py"))
corpus = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules["labelcorpus"] = corpus
_spec.loader.exec_module(corpus)  # type: ignore[union-attr]

CASES = corpus.cases()
GOOD = f"address,label,category\n{corpus.GOOD_BTC},Good exchange,exchange\n"


def store_state(root: Path) -> dict[str, object]:
    """Every row of every catalog table (sorted) and every file of the lake with its hash."""
    out: dict[str, object] = {}
    with Store(root).connect(read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
        for t in tables:
            out[t] = con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()
    lake = Path(root) / "lake"
    out["lake"] = sorted((str(p.relative_to(lake)), hashlib.sha256(p.read_bytes()).hexdigest())
                         for p in lake.rglob("*") if p.is_file())
    return out


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one committed label file, copied for each case."""
    root = tmp_path_factory.mktemp("base")
    first = root / "first.csv"
    first.write_text(f"address,label,category\n{corpus.GOOD_BTC2},Earlier exchange,exchange\n")
    assert main(["--quiet", "--store", str(root / "store"), "tags", "import", str(first)]) == 0
    return root / "store"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_malformed_file_is_one_line_and_the_good_file_commits(
        case, base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil
    store = tmp_path / "store"
    shutil.copytree(base, store)
    folder = tmp_path / "labels"
    bad = folder / case.filename
    bad.parent.mkdir(parents=True)
    bad.write_bytes(case.data)
    (folder / "zz_good.csv").write_text(GOOD)
    capsys.readouterr()

    # The bad file alone: where it is rejected, the store is exactly as before.
    before = store_state(store)
    code, _, err = _run(["--store", str(store), "tags", "import", str(bad), "--json"], capsys)
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith(str(bad.resolve()))]
    if case.outcome in ("failed", "partial") or case.says:
        wanted = [ln for ln in lines if case.says in ln and f": {case.severity}: " in ln]
        assert wanted, f"no problem saying {case.says!r} in:\n{err[:2000]}"
        if case.line is not None:
            assert any(ln.startswith(f"{bad.resolve()}:{case.line}: ") for ln in wanted), wanted
        assert all(len(ln) < 400 for ln in lines), "a problem is one short line"
    if case.outcome == "failed":
        assert code in (2, 3) and "could not be imported" in err.splitlines()[-1]
        assert store_state(store) == before
    else:
        assert code == 0, err[-2000:]
        assert store_state(store) != before  # its good records were stored

    # Next to a good file, in one directory: the good file is imported and committed either way.
    code, _, err = _run(["--store", str(store), "tags", "import", str(folder)], capsys)
    assert "Traceback" not in err
    assert code == (0 if case.outcome != "failed" else 3)
    shown = main(["--store", str(store), "tags", "show", corpus.GOOD_BTC, "--json"])
    out, _ = capsys.readouterr()
    assert shown == 0 and "Good exchange" in out


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 50
    assert {c.kind for c in CASES} == {"tagpack", "ofac", "csv", "json"}
