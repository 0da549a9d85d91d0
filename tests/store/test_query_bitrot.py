"""Bit rot (a flipped bit, size and time kept) met by a `Store.query()` read (export, trace, status):
a decoding error that names no file becomes the one-line error naming the damaged partition and
pointing to fsck, never a traceback (issue 13 item 6)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from support import store_damage as sd


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("rot")
    store, _ = sd.build_stores(testdata, base)
    code, out, err = sd.run(store, ["export", "transactions"])
    assert code == 0, err
    return store, sd.normalized(out, store)


def test_bit_rot_in_exports_is_named_or_harmless(pristine: tuple[Path, str], tmp_path: Path) -> None:
    store, reference = pristine
    rng = random.Random(7)
    outcomes: dict[str, int] = {}
    for case in range(40):
        copy = tmp_path / f"c{case}"
        shutil.copytree(store, copy)
        victim = rng.choice([p for p in sd.lake_files(copy) if p.parent.name in ("transactions", "outputs",
                                                                                 "inputs")])
        sd._flip(victim, rng, keep_time=True)
        code, out, err = sd.run(copy, ["export", "transactions"])
        verdict = sd.judge(code, sd.normalized(out, copy), err, reference)
        outcomes[verdict] = outcomes.get(verdict, 0) + 1
        assert verdict != "traceback", err
        if verdict == "clean":
            assert code == 4 and "fsck" in err and victim.name in err, err
        shutil.rmtree(copy)
    # some flips land in values DuckDB reads without complaint: `fsck` finds those (tested there)
    assert outcomes.get("clean", 0) > 0, outcomes
