"""Check a node's blocks before anything of them is stored: the node is an untrusted source.

Per block, as far as the chain's configuration (`EvmChain.verify`) allows:
- "full" (Ethereum's formats): the header's RLP hashes to the block hash; each transaction's
  encoding hashes to its hash and the list to `transactionsRoot`; the receipts (when fetched) to
  `receiptsRoot`; the withdrawals to `withdrawalsRoot`; no uncles means the empty ommers hash.
- "header": only the header hash (the chain's transactions or receipts have chain-specific types),
- "none": nothing can be hashed (a header format of its own).
A block not fully verified is stored with `verified = false` and the run says so once. Parent
links inside a batch and to the stored parent are checked by the pipeline for every chain.
A mismatch is a one-line SourceError naming the block number and hash and the field.
"""

from __future__ import annotations

from typing import Any

from fundtrail.chains.ethereum.encode import (
    header_fork,
    header_rlp,
    receipt_bytes,
    transaction_bytes,
    withdrawal_bytes,
)
from fundtrail.chains.ethereum.keccak import keccak256
from fundtrail.chains.ethereum.rlp import encode
from fundtrail.chains.ethereum.trie import ordered_trie_root
from fundtrail.errors import DataError, SourceError
from fundtrail.model.chains import EvmChain

EMPTY_OMMERS = keccak256(encode([]))
UNVERIFIED_WHY = {
    "header": "its transactions and receipts have chain-specific types, so only header hashes "
              "are checked",
    "none": "its header format cannot be hashed here, so blocks are not checked against their hashes",
    # TRON: a block id is the SHA-256 of the protobuf-encoded header (with the height in its first
    # 8 bytes); the node's JSON does not give the protobuf bytes, so ids are taken as the node states them
    "tron": "java-tron block ids are not recomputed here (they hash the protobuf header the node's JSON does "
            "not carry); blocks are linked by parent id and number only",
}


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _expect(value: Any, where: str, field: str) -> bytes:
    if not isinstance(value, str) or value[:2] not in ("0x", "0X") or len(value) != 66:
        raise SourceError(f"{where}: field {field} is not a 32-byte hash: {str(value)[:80]!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise SourceError(f"{where}: field {field} is not a 32-byte hash: {value[:80]!r}") from None


def verify_block(chain: EvmChain, block: dict[str, Any], receipts: list[dict[str, Any]] | None,
                 source: str) -> bool:
    """Whether `block` (full-transaction JSON) and its `receipts` were fully verified.

    False when the chain's configuration does not allow it (recorded as unverified); SourceError
    when anything checked does not match."""
    if chain.verify == "none":
        return False
    where = f"{source}: block {block_number_text(block.get('number'))}"
    claimed = _expect(block.get("hash"), where, "hash")
    where = f"{where} {_hex(claimed)}"
    try:
        computed = keccak256(header_rlp(block, where))
        if computed != claimed:
            raise SourceError(f"{where}: field hash: the header fields ({header_fork(block)} format) "
                              f"hash to {_hex(computed)}; a header field is wrong or the hash is")
        if chain.verify == "header":
            return False
        _check_body(block, receipts, where, dev=chain.chain_id in DEV_CHAIN_IDS)
    except DataError as exc:
        raise SourceError(exc.message if exc.message.startswith(where) else f"{where}: {exc.message}"
                          ) from None
    return True


def block_number_text(value: Any) -> str:
    """A block number from node JSON for messages: decimal when it is a hex quantity."""
    if isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) > 2:
        try:
            return str(int(value, 16))
        except ValueError:
            pass
    return repr(value)[:40]


#: Development nodes (anvil, hardhat) that mine unsigned transactions of impersonated accounts.
DEV_CHAIN_IDS = frozenset({31337})


def _unsigned(tx: dict[str, Any]) -> bool:
    return str(tx.get("r", "")).lower() in ("0x0", "0x") and str(tx.get("s", "")).lower() in ("0x0", "0x")


def _impersonated_hash(raw: bytes, tx: dict[str, Any], where: str) -> bytes:
    """anvil's hash of an impersonated (unsigned) transaction: keccak of its encoding followed by the
    sender's address, since an all-zero signature names no sender. Only a dev chain has these."""
    sender = tx.get("from")
    if not isinstance(sender, str) or len(sender) != 42:
        raise SourceError(f"{where}: field from is not a 20-byte address: {str(sender)[:80]!r}")
    try:
        return keccak256(raw + bytes.fromhex(sender[2:]))
    except ValueError:
        raise SourceError(f"{where}: field from is not a 20-byte address: {sender[:80]!r}") from None


def _check_body(block: dict[str, Any], receipts: list[dict[str, Any]] | None, where: str, *,
                dev: bool = False) -> None:
    txs = block.get("transactions") or []
    encoded = []
    for i, tx in enumerate(txs):
        if not isinstance(tx, dict):
            raise SourceError(f"{where}: field transactions[{i}] is not a transaction object")
        tx_where = f"{where} transaction {i}"
        claimed = _expect(tx.get("hash"), tx_where, "hash")
        raw = transaction_bytes(tx, f"{tx_where} {_hex(claimed)}")
        if keccak256(raw) != claimed and not (dev and _unsigned(tx)
                                               and _impersonated_hash(raw, tx, tx_where) == claimed):
            raise SourceError(f"{tx_where} {_hex(claimed)}: field hash: the transaction's fields "
                              f"(nonce, value, to, input, gas, fees, signature) hash to "
                              f"{_hex(keccak256(raw))}; a field is wrong or the hash is")
        encoded.append(raw)
    _root(block, "transactionsRoot", encoded, where)
    if receipts is not None:
        _root(block, "receiptsRoot", [receipt_bytes(r, f"{where} receipt {i}")
                                      for i, r in enumerate(receipts)], where)
    withdrawals = block.get("withdrawals")
    if block.get("withdrawalsRoot") is not None:
        if not isinstance(withdrawals, list):
            raise SourceError(f"{where}: field withdrawals is missing or not a list although the "
                              "header has a withdrawalsRoot")
        _root(block, "withdrawalsRoot", [withdrawal_bytes(w, f"{where} withdrawal {i}")
                                         for i, w in enumerate(withdrawals)], where)
    elif withdrawals:
        raise SourceError(f"{where}: field withdrawals: withdrawals in a block whose header has "
                          "no withdrawalsRoot")
    uncles = block.get("uncles")
    if isinstance(uncles, list) and not uncles and _expect(block.get("sha3Uncles"), where,
                                                          "sha3Uncles") != EMPTY_OMMERS:
        raise SourceError(f"{where}: field sha3Uncles: the block lists no uncles but its header "
                          "commits to some")


def _root(block: dict[str, Any], field: str, items: list[bytes], where: str) -> None:
    claimed = _expect(block.get(field), where, field)
    computed = ordered_trie_root(items)
    if computed != claimed:
        raise SourceError(f"{where}: field {field}: the {len(items)} items the node sent give root "
                          f"{_hex(computed)}, not {_hex(claimed)}")
