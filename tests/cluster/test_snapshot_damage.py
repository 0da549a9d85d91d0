"""Issue 13 item 6 (follow-up): a lake file damaged after a snapshot's cheap checks (bit rot keeps
size and time; a file removed while a run reads) gives the one-line StoreError naming the file
and pointing to `fundtrail fsck`, exit 4, from `cluster run`, `cluster show` and `cluster why`,
not DuckDB's traceback ("TProtocolException: Invalid data" names no file)."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from support import store_damage as sd
from support.realchain import real_store

from fundtrail.cluster.engine import run_clustering
from fundtrail.cluster.query import address_texts
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.errors import StoreError
from fundtrail.store import Store



@pytest.fixture(scope="module")
def clustered(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """Blocks 0-599 clustered, and two addresses linked by block 496's three-input spend."""
    store = real_store(testdata, tmp_path_factory.mktemp("snapdamage"))
    run_clustering(store, "btc")
    with open_snapshot(store, "btc") as snap:
        ids = [r[0] for r in snap.con.execute(
            "SELECT DISTINCT i.address_id FROM btc_inputs i JOIN btc_transactions t USING (tx_id) "
            "WHERE t.block_height = 496 AND t.input_count = 3 ORDER BY 1").fetchall()]
        names = address_texts(snap, ids)
    return store.root, names[ids[0]], names[ids[-1]]


def _rot(path: Path) -> None:
    """Zero the first page header of every column chunk, keeping size and modification time (bit
    rot): whatever column a command reads is damaged."""
    st = path.stat()
    md = pq.ParquetFile(path).metadata
    data = bytearray(path.read_bytes())
    for g in range(md.num_row_groups):
        for c in range(md.num_columns):
            col = md.row_group(g).column(c)
            start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
            data[start:start + 16] = bytes(16)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


#: (command, table it reads): `cluster run` reads every table, `show` the addresses (its totals
#: come from the graph index, built by the first, undamaged run), `why` the addresses (evidence
#: comes from the run's files)
CASES = [*(("run", t) for t in ("transactions", "inputs", "outputs", "addresses")),
         ("show", "addresses"), ("why", "addresses")]


@pytest.mark.parametrize(("command", "table"), CASES, ids=[f"{c}-{t}" for c, t in CASES])
def test_bit_rot_read_by_a_snapshot_is_one_line_naming_the_file(clustered: tuple[Path, str, str], tmp_path: Path,
                                                                command: str, table: str) -> None:
    root, a, b = clustered
    argv = {"run": ["cluster", "run", "--full"], "show": ["cluster", "show", a],
            "why": ["cluster", "why", a, b]}[command]
    store = tmp_path / "s"
    shutil.copytree(root, store)
    assert sd.run(store, argv)[0] == 0
    damaged = sorted((store / "lake" / "btc" / table).glob("*.parquet"))
    for path in damaged:
        _rot(path)
    before = sd.state(store)
    code, _, err = sd.run(store, argv)
    assert code == 4, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert any(str(p) in err for p in damaged) and "fundtrail fsck" in err
    assert sd.state(store) == before


def test_a_file_removed_after_the_snapshot_opened(clustered: tuple[Path, str, str], tmp_path: Path) -> None:
    store = tmp_path / "s"
    shutil.copytree(clustered[0], store)
    victim = sorted((store / "lake" / "btc" / "outputs").glob("*.parquet"))[-1]
    with pytest.raises(StoreError) as exc, open_snapshot(Store(store), "btc") as snap:  # the files are checked here
        victim.unlink()
        snap.con.execute("SELECT sum(value) FROM btc_outputs").fetchall()
    assert str(victim) in exc.value.one_line() and "missing" in exc.value.one_line()


def test_a_query_bug_is_not_taken_for_damage(clustered: tuple[Path, str, str]) -> None:
    with pytest.raises(duckdb.BinderException), open_snapshot(Store(clustered[0]), "btc") as snap:
        snap.con.execute("SELECT no_such_column FROM btc_outputs").fetchall()


# --- a seeded corpus: one bit flipped (size and time kept) in a partition a clustering command reads


def _summary(command: str, out: str) -> object:
    """What a command's --json output says, without its timing and run number."""
    doc = json.loads(out)
    drop = {"seconds", "run_id"}
    return {k: v for k, v in doc.items() if k not in drop} if isinstance(doc, dict) else doc


def bit_rot_corpus(clustered: tuple[Path, str, str], work: Path, cases: int, seed: int = 13) -> dict[str, int]:
    """Outcomes of `cases` damaged copies: `clean` (exit 4, one line naming a lake file and fsck),
    `ok` (exit 0, the undamaged store's output), `wrong` (exit 0, other output; only `fsck` can
    see such damage, and it must), `traceback` (anything else)."""
    root, a, b = clustered
    commands = {"run": ["cluster", "run", "--full", "--json"], "show": ["cluster", "show", a, "--json"],
                "why": ["cluster", "why", a, b, "--json"]}
    ref = {name: _summary(name, sd.run(root, argv)[1]) for name, argv in commands.items()}
    rng = random.Random(seed)
    counts = {"clean": 0, "ok": 0, "wrong": 0, "traceback": 0}
    failures: list[str] = []
    for i in range(cases):
        store = work / f"c{i}"
        shutil.copytree(root, store)
        files = sorted(p for t in ("transactions", "inputs", "outputs", "addresses")
                       for p in (store / "lake" / "btc" / t).glob("*.parquet"))
        path = rng.choice(files)
        st = path.stat()
        data = bytearray(path.read_bytes())
        data[rng.randrange(4, len(data) - pq.ParquetFile(path).metadata.serialized_size - 8)] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        name = rng.choice(sorted(commands))
        code, out, err = sd.run(store, commands[name])
        if code == 0:
            outcome = "ok" if _summary(name, out) == ref[name] else "wrong"
            if outcome == "wrong":
                assert sd.run(store, ["fsck"])[0] == 4, f"case {i}: fsck must find what the read did not"
        elif (code == 4 and err.count("\n") == 1 and "Traceback" not in err and str(store / "lake") in err
              and "fundtrail fsck" in err):
            outcome = "clean"
        else:
            outcome = "traceback"
            failures.append(f"case {i} ({name}, {path.relative_to(store)}): exit {code}: {err[-300:]}")
        counts[outcome] += 1
        shutil.rmtree(store)
    assert not failures, "\n".join(failures)
    return counts


def test_bit_rot_corpus(clustered: tuple[Path, str, str], tmp_path: Path) -> None:
    counts = bit_rot_corpus(clustered, tmp_path, 40)
    assert counts["traceback"] == 0, counts
    assert counts["clean"] > 0, counts
