"""Node JSON of headers, transactions, receipts and withdrawals back to the bytes Ethereum hashes.

A node's answer is checked by re-encoding it: the header's RLP must hash to the block hash, each
transaction's canonical encoding to its hash, and the lists to the roots the header commits to.
Fields are read from the JSON-RPC objects as nodes give them; a field that is missing or malformed
raises `DataError` naming the object and the field. Formats:

- header: the 15 fields of Frontier, then one group per fork, present or absent together:
  London `baseFeePerGas`; Shanghai `withdrawalsRoot`; Cancun `blobGasUsed`, `excessBlobGas`,
  `parentBeaconBlockRoot`; Prague `requestsHash` (geth `types.Header`, EIPs 1559/4895/4844/4788/7685).
- transactions: legacy RLP (EIP-155 `v` as given), and typed `type || rlp(...)` for EIP-2930 (1),
  EIP-1559 (2), EIP-4844 (3) and EIP-7702 (4).
- receipts: `[status or post-state root, cumulativeGasUsed, logsBloom, logs]`, typed like their
  transaction (EIP-2718).
"""

from __future__ import annotations

from typing import Any

from fundtrail.chains.ethereum.fields import JsonFields
from fundtrail.chains.ethereum.rlp import Item, encode
from fundtrail.errors import DataError

# (JSON field, kind) of the header in RLP order; kind: h=hash/bytes, a=address, i=int, b=bytes
_FRONTIER = (("parentHash", "h"), ("sha3Uncles", "h"), ("miner", "a"), ("stateRoot", "h"),
             ("transactionsRoot", "h"), ("receiptsRoot", "h"), ("logsBloom", "b"),
             ("difficulty", "i"), ("number", "i"), ("gasLimit", "i"), ("gasUsed", "i"),
             ("timestamp", "i"), ("extraData", "b"), ("mixHash", "h"), ("nonce", "b"))
FORKS = (
    ("London", (("baseFeePerGas", "i"),)),
    ("Shanghai", (("withdrawalsRoot", "h"),)),
    ("Cancun", (("blobGasUsed", "i"), ("excessBlobGas", "i"), ("parentBeaconBlockRoot", "h"))),
    ("Prague", (("requestsHash", "h"),)),
)
TX_TYPES = frozenset({0, 1, 2, 3, 4})


def _read(f: JsonFields, key: str, kind: str) -> Item:
    if kind == "i":
        return f.int(key, True)  # type: ignore[return-value]
    if kind == "a":
        return f.address(key, True)  # type: ignore[return-value]
    if kind == "h":
        return f.hash(key, True)  # type: ignore[return-value]
    return f.data(key, True)  # type: ignore[return-value]


def header_fork(block: dict[str, Any]) -> str:
    """The last fork whose header fields the block carries ("Frontier" for none)."""
    name = "Frontier"
    for fork, fields in FORKS:
        if block.get(fields[0][0]) is None:
            break
        name = fork
    return name


def header_rlp(block: dict[str, Any], where: str) -> bytes:
    """The RLP of a block header from `eth_getBlockByNumber` JSON (hash it to get the block hash).

    A fork's fields are taken when its first field is present; its other fields are then required,
    and a later fork's field without the earlier ones is refused (no node sends that)."""
    f = JsonFields(block, where)
    miner = "miner" if block.get("miner") is not None else "author"
    items: list[Item] = []
    for key, kind in _FRONTIER:
        items.append(_read(f, miner if key == "miner" else key, kind))
    present = True
    for fork, fields in FORKS:
        if present and block.get(fields[0][0]) is not None:
            items.extend(_read(f, key, kind) for key, kind in fields)
            continue
        present = False
        extra = next((k for k, _ in fields if block.get(k) is not None), None)
        if extra is not None:
            raise DataError(f"{where}: field {extra} ({fork}) present without the fields of an "
                            "earlier fork; not a header any Ethereum fork has")
    return encode(items)


def _access_list(f: JsonFields, where: str) -> list[Item]:
    value = f.obj.get("accessList")
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataError(f"{where}: field accessList must be a list")
    out: list[Item] = []
    for i, entry in enumerate(value):
        e = JsonFields(entry, f"{where} accessList[{i}]")
        keys = e.hashes("storageKeys")
        out.append([e.address("address", True), keys])  # type: ignore[list-item]
    return out


def _authorizations(f: JsonFields, where: str) -> list[Item]:
    value = f.obj.get("authorizationList")
    if not isinstance(value, list):
        raise DataError(f"{where}: field authorizationList must be a list")
    out: list[Item] = []
    for i, entry in enumerate(value):
        a = JsonFields(entry, f"{where} authorizationList[{i}]")
        parity = "yParity" if a.obj.get("yParity") is not None else "v"
        out.append([a.int("chainId", True), a.address("address", True), a.int("nonce", True),  # type: ignore[list-item]
                    a.int(parity, True), a.int("r", True), a.int("s", True)])  # type: ignore[list-item]
    return out


def transaction_bytes(tx: dict[str, Any], where: str) -> bytes:
    """A transaction's canonical encoding (its hash preimage and its value in the trie)."""
    f = JsonFields(tx, where)
    kind = f.int("type") or 0
    if kind not in TX_TYPES:
        raise DataError(f"{where}: field type: transaction type {kind:#x} has no known encoding")
    to = f.address("to") or b""
    data = f.data("input" if "input" in tx else "data", True)
    r, s = f.int("r", True), f.int("s", True)
    if kind == 0:
        return encode([f.int("nonce", True), f.int("gasPrice", True), f.int("gas", True), to,  # type: ignore[list-item]
                       f.int("value", True), data, f.int("v", True), r, s])  # type: ignore[list-item]
    parity = f.int("yParity") if tx.get("yParity") is not None else f.int("v", True)
    head: list[Item] = [f.int("chainId", True), f.int("nonce", True)]  # type: ignore[list-item]
    if kind == 1:
        head.append(f.int("gasPrice", True))  # type: ignore[arg-type]
    else:
        head += [f.int("maxPriorityFeePerGas", True), f.int("maxFeePerGas", True)]  # type: ignore[list-item]
    head += [f.int("gas", True), to, f.int("value", True), data, _access_list(f, where)]  # type: ignore[list-item]
    if kind == 3:
        if not to:
            raise DataError(f"{where}: field to: a blob transaction cannot create a contract")
        head += [f.int("maxFeePerBlobGas", True), f.hashes("blobVersionedHashes")]  # type: ignore[list-item]
    if kind == 4:
        head.append(_authorizations(f, where))
    head += [parity, r, s]  # type: ignore[list-item]
    return bytes([kind]) + encode(head)


def receipt_bytes(receipt: dict[str, Any], where: str) -> bytes:
    """A receipt's consensus encoding (its value in the receipts trie)."""
    f = JsonFields(receipt, where)
    kind = f.int("type") or 0
    if kind not in TX_TYPES:
        raise DataError(f"{where}: field type: receipt type {kind:#x} has no known encoding")
    if receipt.get("status") is not None:
        first: Item = f.int("status", True)  # type: ignore[assignment]
    else:
        first = f.hash("root", True)  # type: ignore[assignment]  # pre-Byzantium post-state root
    logs = receipt.get("logs")
    if not isinstance(logs, list):
        raise DataError(f"{where}: field logs must be a list")
    items: list[Item] = []
    for i, log in enumerate(logs):
        lf = JsonFields(log, f"{where} log {i}")
        items.append([lf.address("address", True), lf.hashes("topics"), lf.data("data", True)])  # type: ignore[list-item]
    body = encode([first, f.int("cumulativeGasUsed", True), f.data("logsBloom", True, 256), items])  # type: ignore[list-item]
    return body if kind == 0 else bytes([kind]) + body


def withdrawal_bytes(item: dict[str, Any], where: str) -> bytes:
    """One EIP-4895 withdrawal as the withdrawals trie holds it."""
    f = JsonFields(item, where)
    return encode([f.int("index", True), f.int("validatorIndex", True), f.address("address", True),  # type: ignore[list-item]
                   f.int("amount", True)])  # type: ignore[list-item]
