"""TRON ingest against a java-tron HTTP API on loopback: ranges, reruns, bad answers, retries,
follow mode through a reorganisation.

The node (tests/support/tron_fake_node.py) answers in the shapes of the java-tron API pages; the
oracle of every store comparison is an independent clean ingest of the same chain, and the counts
come from the chain the node was given, not from the code under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tron_fake_node import FakeTron, account, store_content

from fundtrail.errors import SourceError, UsageError
from fundtrail.ingest.tron.jobs import ingest_tron
from fundtrail.ingest.tron.rpc import TronRpc
from fundtrail.ingest.tron.transport import TronHttpTransport, TronNodeError
from fundtrail.store import Store

TXS = 3


def _rpc(node: FakeTron, **kw: object) -> TronRpc:
    return TronRpc(TronHttpTransport(node.url, backoff=0.01, retries=3), **kw)  # type: ignore[arg-type]


def _ingest(root: Path, node: FakeTron, **kw: object):
    with _rpc(node) as rpc:
        return ingest_tron(Store.open(root), rpc, batch_blocks=4, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def node():
    with FakeTron(head=12, txs_per_block=TXS) as n:
        yield n


@pytest.fixture(scope="module")
def clean(node: FakeTron, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("clean")
    report = _ingest(root, node)
    assert (report.blocks, report.transactions, report.batches) == (13, 12 * TXS, 4)
    return store_content(root)


def test_range_stores_every_block_and_transaction(node: FakeTron, clean: dict) -> None:
    heights = [h for h, *_ in clean["block_index"]]
    assert heights == list(range(13))
    assert [bytes(h).hex() for _, h, *_ in clean["block_index"]] == [node.blocks[n][0]["blockID"]
                                                                    for n in range(13)]
    assert len(clean["transactions"]) == 12 * TXS
    # the TRX value of every TransferContract, as the node gave it (amounts in sun)
    sent = sorted(tx["raw_data"]["contract"][0]["parameter"]["value"]["amount"]
                  for n in range(1, 13) for tx in node.blocks[n][0]["transactions"])
    assert sent and sum(sent) > 0
    addresses = {bytes(r[1]) for r in clean["addresses"]}
    assert bytes.fromhex(account(1)[2:]) in addresses  # stored as the 20-byte account hash


def test_blocks_come_100_at_most_per_range_call() -> None:
    with FakeTron(head=230, txs_per_block=0) as big:  # refuses ranges over 100, as java-tron does
        with _rpc(big) as rpc:
            blocks = rpc.blocks(list(range(231)) + [7])
        assert [b["blockID"] for b in blocks] == [big.blocks[n][0]["blockID"] for n in [*range(231), 7]]
        ranges = sorted((b["startNum"], b["endNum"]) for p, b in big.calls
                        if p.endswith("getblockbylimitnext"))
        assert ranges == [(0, 100), (7, 8), (100, 200), (200, 231)]


def test_rerun_is_idempotent_and_resumes(node: FakeTron, clean: dict, tmp_path: Path) -> None:
    first = _ingest(tmp_path, node, last=5)
    assert first.blocks == 6
    second = _ingest(tmp_path, node)  # after the stored tip, to the node's head
    assert second.blocks == 7
    again = _ingest(tmp_path, node, first=0, last=12)
    assert again.blocks == 0 and again.skipped_known == 13
    assert store_content(tmp_path) == clean


def test_node_error_answer_is_one_clear_line(node: FakeTron, clean: dict, tmp_path: Path) -> None:
    node.fail("getblockbylimitnext", 4, 200, {"Error": "class java.lang.NullPointerException : null"})
    with pytest.raises(TronNodeError) as err:
        _ingest(tmp_path, node)
    text = err.value.one_line()
    assert "/wallet/getblockbylimitnext" in text and "blocks 4..7" in text
    assert "NullPointerException" in text and "\n" not in text
    assert [h for h, *_ in store_content(tmp_path)["block_index"]] == [0, 1, 2, 3]  # earlier batch kept
    _ingest(tmp_path, node)
    assert store_content(tmp_path) == clean


def test_info_error_names_endpoint_and_block(node: FakeTron, tmp_path: Path) -> None:
    node.fail("gettransactioninfobyblocknum", 2, 200, {"Error": "class org.tron.core.X : boom"})
    with pytest.raises(SourceError, match=r"/wallet/gettransactioninfobyblocknum .*\(block 2\).*boom"):
        _ingest(tmp_path, node)
    assert store_content(tmp_path)["block_index"] == []


def test_http_500_then_success_is_retried(node: FakeTron, clean: dict, tmp_path: Path) -> None:
    node.fail("gettransactioninfobyblocknum", 6, 500, b"busy", times=2)
    node.fail("getblockbylimitnext", 8, 503, b"", times=1)
    node.calls.clear()
    _ingest(tmp_path, node)
    assert sum(1 for p, b in node.calls if p.endswith("gettransactioninfobyblocknum") and b["num"] == 6) == 3
    assert store_content(tmp_path) == clean


def test_retries_give_up_with_the_status(node: FakeTron, tmp_path: Path) -> None:
    node.fail("getblockbylimitnext", 0, 500, b"down", times=4)
    with pytest.raises(SourceError, match=r"gave up after 4 attempts.*HTTP 500"):
        _ingest(tmp_path, node)


def test_truncated_json_answer_stops_the_batch(node: FakeTron, clean: dict, tmp_path: Path) -> None:
    good = _rpc(node).data.post("/wallet/gettransactioninfobyblocknum", {"num": 5})
    import json
    node.fail("gettransactioninfobyblocknum", 5, 200, json.dumps(good).encode()[:-40])
    with pytest.raises(SourceError, match=r"\(block 5\): malformed JSON"):
        _ingest(tmp_path, node)
    assert [h for h, *_ in store_content(tmp_path)["block_index"]] == [0, 1, 2, 3]
    _ingest(tmp_path, node)
    assert store_content(tmp_path) == clean


def test_infos_not_matching_the_block_are_refused(node: FakeTron, tmp_path: Path) -> None:
    node.fail("gettransactioninfobyblocknum", 3, 200, [])  # a node that lost the infos
    with pytest.raises(SourceError, match=r"\(block 3\): transaction infos do not match"):
        _ingest(tmp_path, node)


def test_wrong_block_in_answer_is_refused(node: FakeTron, tmp_path: Path) -> None:
    node.fail("getblockbylimitnext", 0, 200, {"block": [node.blocks[1][0]]})
    with pytest.raises(SourceError, match="not found|unexpected block"):
        _ingest(tmp_path, node)


def test_malformed_block_is_the_nodes_fault(node: FakeTron, tmp_path: Path) -> None:
    import copy
    bad = copy.deepcopy(node.blocks[1][0])
    bad["transactions"][0]["raw_data"]["contract"] = []
    node.fail("getblockbylimitnext", 0, 200, {"block": [node.blocks[0][0], bad] + [node.blocks[n][0] for n in (2, 3)]})
    with pytest.raises(SourceError, match=r"\(block 1\): cannot convert the node's answer: .*raw_data.contract"):
        _ingest(tmp_path, node)
    assert store_content(tmp_path)["block_index"] == []


def test_other_network_is_refused(node: FakeTron, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"chain id 0x2b6653dc.*tron-nile"):
        _ingest(tmp_path, node, chain="tron-nile")


def test_follow_rolls_back_a_reorganisation(tmp_path: Path) -> None:
    with FakeTron(head=6, txs_per_block=2) as live:
        steps: list[str] = []

        def should_stop() -> bool:
            steps.append("check")
            if len(steps) == 2:  # blocks 0..6 stored: the node switches to another branch above 3
                live.reorg(3, 8)
            return len(steps) >= 3

        with _rpc(live) as rpc:
            report = ingest_tron(Store.open(tmp_path / "followed"), rpc, follow=True, batch_blocks=3,
                                 poll_interval=0.01, should_stop=should_stop)
        assert report.rolled_back == 3 and any("rolled back to block 3" in w for w in report.warnings)
        followed = store_content(tmp_path / "followed")
        assert [bytes(h).hex() for _, h, *_ in followed["block_index"]] == [
            live.blocks[n][0]["blockID"] for n in range(9)]
        _ingest(tmp_path / "direct", live)  # the oracle: the new branch ingested in one go
        assert followed == store_content(tmp_path / "direct")


def test_should_stop_ends_follow_when_idle(tmp_path: Path) -> None:
    with FakeTron(head=2, txs_per_block=1) as live:
        checks = []

        def should_stop() -> bool:
            checks.append(1)
            return len(checks) > 4  # ingest, then idle polls, then stop

        with _rpc(live) as rpc:
            report = ingest_tron(Store.open(tmp_path), rpc, follow=True, poll_interval=0.01,
                                 should_stop=should_stop)
        assert report.blocks == 3 and len(checks) in (5, 6)  # stopped at the first True (the next check)
        assert sum(1 for p, _ in live.calls if p.endswith("getnowblock")) >= 2  # polled while idle


def test_solidity_endpoint_serves_the_data(tmp_path: Path) -> None:
    with FakeTron(head=9, txs_per_block=1) as live:
        live.solid_head = 6  # solidified blocks lag the head
        rpc = TronRpc(TronHttpTransport(live.url, backoff=0.01),
                      solidity=TronHttpTransport(live.url, backoff=0.01))
        with rpc:
            report = ingest_tron(Store.open(tmp_path), rpc)
        assert report.blocks == 7  # to the solidified head only
        paths = {p.rsplit("/", 1)[0] for p, _ in live.calls}
        assert paths == {"/walletsolidity"}
