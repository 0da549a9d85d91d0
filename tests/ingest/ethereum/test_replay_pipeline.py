"""Real mainnet JSON-RPC recordings through the whole ingest (fetch, decode, store, export), matched
against ethereum-etl's expected output; and bad node answers storing nothing partial.

Fixture test_stream/blocks_1755634_1755635 (June 2016) records eth_getBlockByNumber and
per-transaction receipts only: eth_getBlockReceipts and traces are answered "method not found", as a
node without them would, which exercises the receipt fallback and the no-traces path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fundtrail.errors import SourceError
from fundtrail.ingest.ethereum.pipeline import EthIngest
from fundtrail.ingest.ethereum.replay import ReplayTransport
from fundtrail.ingest.ethereum.rpc import EthRpc
from fundtrail.model.chains import EVM_CHAINS
from fundtrail.store import Store
from fundtrail.store.account_export import iter_transfers
from fundtrail.store.status import status

FIRST, LAST = 1755634, 1755635


@pytest.fixture
def fixture_dir(testdata: Path) -> Path:
    return testdata / "eth" / "ethereum-etl-fixtures" / "test_stream" / "blocks_1755634_1755635"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _ingest(directory: Path, root: Path) -> Store:
    store = Store.open(root)
    rpc = EthRpc(ReplayTransport(directory, unrecorded_as_rpc_error=True))
    with EthIngest(store, EVM_CHAINS["eth"], rpc, batch_blocks=10) as ing:
        ing.ingest_range(FIRST, LAST)
        report = ing.finish()
    assert report.blocks == 2 and report.trace_mode == "none"
    assert any("no traces" in w for w in report.warnings)
    return store


def test_recorded_blocks_match_ethereum_etl(fixture_dir: Path, tmp_path: Path) -> None:
    store = _ingest(fixture_dir, tmp_path / "s")
    blocks = _jsonl(fixture_dir / "expected_blocks.json")
    txs = _jsonl(fixture_dir / "expected_transactions.json")
    with store.query() as con:
        got_blocks = con.execute(
            "SELECT number, hash, parent_hash, timestamp, gas_limit, gas_used, size, tx_count, a.address "
            "FROM eth_blocks b JOIN eth_addresses a ON a.address_id = b.miner_id ORDER BY number").fetchall()
        got_txs = {bytes(r[0]): r for r in con.execute(
            "SELECT t.hash, t.nonce, t.tx_index, f.address, o.address, t.value_raw, t.gas, t.gas_price, "
            "t.status, t.gas_used, t.cumulative_gas_used, t.block_number "
            "FROM eth_transactions t JOIN eth_addresses f ON f.address_id = t.from_id "
            "LEFT JOIN eth_addresses o ON o.address_id = t.to_id").fetchall()}
    assert [(b["number"], b["hash"], b["parent_hash"], b["timestamp"], b["gas_limit"], b["gas_used"],
             b["size"], b["transaction_count"], b["miner"]) for b in blocks] == [
        (n, "0x" + bytes(h).hex(), "0x" + bytes(p).hex(), ts, gl, gu, sz, tc, "0x" + bytes(m).hex())
        for n, h, p, ts, gl, gu, sz, tc, m in got_blocks]
    assert len(got_txs) == len(txs)
    for t in txs:
        g = got_txs[bytes.fromhex(t["hash"][2:])]
        assert (g[1], g[2], "0x" + bytes(g[3]).hex(), "0x" + bytes(g[4]).hex() if g[4] else None,
                int.from_bytes(bytes(g[5]), "big"), g[6], int(g[7]), g[9], g[10], g[11]) == (
            t["nonce"], t["transaction_index"], t["from_address"], t["to_address"], int(t["value"]),
            t["gas"], int(t["gas_price"]), t["receipt_gas_used"], t["receipt_cumulative_gas_used"],
            t["block_number"])
        assert g[8] == t["receipt_status"]  # None before Byzantium


def test_recorded_transfers_match_ethereum_etl(fixture_dir: Path, tmp_path: Path) -> None:
    store = _ingest(fixture_dir, tmp_path / "s")
    rows = list(iter_transfers(store, "eth"))
    tokens = [(t["asset"].lower(), t["from"].lower(), t["to"].lower(), int(t["amount"]), t["tx_hash"],
               t["log_index"]) for t in rows if t["kind"] == "erc20"]
    expected = [(t["token_address"], t["from_address"], t["to_address"], int(t["value"]),
                 t["transaction_hash"], t["log_index"]) for t in _jsonl(fixture_dir / "expected_token_transfers.json")]
    assert sorted(tokens) == sorted(expected) and expected
    txs = _jsonl(fixture_dir / "expected_transactions.json")
    natives = sorted((t["tx_hash"], t["from"].lower(), t["to"].lower(), int(t["amount"]))
                     for t in rows if t["kind"] == "native")
    assert natives == sorted((t["hash"], t["from_address"], t["to_address"], int(t["value"]))
                             for t in txs if int(t["value"]) > 0)
    blocks = {b["number"]: b for b in _jsonl(fixture_dir / "expected_blocks.json")}
    fees = [t for t in rows if t["kind"] == "fee"]
    # before London the whole fee goes to the miner
    assert sorted((t["tx_hash"], t["to"].lower(), int(t["amount"])) for t in fees) == sorted(
        (t["hash"], blocks[t["block_number"]]["miner"], t["receipt_gas_used"] * int(t["gas_price"]))
        for t in txs if t["receipt_gas_used"] * int(t["gas_price"]) > 0)


def test_missing_receipt_stores_nothing_for_the_batch(fixture_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(fixture_dir, broken)
    next(broken.glob("web3_response.eth_getTransactionReceipt_*.json")).unlink()
    store = Store.open(tmp_path / "s")
    rpc = EthRpc(ReplayTransport(broken, unrecorded_as_rpc_error=True))  # the receipt: a node error
    with pytest.raises(SourceError) as info, EthIngest(store, EVM_CHAINS["eth"], rpc, batch_blocks=10) as ing:
        ing.ingest_range(FIRST, LAST)
    assert "eth_getTransactionReceipt" in info.value.one_line()
    assert status(store)["chains"] == []  # nothing committed: no empty chain left behind
    assert store.runs()[0]["status"] == "failed"


def test_null_block_is_a_clear_error(fixture_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(fixture_dir, broken)
    (broken / "web3_response.eth_getBlockByNumber_0x1ac9f3_true.json").write_text("null")
    store = Store.open(tmp_path / "s")
    rpc = EthRpc(ReplayTransport(broken, unrecorded_as_rpc_error=True))
    with pytest.raises(SourceError, match="1755635"), \
            EthIngest(store, EVM_CHAINS["eth"], rpc, batch_blocks=10) as ing:
        ing.ingest_range(FIRST, LAST)
    assert status(store)["chains"] == []  # nothing committed: no empty chain left behind


def test_pre_byzantium_failure_comes_from_the_top_level_trace() -> None:
    """No receipt status before Byzantium: a failed top-level trace marks the value as not moved."""
    from fundtrail.ingest.ethereum.rows import (
        AddressBook,
        BlockBundle,
        Counters,
        build_tables,
    )

    a, b, miner = b"\x01" * 20, b"\x02" * 20, b"\x03" * 20
    block = {"number": 5, "hash": b"\x05" * 32, "parent_hash": b"\x04" * 32, "timestamp": 1, "miner": miner,
             "gas_limit": 10**6, "gas_used": 21000, "withdrawals": []}
    txs = [{"hash": h, "transaction_index": i, "from_address": a, "to_address": b, "value": 7, "nonce": i,
            "gas": 21000, "gas_price": 1} for i, h in enumerate((b"\xaa" * 32, b"\xbb" * 32))]
    receipts = [{"transaction_hash": t["hash"], "gas_used": 21000, "status": None, "logs": []} for t in txs]
    traces = [{"block_number": 5, "transaction_hash": t["hash"], "trace_address": [], "trace_type": "call",
               "call_type": "call", "from_address": a, "to_address": b, "value": 7,
               "status": 0 if i == 0 else 1, "error": "Out of gas" if i == 0 else None}
              for i, t in enumerate(txs)]
    tables, _ = build_tables([BlockBundle(block, txs, receipts, "parity", traces)], AddressBook(),
                             Counters(), {})
    natives = [r for r in tables["transfers"].to_pylist() if r["kind"] == 0]
    assert [(r["tx_id"], r["success"]) for r in natives] == [(0, False), (1, True)]
