"""Seeded mutation fuzzer over real blocks (issue 13, the block-data corpus): every mutated input
ends in a one-line error with an exit code from the tree, or a documented recovery (good blocks
stored, damage reported) or is accepted as still valid; never a traceback, a hang, or a stored
block that is not a real one at its real height; a rejected input leaves the store as it was.

The corpus lives in `benchmarks/reliability_blocks.py` (which runs a larger one); this runs 200
cases (about a minute on 2 cores), 11 mutation kinds in turn.
"""

from __future__ import annotations

import importlib.util
import random
import tempfile
from collections import Counter
from pathlib import Path

_PATH = Path(__file__).resolve().parents[3] / "benchmarks" / "reliability_blocks.py"
_spec = importlib.util.spec_from_file_location("reliability_blocks", _PATH)
rb = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(rb)  # type: ignore[union-attr]

CASES = 200
SEED = 2026


def test_mutated_real_blocks_end_cleanly(testdata: Path) -> None:
    corpus = rb.Corpus(testdata)
    rng = random.Random(SEED)
    outcomes: Counter = Counter()
    bad: list[str] = []
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="ft-fuzz-", dir=shm) as tmp:
        work = Path(tmp)
        base = rb.build_base(corpus, work)
        for i in range(CASES):
            kind = rb.MUTATIONS[i % len(rb.MUTATIONS)]
            outcome, detail = rb.run_case(corpus, base, work, rng, kind)
            outcomes[outcome] += 1
            if outcome not in ("clean_error", "recovered", "accepted"):
                bad.append(f"case {i} {outcome}: {detail}")
    assert bad == [], bad[:5]
    # the corpus exercises every path: refusals, recoveries and still-valid inputs
    assert outcomes["clean_error"] >= 40 and outcomes["recovered"] >= 80 and outcomes["accepted"] >= 10, outcomes


def test_malleated_and_reencoded_blocks_are_always_refused(testdata: Path) -> None:
    """The mutations that keep the merkle root (duplicated last transactions) or the meaning
    (a longer CompactSize) must be refused outright, never stored."""
    corpus = rb.Corpus(testdata)
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="ft-fuzz-") as tmp:
        work = Path(tmp)
        base = rb.build_base(corpus, work)
        for kind in ("duplicate_last_txs", "compact_size", "duplicate_tx"):
            for _ in range(2):
                outcome, detail = rb.run_case(corpus, base, work, rng, kind)
                assert outcome == "clean_error", (kind, outcome, detail)
