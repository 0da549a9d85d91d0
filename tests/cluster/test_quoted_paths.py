"""Issue 13 item 10 (follow-up): a store whose path contains a quote works for every command that
reads lake files by path: ingest, `cluster run` (full, incremental with late-linked inputs
revisited, a checkpoint compacting the forest), `cluster show`, `cluster why`, `trace` and `risk`.
These used to paste paths into SQL, so `'` broke them with a parser error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import store_damage as sd
from support.reliability import blk_records

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import MAINNET
from fundtrail.cluster import engine, runs
from fundtrail.cluster.query import address_texts
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.store import Store


def _real_blocks(testdata: Path) -> list[bytes]:
    """Mainnet blocks 0-599, in height order (NBitcoin's blk files hold them so)."""
    raws = []
    for f in sorted((testdata / "btc-raw-blocks" / "nbitcoin").glob("blk*.dat")):
        data = f.read_bytes()
        raws += [data[off + 8:off + 8 + n] for off, n in blk_records(f)]
    return raws


def _stream(path: Path, blocks: list[bytes]) -> Path:
    path.write_bytes(b"".join(w.blk_record(b, MAINNET) for b in blocks))
    return path


def _ok(store: Path, argv: list[str]) -> str:
    code, out, err = sd.run(store, argv)
    assert code == 0 and not err.strip(), (argv, err)
    return out


def test_every_lake_reading_command_works_under_a_quoted_path(testdata: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    raws = _real_blocks(testdata)
    assert len(raws) == 600
    base = tmp_path / "case 'A'"
    base.mkdir()
    # blocks 300-399 come last: inputs of blocks 496 and 586 spend their outputs, so they are
    # stored unresolved and linked late, and the incremental run revisits them
    first = _stream(base / "a.dat", raws[:300] + raws[400:])
    later = _stream(base / "b.dat", raws[300:400])
    store = base / "it's store"
    _ok(store, ["ingest", "bitcoin", "--raw", str(first)])
    run0 = json.loads(_ok(store, ["cluster", "run", "--json"]))
    assert run0["mode"] == "full"
    _ok(store, ["ingest", "bitcoin", "--raw", str(later)])
    monkeypatch.setattr(engine, "MAX_JOURNAL_RUNS", 1)  # this run is a checkpoint: the forest is compacted
    run1 = json.loads(_ok(store, ["cluster", "run", "--json"]))
    assert run1["mode"] == "incremental" and run1["revisited_tx"] > 0 and run1["n_unions"] > 0
    latest = runs.latest_run(Store(store), "btc")
    assert (runs.run_dir(Store(store), latest) / runs.FOREST).exists()

    # the first multi-input spend of mainnet (block 496) links its three input addresses
    s = Store(store)
    with open_snapshot(s, "btc") as snap:
        ids = [r[0] for r in snap.con.execute(
            "SELECT DISTINCT i.address_id FROM btc_inputs i JOIN btc_transactions t USING (tx_id) "
            "WHERE t.block_height = 496 AND t.input_count = 3 ORDER BY 1").fetchall()]
        names = address_texts(snap, ids)
    a, b = names[ids[0]], names[ids[-1]]
    why = json.loads(_ok(store, ["cluster", "why", a, b, "--json"]))
    assert why["linked"] is True and why["steps"]
    show = json.loads(_ok(store, ["cluster", "show", a, "--json"]))
    assert show["members"] >= 3 and show["run_id"] == latest.run_id
    assert sd.TRACE_TXID in _ok(store, ["trace", sd.TRACE_TXID, "--json"])
    assert a in _ok(store, ["risk", a, "--json"])
    code, _, err = sd.run(store, ["fsck"])
    assert code == 0, err
