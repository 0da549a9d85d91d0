"""`fundtrail cluster ...`: run, show, why, merge, split, overrides (JSON contract and errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.address import segwit_encode
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.cli.main import main


def addr(i: int) -> str:
    return segwit_encode(REGTEST.hrp, 0, bytes([i]) * 20)


def _out(i: int, value: int) -> w.TxOut:
    return w.TxOut(value, w.p2wpkh(bytes([i]) * 20))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Coinbases pay keys 1, 2, 3; tx A spends 1 and 2 and pays 4: cluster {1, 2}."""
    cbs = [w.coinbase_tx(h, [_out(h + 1, 50 * w.COIN)]) for h in range(3)]
    blocks, prev = [], bytes(32)
    for h, cb in enumerate(cbs):
        blocks.append(w.build_block(prev, [cb], 1_700_000_000 + 600 * h))
        prev = w.block_hash(blocks[-1])
    a = w.Tx(2, [w.TxIn(cbs[0].txid(), 0), w.TxIn(cbs[1].txid(), 0)], [_out(4, 99 * w.COIN)])
    blocks.append(w.build_block(prev, [w.coinbase_tx(3, [_out(5, 50 * w.COIN)]), a], 1_700_001_800))
    w.write_blocks_dir(tmp_path / "blocks", blocks, REGTEST)
    root = tmp_path / "store"
    assert main(["--store", str(root), "ingest", "bitcoin", "--blocks-dir", str(tmp_path / "blocks")]) == 0
    return root


def run(store: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--store", str(store), "cluster", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_show_why_json(store: Path, capsys) -> None:
    code, out, err = run(store, capsys, "run", "--json")
    assert code == 0, err
    s = json.loads(out)
    assert (s["mode"], s["n_tx"], s["n_unions"], s["n_clusters"], s["largest"]) == ("full", 5, 1, 1, 2)
    assert s["heuristics"] == ["multi_input"] and s["suspects"] == []
    assert "clustering:" in err  # progress on stderr

    code, out, _ = run(store, capsys, "show", addr(2), "--json")
    r = json.loads(out)
    assert code == 0 and r["address"] == addr(2) and r["cluster_address"] == addr(1)
    assert r["members"] == 2 and r["tags"] == [] and r["received"] == 100 * 10**8 and r["sent"] == 100 * 10**8
    assert r["first_activity"] == "2023-11-14T22:13:20Z" and r["last_activity"] == "2023-11-14T22:43:20Z"

    code, out, _ = run(store, capsys, "why", addr(1), addr(2), "--json")
    r = json.loads(out)
    assert code == 0 and r["linked"] is True
    (step,) = r["steps"]
    assert set(step) == {"from", "to", "txid", "heuristic", "confidence"}
    assert (step["from"], step["to"], step["heuristic"], step["confidence"]) == (addr(1), addr(2), "multi_input", 1.0)
    assert len(step["txid"]) == 64

    code, out, _ = run(store, capsys, "why", addr(1), addr(3), "--json")
    assert code == 0 and json.loads(out)["linked"] is False
    code, out, _ = run(store, capsys, "why", addr(1), addr(3))
    assert out.startswith("not linked:")


def test_overrides_through_the_cli(store: Path, capsys) -> None:
    assert run(store, capsys, "run")[0] == 0
    code, out, _ = run(store, capsys, "merge", addr(1), addr(3), "--reason", "same KYC", "--author", "bob")
    assert code == 0 and "override #0" in out
    code, out, _ = run(store, capsys, "split", addr(2), "--reason", "custodian", "--author", "ana", "--json")
    assert code == 0 and json.loads(out)["kind"] == "split"
    code, out, _ = run(store, capsys, "overrides", "--json")
    rows = json.loads(out)
    assert [(r["kind"], r["addresses"], r["author"]) for r in rows] == [
        ("merge", [addr(1), addr(3)], "bob"), ("split", [addr(2)], "ana")]
    code, out, _ = run(store, capsys, "why", addr(3), addr(1), "--json")
    (step,) = json.loads(out)["steps"]
    assert step["heuristic"] == "manual_merge" and step["reason"] == "manual merge by bob: same KYC"
    code, out, _ = run(store, capsys, "show", addr(2), "--json")
    assert json.loads(out)["members"] == 1
    assert run(store, capsys, "run", "--json")[0] == 0  # kept across runs
    code, out, _ = run(store, capsys, "show", addr(3), "--json")
    assert json.loads(out)["members"] == 2


@pytest.mark.parametrize("args,code,text", [
    (["show", "bcrt1qnotanaddress"], 2, "invalid Bitcoin address"),
    (["show", segwit_encode(REGTEST.hrp, 0, bytes([9]) * 20)], 6, "does not appear in chain"),
    (["show", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"], 2, "wrong network"),
    (["run", "--heuristics", "multi-input,change"], 2, "--change-floor"),
    (["run", "--heuristics", "bogus"], 2, "unknown heuristic"),
    (["run", "--chain", "btc"], 2, "not in store"),
    (["merge", addr(1), addr(1), "--reason", "x", "--author", "y"], 2, "two different addresses"),
    (["merge", addr(1), addr(2), "--reason", " ", "--author", "y"], 2, "needs a reason"),
])
def test_errors_are_one_line(store: Path, capsys, args: list[str], code: int, text: str) -> None:
    assert run(store, capsys, "run")[0] == 0
    got, _, err = run(store, capsys, *args)
    assert got == code, err
    assert err.startswith("fundtrail: error:") and text in err and err.count("\n") == 1


def test_show_before_any_run_says_what_to_do(store: Path, capsys) -> None:
    code, _, err = run(store, capsys, "show", addr(1))
    assert code == 6 and "has not been clustered yet" in err and "fundtrail cluster run" in err


def test_runs_lists_what_each_run_did(store: Path, capsys) -> None:
    assert run(store, capsys, "run")[0] == 0
    assert run(store, capsys, "run", "--full")[0] == 0
    code, out, _ = run(store, capsys, "runs", "--json")
    rows = json.loads(out)
    assert code == 0 and [(r["run_id"], r["mode"], r["status"]) for r in rows] == [
        (1, "full", "completed"), (0, "full", "completed")]
    assert rows[0]["reason"] == "full recompute requested" and rows[0]["checkpoint"] is True
    assert len(rows[0]["last_block_hash"]) == 64 and rows[0]["tx_hi"] == 5
