"""The anvil test harness checks itself: the committed contract build matches its sources, and the
scenario's ground truth (tests/support/eth_scenario.py) agrees with what the node reports
(receipts, logs, balances, both trace styles). The Ethereum ingest tests rely on both.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest
from support.anvil import Anvil, RpcError, require_anvil, require_solcjs
from support.eth_scenario import (
    KINDS,
    ZERO,
    Scenario,
    call_uint,
    compile_contracts,
    load_artefacts,
    run_scenario,
)

ETH_KINDS = ("native", "internal")


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[Anvil, Scenario]]:
    with Anvil() as node:
        yield node, run_scenario(node)


def _int(hex_value: str) -> int:
    return int(hex_value, 16)


def _topic(node: Anvil, signature: str) -> str:
    return node.rpc("web3_sha3", "0x" + signature.encode().hex())


def _addr_topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:]


# -- the build --------------------------------------------------------------------------------


def test_anvil_committed_build_is_exactly_what_the_sources_compile_to(tmp_path):
    solcjs = require_solcjs()
    fresh = compile_contracts(tmp_path, solcjs=solcjs)
    committed = load_artefacts()
    assert sorted(fresh) == sorted(committed) == [
        "Doomed", "Forwarder", "Reverter", "TestIssuer", "TestMulti", "TestNFT", "TestToken", "TestWETH"]
    for name, artefact in fresh.items():
        assert artefact["bytecode"] == committed[name]["bytecode"], f"{name}: rebuild the artefacts"
        assert artefact == committed[name], name
        assert artefact["compiler"]["settings"]["evmVersion"] == "cancun"


def test_anvil_missing_binary_skips_locally_and_fails_under_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="make test"):
        require_anvil(tmp_path)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="make test"):
        require_anvil(tmp_path)


# -- the scenario against the node ------------------------------------------------------------


def test_anvil_transactions_have_the_expected_status_logs_and_creations(chain):
    node, s = chain
    assert {m["kind"] for m in s.movements} == set(KINDS) - {"withdrawal"}
    assert len({t["tx_hash"] for t in s.txs}) == len(s.txs) == 45
    for tx in s.txs:
        receipt = node.rpc("eth_getTransactionReceipt", tx["tx_hash"])
        assert _int(receipt["status"]) == tx["status"], tx["label"]
        assert len(receipt["logs"]) == tx["logs"], tx["label"]
        assert receipt["contractAddress"] == tx["created"], tx["label"]
        assert (_int(receipt["blockNumber"]), _int(receipt["transactionIndex"])) == (
            tx["block_number"], tx["tx_index"])
        assert Counter(m["kind"] for m in s.for_tx(tx["tx_hash"]))["fee"] == 1
    statuses = {t["tx_hash"]: t["status"] for t in s.txs}
    assert [h for h, st in statuses.items() if st == 0] == [s.reverted_tx]
    assert all(statuses[h] == 1 for h in [*s.inner_revert_txs, s.selfdestruct_tx])
    creation = node.rpc("eth_getTransactionReceipt", s.creation_tx)
    assert creation["contractAddress"] == s.contracts["token"]
    assert sorted(s.creation_txs) == sorted(s.contracts)
    for name, address in s.contracts.items():
        assert node.rpc("eth_getCode", address, "latest") not in ("0x", ""), name
    native = {m["tx_hash"]: m for m in s.of_kind("native")}
    assert native[s.reverted_tx]["success"] is False and native[s.reverted_tx]["amount"] > 0
    assert any(m["amount"] == 0 and m["to"] != m["from"] for m in native.values())


def test_anvil_eth_balances_change_by_exactly_the_movements(chain):
    node, s = chain
    delta: dict[str, int] = defaultdict(int)
    for m in s.of_kind(*ETH_KINDS):
        if m["success"]:
            delta[m["from"]] -= m["amount"]
            delta[m["to"]] += m["amount"]
    for fee in s.of_kind("fee"):
        assert fee["amount"] == fee["gas_used"] * fee["effective_gas_price"]
        assert fee["amount"] == fee["burnt"] + fee["tip"]
        delta[fee["from"]] -= fee["amount"]
        delta[fee["miner"]] += fee["tip"]
    before, after = hex(s.first_block - 1), hex(s.last_block)
    assert len(delta) >= 15
    for address, change in delta.items():
        measured = _int(node.rpc("eth_getBalance", address, after)) - _int(
            node.rpc("eth_getBalance", address, before))
        assert measured == change, address
    # the self-destructed contract is empty; post-Cancun (EIP-6780) its code stays
    assert _int(node.rpc("eth_getBalance", s.contracts["doomed"], after)) == 0


def test_anvil_token_balances_match_the_movements(chain):
    node, s = chain
    art = load_artefacts()
    fungible: dict[tuple[str, str], int] = defaultdict(int)
    for m in s.of_kind("erc20", "weth_deposit", "weth_withdrawal"):
        fungible[m["asset"], m["from"]] -= m["amount"]
        fungible[m["asset"], m["to"]] += m["amount"]
    for (asset, holder), amount in fungible.items():
        if holder != ZERO:
            got = call_uint(node, art["TestToken"], asset, "balanceOf(address)", holder)
            assert got == amount, (asset, holder)
    assert fungible[s.contracts["big_token"], s.accounts[2]] == 2**256 - 1
    supply = call_uint(node, art["TestToken"], s.contracts["big_token"], "totalSupply()")
    assert supply == 2**256 - 1

    owners = {m["token_id"]: m["to"] for m in s.of_kind("erc721")}  # in order: last owner wins
    assert 2**255 + 7 in owners
    for token_id, holder in owners.items():
        got = call_uint(node, art["TestNFT"], s.contracts["nft"], "ownerOf(uint256)", token_id)
        assert got == int(holder, 16)

    multi: dict[tuple[int, str], int] = defaultdict(int)
    for m in s.of_kind("erc1155"):
        multi[m["token_id"], m["from"]] -= m["amount"]
        multi[m["token_id"], m["to"]] += m["amount"]
    for (token_id, holder), amount in multi.items():
        if holder != ZERO:
            got = call_uint(node, art["TestMulti"], s.contracts["multi"],
                            "balanceOf(uint256,address)", token_id, holder)
            assert got == amount, (token_id, holder)


def test_anvil_log_indexes_point_at_the_logs_that_carry_the_movements(chain):
    node, s = chain
    transfer = _topic(node, "Transfer(address,address,uint256)")
    single = _topic(node, "TransferSingle(address,address,address,uint256,uint256)")
    batch = _topic(node, "TransferBatch(address,address,address,uint256[],uint256[])")
    deposit = _topic(node, "Deposit(address,uint256)")
    withdrawal = _topic(node, "Withdrawal(address,uint256)")
    logs = {}
    for m in s.movements:
        if m["kind"] in ("native", "internal", "fee"):
            assert m["log_index"] is None
            continue
        if m["tx_hash"] not in logs:
            receipt = node.rpc("eth_getTransactionReceipt", m["tx_hash"])
            logs[m["tx_hash"]] = {_int(log["logIndex"]): log for log in receipt["logs"]}
        log = logs[m["tx_hash"]][m["log_index"]]
        topics, data = log["topics"], bytes.fromhex(log["data"][2:])
        assert log["address"] == m["asset"], m["label"]
        if m["kind"] == "erc20":
            assert topics == [transfer, _addr_topic(m["from"]), _addr_topic(m["to"])], m["label"]
            assert int.from_bytes(data, "big") == m["amount"]
        elif m["kind"] == "erc721":
            assert topics == [transfer, _addr_topic(m["from"]), _addr_topic(m["to"]),
                              f"0x{m['token_id']:064x}"], m["label"]
        elif m["kind"] == "erc1155":
            assert topics[0] in (single, batch) and topics[2:] == [
                _addr_topic(m["from"]), _addr_topic(m["to"])], m["label"]
            words = [int.from_bytes(data[i:i + 32], "big") for i in range(0, len(data), 32)]
            if topics[0] == single:
                assert words == [m["token_id"], m["amount"]]
            else:  # offsets, then ids, then values
                n = words[2]
                ids, values = words[3:3 + n], words[4 + n:4 + 2 * n]
                assert (m["token_id"], m["amount"]) in zip(ids, values, strict=True)
        elif m["kind"] == "weth_deposit":
            assert topics == [deposit, _addr_topic(m["to"])] and m["from"] == ZERO
            assert int.from_bytes(data, "big") == m["amount"]
        else:
            assert m["kind"] == "weth_withdrawal" and m["to"] == ZERO
            assert topics == [withdrawal, _addr_topic(m["from"])]
            assert int.from_bytes(data, "big") == m["amount"]
    in_block = [m for m in s.movements if m["block_number"] == s.multi_tx_block]
    assert len({m["tx_hash"] for m in in_block}) == 5
    assert sorted(m["log_index"] for m in in_block if m["log_index"] is not None) == [0, 1, 2]


def _geth_call(root: dict, trace_address: list[int]) -> dict:
    call = root
    for i in trace_address:
        call = call["calls"][i]
    return call


def test_anvil_internal_movements_agree_with_both_trace_styles(chain):
    """anvil answers trace_block (parity) and debug_traceBlockByNumber with callTracer (geth)."""
    node, s = chain
    internal = s.of_kind("internal")
    assert {m["call_type"] for m in internal} == {"call", "selfdestruct"}
    assert any(not m["success"] for m in internal)
    assert any(len(m["trace_address"]) == 2 for m in internal)
    for number in sorted({m["block_number"] for m in internal}):
        parity = node.rpc("trace_block", hex(number))
        geth = node.rpc("debug_traceBlockByNumber", hex(number), {"tracer": "callTracer"})
        tx_hashes = [t["tx_hash"] for t in sorted(s.txs, key=lambda t: t["tx_index"])
                     if t["block_number"] == number]
        assert [g["txHash"] for g in geth] == tx_hashes
        for m in (m for m in internal if m["block_number"] == number):
            p = next(t for t in parity if t["transactionHash"] == m["tx_hash"]
                     and t["traceAddress"] == m["trace_address"])
            g = _geth_call(geth[tx_hashes.index(m["tx_hash"])]["result"], m["trace_address"])
            if m["call_type"] == "selfdestruct":
                assert p["type"] == "suicide" and g["type"] == "SELFDESTRUCT"
                assert (p["action"]["address"], p["action"]["refundAddress"],
                        _int(p["action"]["balance"])) == (m["from"], m["to"], m["amount"])
            else:
                assert p["type"] == "call" and g["type"] == "CALL"
                assert (p["action"]["from"], p["action"]["to"], _int(p["action"]["value"])) == (
                    m["from"], m["to"], m["amount"])
                assert ("error" not in p) == m["success"] == ("error" not in g), m["label"]
            assert (g["from"], g["to"], _int(g["value"])) == (m["from"], m["to"], m["amount"])
    reverted_root = node.rpc("trace_transaction", s.reverted_tx)[0]
    assert reverted_root["traceAddress"] == [] and "error" in reverted_root


def test_anvil_block_receipts_and_fees(chain):
    node, s = chain
    receipts = node.rpc("eth_getBlockReceipts", hex(s.multi_tx_block))
    hashes = [t["tx_hash"] for t in sorted(s.txs, key=lambda t: t["tx_index"])
              if t["block_number"] == s.multi_tx_block]
    assert [r["transactionHash"] for r in receipts] == hashes
    block = node.rpc("eth_getBlockByNumber", hex(s.multi_tx_block), False)
    assert block["withdrawals"] == []  # anvil has no validator withdrawals
    fees = [f for f in s.of_kind("fee") if f["block_number"] == s.multi_tx_block]
    assert sum(f["gas_used"] for f in fees) == _int(block["gasUsed"])
    assert {f["base_fee_per_gas"] for f in fees} == {_int(block["baseFeePerGas"])}


def test_anvil_rpc_errors_name_the_method(chain):
    node, _ = chain
    with pytest.raises(RpcError, match="no_such_method"):
        node.rpc("no_such_method")


def test_anvil_without_automine_mines_pending_transactions_into_one_block():
    with Anvil(automine=False) as node:
        alice, bob = node.accounts[1], node.accounts[2]
        start = node.block_number()
        hashes = [node.rpc("eth_sendTransaction", {"from": alice, "to": bob, "value": hex(v),
                                                   "gas": hex(21_000)}) for v in (1, 2, 3)]
        assert node.block_number() == start
        assert all(node.rpc("eth_getTransactionReceipt", h) is None for h in hashes)
        node.mine()
        block = node.rpc("eth_getBlockByNumber", hex(start + 1), False)
        assert block["transactions"] == hashes  # --order fifo: in the order sent
        node.automine(True)
        last = node.rpc("eth_sendTransaction", {"from": bob, "to": alice, "value": "0x1"})
        assert _int(node.wait_receipt(last)["blockNumber"]) == start + 2
