"""Malformed java-tron answers: one-line DataErrors naming block, transaction and field; an unknown
contract type is kept (its transaction row) and noted, not fatal; failed transactions move nothing.
Also the issuers' freeze events, decoded by the shared row builder from TRON and EVM bundles alike."""

from __future__ import annotations

import copy

import pytest

from fundtrail.chains.ethereum.freezes import ADDED_BLACK_LIST, BLACKLISTED, DESTROYED_BLACK_FUNDS
from fundtrail.chains.ethereum.tokens import TRANSFER
from fundtrail.errors import DataError
from fundtrail.ingest.ethereum.rows import KIND, AddressBook, BlockBundle, Counters, build_tables
from fundtrail.ingest.tron.bundle import to_bundle

A = "41" + "aa" * 20
B = "41" + "bb" * 20
USDT = "a614f803b6fd780986a42c78ec9c7f77e6ded13c"
TXID = "ab" * 32


def _block(*txs: dict) -> dict:
    return {"blockID": f"{7:016x}" + "cd" * 24, "transactions": list(txs),
            "block_header": {"raw_data": {"number": 7, "timestamp": 1_700_000_001_000, "parentHash": "ee" * 32,
                                          "witness_address": A}}}


def _tx(name: str, value: dict, txid: str = TXID, ok: str = "SUCCESS") -> dict:
    return {"txID": txid, "ret": [{"contractRet": ok}],
            "raw_data": {"contract": [{"type": name, "parameter": {"value": value}}]}}


def _rows(block: dict, infos: list[dict]) -> dict:
    tables, _ = build_tables([to_bundle(block, infos)], AddressBook(), Counters(), {})
    return {n: t.to_pylist() for n, t in tables.items()}


GOOD = _tx("TransferContract", {"owner_address": A, "to_address": B, "amount": 5})


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: b.pop("blockID"), "block 7: field blockID is None, expected 32 bytes of hex"),
    (lambda b: b["block_header"]["raw_data"].pop("timestamp"), "block 7: field timestamp is missing"),
    (lambda b: b["block_header"]["raw_data"].update(witness_address="41zz"), "block 7, field witness_address"),
    (lambda b: b["transactions"][0].pop("txID"), "block 7: field transactions[0].txID is None"),
    (lambda b: b["transactions"][0]["raw_data"].pop("contract"),
     f"block 7, tx {TXID}: field raw_data.contract is missing"),
    (lambda b: b["transactions"][0]["raw_data"]["contract"][0]["parameter"]["value"].pop("to_address"),
     f"block 7, tx {TXID} (TransferContract): field to_address is missing"),
    (lambda b: b["transactions"][0]["raw_data"]["contract"][0]["parameter"]["value"].update(amount="5"),
     f"block 7, tx {TXID} (TransferContract): field amount is '5', expected a non-negative integer"),
    (lambda b: b["transactions"][0]["raw_data"]["contract"][0]["parameter"]["value"].update(owner_address="T1"),
     f"block 7, tx {TXID} (TransferContract), field owner_address: 'T1' is not a TRON address"),
    (lambda b: b.update(transactions={}), "block 7: field transactions is dict, expected a list"),
])
def test_malformed_blocks_name_block_tx_and_field(change, message):
    block = _block(copy.deepcopy(GOOD))
    change(block)
    with pytest.raises(DataError) as exc:
        to_bundle(block, [])
    assert message in exc.value.message and "\n" not in exc.value.message


def test_malformed_infos():
    with pytest.raises(DataError, match=f"block 7, tx {TXID}: its info is of block 8"):
        to_bundle(_block(GOOD), [{"id": TXID, "blockNumber": 8}])
    with pytest.raises(DataError, match=f"block 7, tx {TXID}: field fee is -1"):
        to_bundle(_block(GOOD), [{"id": TXID, "blockNumber": 7, "fee": -1}])
    with pytest.raises(DataError, match="transaction infos: expected a list, got str"):
        to_bundle(_block(GOOD), "oops")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=f"block 7, tx {TXID}, internal\\[0\\], field caller_address"):
        to_bundle(_block(GOOD), [{"id": TXID, "internal_transactions": [{"transferTo_address": B}]}])
    with pytest.raises(DataError, match="java-tron block: field block_header.raw_data is NoneType"):
        to_bundle({"block_header": {}}, [])


def test_unknown_contract_type_is_kept_and_noted():
    odd = _tx("BrandNewContract", {"owner_address": A, "whatever": 1}, txid="01" * 32)
    bundle = to_bundle(_block(odd, GOOD), [])
    assert bundle.notes == [f"block 7, tx {'01' * 32}: unknown contract type BrandNewContract (kept, not decoded)"]
    rows = _rows(_block(odd, GOOD), [])
    assert [t["tx_type"] for t in rows["transactions"]] == [None, 1]
    assert [e["kind"] for e in rows["events"]] == ["unknown"]
    assert [int(t["amount"]) for t in rows["transfers"] if t["kind"] == KIND["native"]] == [5]


def _log(topics: list[str], data: str) -> dict:
    return {"address": USDT, "topics": topics, "data": data}


def _word(hex40: str) -> str:
    return "00" * 12 + hex40


def test_failed_transaction_moves_nothing_and_its_logs_decode_to_nothing():
    call = _tx("TriggerSmartContract", {"owner_address": A, "contract_address": "41" + USDT, "call_value": 9},
               ok="REVERT")
    transfer_log = _log([TRANSFER.hex(), _word("aa" * 20), _word("bb" * 20)], f"{10**6:064x}")
    freeze_log = _log([ADDED_BLACK_LIST.hex()], _word("bb" * 20))
    info = {"id": TXID, "fee": 1_000, "receipt": {"result": "REVERT"}, "log": [transfer_log, freeze_log],
            "internal_transactions": [{"caller_address": "41" + USDT, "transferTo_address": B,
                                       "callValueInfo": [{"callValue": 3}], "note": "63616c6c"}]}
    rows = _rows(_block(call), [info])
    (t,) = rows["transactions"]
    assert t["status"] == 0
    by_kind = {r["kind"]: r for r in rows["transfers"]}
    assert by_kind[KIND["native"]]["success"] is False and int(by_kind[KIND["native"]]["amount"]) == 9
    assert by_kind[KIND["internal"]]["success"] is False
    assert by_kind[KIND["fee"]]["success"] is True  # the fee is paid all the same
    assert KIND["erc20"] not in by_kind and rows["freezes"] == []
    assert len(rows["logs"]) == 2  # kept as evidence


def test_tron_freeze_events_of_successful_transactions():
    call = _tx("TriggerSmartContract", {"owner_address": A, "contract_address": "41" + USDT})
    logs = [_log([ADDED_BLACK_LIST.hex()], _word("bb" * 20)),
            _log([DESTROYED_BLACK_FUNDS.hex()], _word("bb" * 20) + f"{123456:064x}")]
    rows = _rows(_block(call), [{"id": TXID, "log": logs}])
    addr = {r["address_id"]: r["address"].hex() for r in rows["addresses"]}
    got = [(addr[f["token_id"]], addr[f["address_id"]], f["action"], f["amount"] and int(f["amount"]), f["log_index"])
           for f in rows["freezes"]]
    assert got == [(USDT, "bb" * 20, "blacklisted", None, 0), (USDT, "bb" * 20, "destroyed", 123456, 1)]


def test_evm_bundles_get_freezes_too():
    usdc = bytes.fromhex("a0b86991c6218b36c1d19d4a2e9eb0ce3606eb48")
    log = {"address": usdc, "topics": [BLACKLISTED, bytes(12) + b"\xcc" * 20], "data": b"", "log_index": 4}
    tx = {"hash": b"\x01" * 32, "transaction_index": 0, "from_address": b"\xaa" * 20, "to_address": usdc,
          "value": 0, "nonce": 1, "gas": 50_000, "gas_price": 10}
    rc = {"status": 1, "gas_used": 30_000, "effective_gas_price": 10, "logs": [log]}
    blk = {"number": 1, "hash": b"\x02" * 32, "parent_hash": b"\x03" * 32, "timestamp": 1, "miner": b"\x04" * 20,
           "gas_limit": 1, "gas_used": 1}
    failed = dict(rc, status=0)
    for receipt, n in ((rc, 1), (failed, 0)):
        bundle = BlockBundle(block=blk, transactions=[tx], receipts=[receipt], trace_mode="none")
        tables, _ = build_tables([bundle], AddressBook(), Counters(), {})
        freezes = tables["freezes"].to_pylist()
        assert len(freezes) == n
        if n:
            assert (freezes[0]["action"], freezes[0]["log_index"]) == ("blacklisted", 4)


def test_genesis_allocations_are_minted():
    """Block 0 has no `number` (protobuf leaves 0 out), a text as its witness and a text as the sender
    of its allocations (mainnet's: "0x000000000000000000000" hex-encoded): the TRX is minted."""
    text = b"0x000000000000000000000".hex()
    gen = {"blockID": "00" * 8 + "1ebf88508a03865c71d452e25f4d51194196a1d22b6653dc",
           "block_header": {"raw_data": {"timestamp": 0, "parentHash": "e5" * 32,
                                         "witness_address": b"A new system must allow existing systems".hex()}},
           "transactions": [_tx("TransferContract", {"owner_address": text, "to_address": B, "amount": 10**15})]}
    rows = _rows(gen, [])
    (b,) = rows["blocks"]
    assert (b["number"], b["miner_id"]) == (0, None)
    (t,) = [r for r in rows["transfers"] if r["kind"] == KIND["native"]]
    assert (t["from_id"], int(t["amount"])) == (None, 10**15)
    with pytest.raises(DataError, match="field owner_address"):  # the same above block 0 is bad data
        to_bundle(_block(_tx("TransferContract", {"owner_address": text, "to_address": B, "amount": 1})), [])
