"""TRON mainnet block 50,000,011 through the whole ingest: java-tron HTTP API on loopback -> fetch ->
pipeline -> store, then `--record` and `--replay` of it.

The node's answers are rebuilt from the rows GraphSense stored (tests/support/tron_graphsense.py
says what is rebuilt: TRC-10 asset ids and amounts and fees are placeholders, so only parties are
checked for those). The oracles are GraphSense's own rows and the issue's figure: 73 USDT
`Transfer` logs moving exactly 465,704.408725 USDT, 194 TRX transfers with their parties and
amounts, 2 internal traces. Token metadata comes from the node's `triggerconstantcontract` and
`getassetissuebyid` answers, given here by the test.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from support.tron_fake_node import USDT_41, FakeTron, abi_string, abi_uint, store_content
from support.tron_graphsense import TRC10_PLACEHOLDER, block_50000011, data_dir

from fundtrail.ingest.tron.jobs import ingest_tron
from fundtrail.ingest.tron.replay import Recorder, TronReplayTransport
from fundtrail.ingest.tron.rpc import TronRpc
from fundtrail.ingest.tron.transport import TronHttpTransport
from fundtrail.store import Store
from fundtrail.store.tables import TRANSFER_KINDS

N = 50_000_011
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


@pytest.fixture(scope="module")
def real() -> tuple[dict, list[dict], dict]:
    if not (data_dir() / "graphsense-lib" / "block-50000011").is_dir():
        pytest.skip("shared TRON data not found")
    return block_50000011()


@pytest.fixture(scope="module")
def ingested(real: tuple[dict, list[dict], dict], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    block, infos, _ = real
    root = tmp_path_factory.mktemp("b50m")
    with FakeTron(head=0, txs_per_block=0) as node:
        node.put(block, infos)
        node.contracts.update({(USDT_41, "name()"): abi_string("Tether USD"),
                               (USDT_41, "symbol()"): abi_string("USDT"), (USDT_41, "decimals()"): abi_uint(6)})
        node.assets[TRC10_PLACEHOLDER] = {"id": TRC10_PLACEHOLDER, "name": b"BitTorrent".hex(),
                                          "abbr": b"BTT".hex(), "precision": 6}
        rpc = TronRpc(TronHttpTransport(node.url, backoff=0.01), recorder=Recorder(root / "rec"))
        with rpc:
            report = ingest_tron(Store.open(root / "store"), rpc, first=N, last=N)
    assert (report.blocks, report.transactions) == (1, 293)
    return root / "store", root / "rec"


def _transfers(root: Path) -> list[tuple]:
    with Store.open(root).query() as con:
        return con.execute(
            "SELECT t.kind, f.address, r.address, a.address, t.amount, x.tx_type FROM tron_transfers t "
            "LEFT JOIN tron_addresses f ON f.address_id = t.from_id "
            "LEFT JOIN tron_addresses r ON r.address_id = t.to_id "
            "LEFT JOIN tron_addresses a ON a.address_id = t.asset_id "
            "LEFT JOIN tron_transactions x ON x.tx_id = t.tx_id").fetchall()


def test_usdt_moves_exactly_what_graphsense_logs_say(ingested: tuple[Path, Path], real) -> None:
    _, _, rows = real
    logs = [lg for lg in rows["logs"] if lg["topic0"] == TRANSFER and lg["address"] == "0x" + USDT_41[2:]]
    assert len(logs) == 73
    usdt = [r for r in _transfers(ingested[0])
            if TRANSFER_KINDS[r[0]] == "erc20" and bytes(r[3]).hex() == USDT_41[2:]]
    assert len(usdt) == 73 and sum(int(r[4]) for r in usdt) == 465_704_408_725
    assert Counter((bytes(r[1]).hex(), bytes(r[2]).hex(), int(r[4])) for r in usdt) == Counter(
        (lg["topics"][1][-40:], lg["topics"][2][-40:], int(lg["data"], 16)) for lg in logs)


def test_trx_transfers_have_graphsense_parties_and_amounts(ingested: tuple[Path, Path], real) -> None:
    _, _, rows = real
    expected = Counter((r["from_address"][2:], r["to_address"][2:], r["value"])
                       for r in rows["transactions"] if r["transaction_type"] == 1)
    assert sum(expected.values()) == 194
    got = Counter((bytes(r[1]).hex(), bytes(r[2]).hex(), int(r[4])) for r in _transfers(ingested[0])
                  if TRANSFER_KINDS[r[0]] == "native" and r[5] == 1)
    assert got == expected


def test_trc10_and_internal_parties(ingested: tuple[Path, Path], real) -> None:
    _, _, rows = real
    moves = _transfers(ingested[0])
    trc10 = Counter((bytes(r[1]).hex(), bytes(r[2]).hex()) for r in moves if TRANSFER_KINDS[r[0]] == "trc10")
    assert trc10 == Counter((r["from_address"][2:], r["to_address"][2:])
                            for r in rows["transactions"] if r["transaction_type"] == 2)
    assert sum(trc10.values()) == 21
    internal = Counter((bytes(r[1]).hex(), bytes(r[2]).hex(), int(r[4])) for r in moves
                       if TRANSFER_KINDS[r[0]] == "internal")
    assert internal == Counter((t["caller_address"][2:], t["transferto_address"][2:], t["call_value"])
                               for t in rows["traces"] if t["call_value"])


def test_token_metadata_from_the_node(ingested: tuple[Path, Path]) -> None:
    with Store.open(ingested[0]).query() as con:
        tokens = {bytes(a).hex(): (std, sym, dec) for a, std, sym, dec in con.execute(
            "SELECT a.address, t.standard, t.symbol, t.decimals FROM tron_tokens t "
            "JOIN tron_addresses a USING (address_id)").fetchall()}
    assert tokens[USDT_41[2:]] == ("erc20", "USDT", 6)
    assert tokens[int(TRC10_PLACEHOLDER).to_bytes(20, "big").hex()] == ("trc10", "BTT", 6)


def test_replay_of_the_recording_equals_the_live_store(ingested: tuple[Path, Path], tmp_path: Path) -> None:
    store, rec = ingested
    replay = TronReplayTransport(rec)
    assert replay.recorded_blocks() == [N]  # the genesis, asked for the network check, is not recorded
    with TronRpc(replay, by_range=False) as rpc:
        report = ingest_tron(Store.open(tmp_path), rpc, recorded=replay.recorded_blocks())
    assert report.blocks == 1
    assert store_content(tmp_path) == store_content(store)
