"""Simulated transactions and blocks rendered as java-tron's HTTP API answers them.

`getblockbynum` (`visible=false`: accounts `41…` hex) and `gettransactioninfobyblocknum` for each
block, and block 0 with the genesis allocations. The shapes are those of the java-tron API pages
(../shared/data/tron/java-tron-docs) and of the ingest's test node (tests/support/tron_fake_node.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from fundtrail.sim.tron.chain import BLOCK_MS, GENESIS_ID, GENESIS_MS, SUN, Chain, SimTx


def _h41(a: bytes) -> str:
    return "41" + a.hex()


def block_id(seed: int, number: int) -> str:
    """java-tron's block id: the number in the first 8 bytes, then 24 bytes of the block's hash."""
    if number == 0:
        return GENESIS_ID
    return number.to_bytes(8, "big").hex() + hashlib.sha256(f"block:{seed}:{number}".encode()).hexdigest()[16:]


def render_block(chain: Chain, number: int, txs: list[SimTx]) -> tuple[dict, list[dict] | dict]:
    """Block `number` with `txs` as `getblockbynum` answers it, and its transaction infos."""
    ts = GENESIS_MS + number * BLOCK_MS
    raw: dict[str, Any] = {"number": number, "txTrieRoot": hashlib.sha256(f"trie:{chain.seed}:{number}".encode())
                           .hexdigest(), "witness_address": _h41(chain.witnesses[number % len(chain.witnesses)]),
                           "parentHash": block_id(chain.seed, number - 1), "version": 31, "timestamp": ts}
    bid = block_id(chain.seed, number)
    out_txs, infos = [], []
    for tx in txs:
        ret: dict[str, Any] = {"contractRet": "SUCCESS" if tx.ok else "REVERT"}
        raw_data: dict[str, Any] = {
            "contract": [{"parameter": {"value": tx.value, "type_url": f"type.googleapis.com/protocol.{tx.contract}"},
                          "type": tx.contract}],
            "ref_block_bytes": f"{(number - 1) & 0xffff:04x}",
            "ref_block_hash": block_id(chain.seed, number - 1)[16:32],
            "expiration": ts + 60_000, "timestamp": ts - 1_000}
        if tx.contract == "TriggerSmartContract":
            raw_data["fee_limit"] = 100 * SUN
        out_txs.append({"ret": [ret], "signature": [tx.txid * 2 + "1b"], "txID": tx.txid, "raw_data": raw_data})
        info = {"id": tx.txid, "blockNumber": number, "blockTimeStamp": ts, "contractResult": [""], **tx.info}
        if tx.fee:
            info["fee"] = tx.fee
        infos.append(info)
    block: dict[str, Any] = {"blockID": bid, "block_header": {"raw_data": raw, "witness_signature": bid * 2}}
    if out_txs:
        block["transactions"] = out_txs
    return block, infos


def genesis_txid(seed: int, i: int) -> str:
    """The id of genesis allocation i (block 0)."""
    return hashlib.sha256(f"genesis:{seed}:{i}".encode()).hexdigest()


def render_genesis(chain: Chain) -> dict:
    """Block 0: the allocations, sent by a text as on mainnet (the ingest stores them as minted)."""
    txs = []
    for i, (to, amount) in enumerate(chain.genesis.items()):
        txid = genesis_txid(chain.seed, i)
        txs.append({"txID": txid, "raw_data": {"contract": [{"parameter": {"value": {
            "amount": amount, "owner_address": b"0x000000000000".hex(), "to_address": _h41(to)},
            "type_url": "type.googleapis.com/protocol.TransferContract"}, "type": "TransferContract"}],
            "timestamp": 0}})
    raw = {"timestamp": 0, "txTrieRoot": hashlib.sha256(f"trie:{chain.seed}:0".encode()).hexdigest(),
           "parentHash": hashlib.sha256(b"genesis-parent").hexdigest(),
           "witness_address": b"fundtrail simulated genesis".hex()}
    return {"blockID": GENESIS_ID, "block_header": {"raw_data": raw}, "transactions": txs}
