"""The frontier's undo journal is pruned by key: a spent row goes once it is more than
KEEP_SPENT_BLOCKS below a batch that moves its item, and not before (docs/watch.md, "Frontiers").

The evaluator keeps the journal in memory (read at its load, added to at each commit) instead of
scanning every row's JSON in the commit, so both ways in are covered: tail blocks ingested one run
each (the journal read from the catalog each time) and in one run of one block per batch (kept in
memory across commits). KEEP_SPENT_BLOCKS is lowered to 1 so that ten blocks exercise it; the
oracle is the catalog itself, snapshotted after every block: the spent rows left must be exactly
those ever seen spent at or above (the last height that moved the item) - 1."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.store import Store
from fundtrail.watch import evaluate

KEEP = 1


def _rows(store: Path, item: str) -> dict[str, int | None]:
    """output -> spent height (None: unspent) of the item's frontier rows."""
    with Store.open(store).connect(read_only=True) as con:
        rows = con.execute("SELECT output, state FROM watch_frontier WHERE item_id = ?", [item]).fetchall()
    return {o: json.loads(st)["spent"] for o, st in rows}


@pytest.fixture(scope="module")
def watched(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copy of the head store with the ransom's exact-haircut frontier watched (reaches-service)."""
    store = tmp_path_factory.mktemp("journal") / "store"
    shutil.copytree(world["store"], store)
    seeds = [f"{s['txid']}:{s['vout']}" for s in world["truth"]["seed_outputs"]]

    def call(*args: str) -> Any:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["--store", str(store), "--as", "alice", *args, "--json"]) == 0
        return json.loads(buf.getvalue())

    case = call("case", "new", "--title", "Journal")["id"]
    trace = call("case", "trace", case, *seeds, "--policy", "haircut", "--exact")
    item = call("watch", "add", trace["id"], "--case", case, "--rule", "reaches-service")["items"][0]["id"]
    return {"store": store, "item": item}


def test_spent_rows_pruned_exactly_past_the_window(world: dict[str, Any], watched: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluate, "KEEP_SPENT_BLOCKS", KEEP)
    monkeypatch.setenv("FUNDTRAIL_BATCH_BLOCKS", "1")
    store, item = watched["store"], watched["item"]
    tail: list[Path] = world["tail"]
    first_height = world["head_tip"] + 1
    snapshots: list[tuple[int, dict[str, int | None]]] = []

    # the second half in one run: snapshots taken as each batch commits (the in-memory journal)
    committed = evaluate.WatchEvaluator.committed

    def snapshot_after_commit(self: evaluate.WatchEvaluator) -> None:
        committed(self)
        snapshots.append((first_height + len(snapshots), _rows(store, item)))

    half = len(tail) // 2
    for f in tail[:half]:  # one run per block: the journal read back from the catalog each time
        assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(f)]) == 0
        snapshots.append((first_height + len(snapshots), _rows(store, item)))
    monkeypatch.setattr(evaluate.WatchEvaluator, "committed", snapshot_after_commit)
    args = [a for f in tail[half:] for a in ("--raw", str(f))]
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", *args]) == 0
    assert [h for h, _ in snapshots] == list(range(first_height, first_height + len(tail)))

    ever: dict[str, int] = {}  # every row ever seen spent, with its spent height
    last_move: int | None = None
    pruned = kept_old = 0
    for height, rows in snapshots:
        spent_now = {o: s for o, s in rows.items() if s is not None}
        for o, s in spent_now.items():
            assert ever.setdefault(o, s) == s  # a spent mark never changes
        if any(s == height for s in spent_now.values()):
            last_move = height
        want = {o for o, s in ever.items() if last_move is None or s >= last_move - KEEP}
        assert set(spent_now) == want, f"block {height}"
        pruned = len(ever) - len(want)
        kept_old += sum(1 for s in spent_now.values() if s < height)
    # the test means something: rows were pruned, and spent rows of earlier blocks were kept a while
    assert pruned > 0 and kept_old > 0 and last_move is not None


def test_journal_survives_a_reload(world: dict[str, Any], watched: dict[str, Any]) -> None:
    """A later run (a fresh evaluator) reads the pruned journal back and prunes nothing it kept
    wrongly: its rows are all spent rows the catalog holds, oldest first."""
    ev = evaluate.WatchEvaluator(Store.open(watched["store"]), "btc-regtest")
    ev.load()
    rows = _rows(watched["store"], watched["item"])
    journal = ev.journal.rows(watched["item"])
    assert [h for h, _ in journal] == sorted(h for h, _ in journal)
    assert {o: h for h, o in journal} == {o: s for o, s in rows.items() if s is not None}
    assert {o for o, s in rows.items() if s is None} == {
        f"{k[0][::-1].hex()}:{k[1]}" for k in ev.frontiers[watched["item"]]}
