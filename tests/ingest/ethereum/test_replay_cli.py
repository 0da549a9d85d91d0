"""Issue 12 item 13: real recordings (ethereum-etl's fixtures, made without eth_chainId or
eth_blockNumber) ingest through the CLI with --chain or --chain-id, the block range defaulting to
the blocks recorded, and what is stored matches ethereum-etl's expected output files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.store import Store
from fundtrail.store.account_export import iter_transfers


@pytest.fixture
def recording(etl_fixtures: Path) -> Path:
    return etl_fixtures / "test_stream" / "blocks_1755634_1755635"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_recording_without_chain_id_needs_chain_or_chain_id(recording: Path, tmp_path: Path, capsys) -> None:
    code = main(["--store", str(tmp_path / "s"), "ingest", "ethereum", "--replay", str(recording)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--chain-id" in err and "eth_chainId" in err
    code = main(["--store", str(tmp_path / "s"), "ingest", "ethereum", "--replay", str(recording),
                 "--chain", "bsc", "--chain-id", "1"])
    assert code == 2 and "chain id 56" in capsys.readouterr().err  # bsc is 56: the two disagree


@pytest.mark.parametrize("how", [["--chain-id", "1"], ["--chain", "eth"]])
def test_real_recording_ingests_and_matches_ethereum_etl(how: list[str], recording: Path, tmp_path: Path,
                                                         capsys) -> None:
    store = tmp_path / "s"
    code = main(["--store", str(store), "ingest", "ethereum", "--replay", str(recording), *how, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    blocks = _jsonl(recording / "expected_blocks.json")
    txs = _jsonl(recording / "expected_transactions.json")
    assert (report["chain"], report["chain_id"]) == ("eth", 1)
    assert report["blocks"] == len(blocks) and report["transactions"] == len(txs)  # the recorded range
    rows = list(iter_transfers(Store(store), "eth"))
    assert sorted((t["tx_hash"], t["from"].lower(), t["to"].lower(), int(t["amount"]))
                  for t in rows if t["kind"] == "native") == sorted(
        (t["hash"], t["from_address"], t["to_address"], int(t["value"])) for t in txs if int(t["value"]) > 0)
    tokens = sorted((t["asset"].lower(), t["from"].lower(), t["to"].lower(), int(t["amount"]), t["tx_hash"])
                    for t in rows if t["kind"] == "erc20")
    assert tokens == sorted((t["token_address"], t["from_address"], t["to_address"], int(t["value"]),
                             t["transaction_hash"]) for t in _jsonl(recording / "expected_token_transfers.json"))
    assert tokens
    # status: the run line names its source (it read "(, 2 blocks)"), coverage is the recorded range
    assert main(["--store", str(store), "status"]) == 0
    text = capsys.readouterr().out
    assert "(, " not in text and "(rpc replay:" in text
    assert f"heights {blocks[0]['number']}-{blocks[-1]['number']}" in text
    # replaying again: nothing to do, said so
    assert main(["--store", str(store), "ingest", "ethereum", "--replay", str(recording), *how]) == 0
    assert "stored already; nothing to do" in capsys.readouterr().out
