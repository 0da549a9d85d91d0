"""Issue 13 items 5 and 6, the store-damage corpus: a store whose catalog is missing, truncated,
garbage or bit-flipped, or whose lake files are bit-flipped, truncated, swapped, replaced by another
store's, deleted, joined by extra files, or unreadable. Every command a user then runs (status,
export, trace, fsck, tags import, ingest) gives a one-line error with an exit code from the error
tree, or exactly the undamaged store's output; none changes what the store holds, none tracebacks.

The one documented limit: damage that keeps a file's size and modification time (bit rot) is not
seen by reads (they check size and time, not content), only by `fsck`, which hashes every file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import store_damage as sd


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> dict:
    base = tmp_path_factory.mktemp("damage")
    pristine, other = sd.build_stores(testdata, base)
    cmds = sd.commands(testdata, base / "blocks")
    ref = {}
    for name in ("status", "export", "trace"):
        code, out, err = sd.run(pristine, cmds[name])
        assert code == 0, err
        ref[name] = sd.normalized(out, pristine)
    code, out, err = sd.run(pristine, cmds["fsck"])
    assert code == 0 and "0 problem" not in out, out + err  # the undamaged store passes fsck
    return {"base": base, "pristine": pristine, "other": other, "cmds": cmds, "ref": ref}


# a smaller draw than benchmarks/reliability_stores.py runs, to keep the suite fast
CASES = sd.damages(Path("/nonexistent"), flips=6, rot=2, catalog_flips=2,
                   tables=("transactions", "outputs", "inputs"))


def _outcomes(corpus: dict, damage: sd.Damage) -> dict[str, tuple[str, str]]:
    store = corpus["base"] / f"case-{damage.name}"
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(corpus["pristine"], store)
    fixed = sd.damages(corpus["other"])  # the same damage bound to the real foreign store
    next(d for d in fixed if d.name == damage.name).apply(store)
    results = {}
    try:
        after = sd.state(store)
        for name, argv in corpus["cmds"].items():
            before = after
            code, out, err = sd.run(store, argv)
            after = sd.state(store)
            outcome = sd.judge(code, sd.normalized(out, store), err, corpus["ref"].get(name))
            if after != before:
                changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
                # the only change allowed: an ingest removing partition-named debris no batch references
                debris = all(k.startswith("lake/") and k not in after and Path(k).name.startswith("batch-")
                             for k in changed)
                outcome = "recovered" if (name == "ingest" and code == 0 and debris) else "lost"
            results[name] = (outcome, err.strip().splitlines()[-1] if err.strip() else f"exit {code}")
    finally:
        sd.restore_modes(store)
        shutil.rmtree(store, ignore_errors=True)
    return results


@pytest.mark.parametrize("damage", [d for d in CASES if d.kind == "catalog"], ids=lambda d: d.name)
def test_damaged_catalog_stops_every_command(corpus: dict, damage: sd.Damage) -> None:
    got = _outcomes(corpus, damage)
    if damage.name.startswith("catalog-bitflip"):  # a flip in free space changes nothing
        assert all(o in ("clean", "ok") for o, _ in got.values()), got
        return
    assert {k: o for k, (o, _) in got.items()} == dict.fromkeys(got, "clean"), got
    assert all("catalog" in line for _, line in got.values()), got


@pytest.mark.parametrize("damage", [d for d in CASES if d.kind == "lake"], ids=lambda d: d.name)
def test_damaged_lake_is_a_one_line_error_and_nothing_changes(corpus: dict, damage: sd.Damage) -> None:
    got = _outcomes(corpus, damage)
    outcomes = {k: o for k, (o, _) in got.items()}
    assert "traceback" not in outcomes.values() and "lost" not in outcomes.values(), got
    assert outcomes["fsck"] == "clean", got  # fsck finds every damage, bit rot included
    assert outcomes["tags-import"] == "ok", got  # tags live in the catalog: the lake's damage is no reason
    if damage.name.startswith("lake-extra"):  # reads list committed files only: unaffected
        assert outcomes["status"] == outcomes["export"] == outcomes["trace"] == "ok", got
        assert outcomes["ingest"] in ("ok", "recovered"), got
    elif damage.silent_at_read:
        # documented limit: size and time unchanged, so reads may not see it; ingest refuses or is ok
        assert all(outcomes[k] in ("clean", "ok", "wrong") for k in ("status", "export", "trace")), got
    else:
        for k in ("status", "export", "trace", "ingest"):
            assert outcomes[k] == "clean", (k, got)
        assert "fsck" in got["export"][1] and "lake file" in got["export"][1], got


def test_deleted_catalog_keeps_every_lake_file(corpus: dict) -> None:
    """The exact reproduction of item 5: delete the catalog, run an ingest: the lake used to be wiped."""
    store = corpus["base"] / "no-catalog"
    shutil.copytree(corpus["pristine"], store)
    (store / "catalog.duckdb").unlink()
    before = sorted(p.read_bytes() for p in sd.lake_files(store))
    code, _, err = sd.run(store, corpus["cmds"]["ingest"])
    assert code == 4 and err.count("\n") == 1 and "catalog catalog.duckdb is missing" in err
    assert sorted(p.read_bytes() for p in sd.lake_files(store)) == before and len(before) == 18
    assert not (store / "catalog.duckdb").exists()  # no empty catalog created over the data
