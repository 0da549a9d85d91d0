"""Ethereum (EVM account chains) evidence primitives, in plain standard-library Python.

What a court needs to re-check that a transaction, and what it did, is in an Ethereum block:
- the block header: its RLP hashes (keccak256) to the block hash; it commits to transactionsRoot
  and receiptsRoot (`parse_header`);
- the transaction: its bytes as the trie holds them (legacy `rlp([...])`, typed `type || rlp([...])`)
  hash to the transaction hash; a trie proof from transactionsRoot under key rlp(index) yields exactly
  those bytes; nonce, recipient, value and input are read from them, and the sender is recovered from
  the signature (`parse_transaction`);
- the receipt: a proof from receiptsRoot under the same key yields its bytes: status, logs (an ERC-20
  `Transfer` is a log of the token contract with topic0 `TRANSFER_TOPIC`) (`parse_receipt`).
`check_inclusion` does all of it for one bundled transaction. Header variants: every fork's header is
an RLP list whose first 15 fields are Frontier's; London, Shanghai, Cancun and Prague append fields
(16, 17, 20, 21 in all). The hash is taken over the bytes as given, so a new fork does not break it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .bitcoin import VerifyError
from .keccak import keccak256
from .mpt import verify_proof
from .rlp import Item, as_bytes, as_int, as_list, decode, encode, int_bytes
from .secp256k1 import recover_address

TRANSFER_TOPIC = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
HEADER_FORKS = {15: "Frontier", 16: "London", 17: "Shanghai", 20: "Cancun", 21: "Prague"}
# typed transactions (EIP-2718): type -> number of fields before (yParity, r, s)
TX_TYPES = {1: ("EIP-2930", 8), 2: ("EIP-1559", 9), 3: ("EIP-4844", 11), 4: ("EIP-7702", 10)}


@dataclass(frozen=True)
class Header:
    """The header fields a proof needs, with the hash recomputed from the RLP."""

    hash: bytes
    parent_hash: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    number: int
    timestamp: int
    fork: str
    rlp: bytes


def parse_header(raw: bytes, what: str = "header") -> Header:
    """Decode a block header's RLP; its hash is keccak256 of exactly these bytes."""
    fields = as_list(decode(raw, what), what)
    if len(fields) < 15:
        raise VerifyError(f"{what}: {len(fields)} fields; every Ethereum header has at least 15")

    def h(i: int, name: str) -> bytes:
        return as_bytes(fields[i], f"{what} {name}", 32)

    return Header(keccak256(raw), h(0, "parentHash"), h(3, "stateRoot"), h(4, "transactionsRoot"),
                  h(5, "receiptsRoot"), as_int(fields[8], f"{what} number"),
                  as_int(fields[11], f"{what} timestamp"),
                  HEADER_FORKS.get(len(fields), f"unknown ({len(fields)} fields)"), bytes(raw))


@dataclass(frozen=True)
class Transaction:
    """A transaction read from its trie bytes; `sender` None when it carries no signature."""

    hash: bytes
    type: int
    chain_id: int | None
    nonce: int
    to: bytes | None  # None: contract creation
    value: int  # wei
    input: bytes
    sender: bytes | None


def _address(item: Item, what: str) -> bytes | None:
    data = as_bytes(item, what)
    if not data:
        return None
    if len(data) != 20:
        raise VerifyError(f"{what}: {len(data)} bytes, expected an empty string or a 20-byte address")
    return data


def _sender(signing_hash: bytes, parity: int, r: int, s: int, what: str) -> bytes | None:
    if r == 0 and s == 0:
        return None  # unsigned (a development node's impersonated account): no sender is proven
    try:
        return recover_address(signing_hash, parity, r, s)
    except VerifyError as exc:
        raise VerifyError(f"{what}: {exc}") from None


def parse_transaction(raw: bytes, what: str = "transaction") -> Transaction:
    """Decode a transaction as the trie holds it and recover its sender from the signature.

    Legacy: rlp([nonce, gasPrice, gas, to, value, input, v, r, s]), signed over the first six fields
    plus [chainId, 0, 0] when v = 35 + 2*chainId + parity (EIP-155), else v = 27 + parity.
    Typed: type || rlp([chainId, nonce, ..., yParity, r, s]) signed over type || rlp(all but the last 3)."""
    if not raw:
        raise VerifyError(f"{what}: empty")
    if raw[0] >= 0xC0:
        f = as_list(decode(raw, what), what)
        if len(f) != 9:
            raise VerifyError(f"{what}: legacy transaction with {len(f)} fields, expected 9")
        v, r, s = (as_int(x, f"{what} signature") for x in f[6:])
        if v in (27, 28):
            chain_id, parity, signed = None, v - 27, f[:6]
        elif v >= 35:
            chain_id, parity = (v - 35) // 2, (v - 35) % 2
            signed = [*f[:6], int_bytes(chain_id), b"", b""]
        else:
            raise VerifyError(f"{what}: signature v = {v} is neither 27/28 nor EIP-155")
        signing_hash = keccak256(encode(signed))
        kind, nonce_at = 0, 0
        gas_fields = 3  # nonce, gasPrice, gas before `to`
    else:
        kind = raw[0]
        if kind not in TX_TYPES:
            raise VerifyError(f"{what}: transaction type {kind:#x} is not known")
        name, before_sig = TX_TYPES[kind]
        f = as_list(decode(raw[1:], f"{what} ({name})"), what)
        if len(f) != before_sig + 3:
            raise VerifyError(f"{what}: {name} transaction with {len(f)} fields, expected {before_sig + 3}")
        parity, r, s = (as_int(x, f"{what} signature") for x in f[-3:])
        chain_id = as_int(f[0], f"{what} chainId")
        signing_hash = keccak256(bytes([kind]) + encode(f[:-3]))
        nonce_at = 1
        gas_fields = 4 if kind == 1 else 5  # chainId, nonce, (gasPrice | 2 fees), gas
    to = _address(f[gas_fields], f"{what} to")
    if kind in (3, 4) and to is None:
        raise VerifyError(f"{what}: a type {kind} transaction cannot create a contract")
    return Transaction(keccak256(raw), kind, chain_id, as_int(f[nonce_at], f"{what} nonce"), to,
                       as_int(f[gas_fields + 1], f"{what} value"),
                       as_bytes(f[gas_fields + 2], f"{what} input"),
                       _sender(signing_hash, parity, r, s, what))


@dataclass(frozen=True)
class Log:
    """One event a transaction emitted: the emitting contract, its indexed topics, its data."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class Receipt:
    """A receipt read from its trie bytes: status 1 success, 0 failure (None before Byzantium,
    which stored a post-state root instead)."""

    type: int
    status: int | None
    cumulative_gas_used: int
    logs: tuple[Log, ...]


def parse_receipt(raw: bytes, what: str = "receipt") -> Receipt:
    """Decode a receipt: rlp([status or post-state root, cumulativeGasUsed, logsBloom, logs]),
    prefixed with its transaction's type byte when typed."""
    if not raw:
        raise VerifyError(f"{what}: empty")
    kind = 0 if raw[0] >= 0xC0 else raw[0]
    if kind and kind not in TX_TYPES:
        raise VerifyError(f"{what}: receipt type {kind:#x} is not known")
    f = as_list(decode(raw[1:] if kind else raw, what), what)
    if len(f) != 4:
        raise VerifyError(f"{what}: {len(f)} fields, expected 4")
    first = as_bytes(f[0], f"{what} status")
    if len(first) == 32:
        status = None
    elif first in (b"", b"\x01"):
        status = len(first)
    else:
        raise VerifyError(f"{what}: status {first.hex()!r} is neither 0, 1 nor a 32-byte state root")
    as_bytes(f[2], f"{what} logsBloom", 256)
    logs = []
    for i, entry in enumerate(as_list(f[3], f"{what} logs")):
        w = f"{what} log {i}"
        e = as_list(entry, w)
        if len(e) != 3:
            raise VerifyError(f"{w}: {len(e)} fields, expected 3")
        logs.append(Log(as_bytes(e[0], f"{w} address", 20),
                        tuple(as_bytes(t, f"{w} topic", 32) for t in as_list(e[1], f"{w} topics")),
                        as_bytes(e[2], f"{w} data")))
    return Receipt(kind, status, as_int(f[1], f"{what} cumulativeGasUsed"), tuple(logs))


@dataclass(frozen=True)
class TokenTransfer:
    """An ERC-20 `Transfer(from, to, value)` event: `token` is the contract that emitted it."""

    log_index: int  # position in the receipt's logs
    token: bytes
    sender: bytes
    recipient: bytes
    amount: int


def erc20_transfers(receipt: Receipt) -> list[TokenTransfer]:
    """The receipt's ERC-20 transfers: logs with topic0 Transfer, two indexed addresses and a
    32-byte amount (ERC-721's Transfer indexes the token id as a third topic and is not one)."""
    out = []
    for i, log in enumerate(receipt.logs):
        if len(log.topics) == 3 and log.topics[0] == TRANSFER_TOPIC and len(log.data) == 32:
            out.append(TokenTransfer(i, log.address, log.topics[1][12:], log.topics[2][12:],
                                     int.from_bytes(log.data, "big")))
    return out


@dataclass(frozen=True)
class Inclusion:
    """A transaction and its receipt proven to be in the block whose header is `header`."""

    header: Header
    index: int
    transaction: Transaction
    receipt: Receipt


def check_inclusion(header_rlp: bytes, index: int, raw_tx: bytes, tx_proof: list[bytes],
                    raw_receipt: bytes, receipt_proof: list[bytes], what: str = "tx",
                    block_hash: bytes | None = None) -> Inclusion:
    """Prove that `raw_tx` and `raw_receipt` are the `index`-th transaction and receipt of the block
    with header `header_rlp` (which must hash to `block_hash` when given): both tries yield exactly
    these bytes under key rlp(index)."""
    header = parse_header(header_rlp, f"{what} header")
    if block_hash is not None and header.hash != block_hash:
        raise VerifyError(f"{what}: the header hashes to 0x{header.hash.hex()}, not the block hash "
                          f"0x{block_hash.hex()}")
    key = encode(index)
    found = verify_proof(header.transactions_root, key, tx_proof, f"{what} transaction proof")
    if found != raw_tx:
        raise VerifyError(f"{what}: the transactions trie of block {header.number} holds "
                          f"{'nothing' if found is None else 'other bytes'} at index {index}")
    found = verify_proof(header.receipts_root, key, receipt_proof, f"{what} receipt proof")
    if found != raw_receipt:
        raise VerifyError(f"{what}: the receipts trie of block {header.number} holds "
                          f"{'nothing' if found is None else 'other bytes'} at index {index}")
    return Inclusion(header, index, parse_transaction(raw_tx, what),
                     parse_receipt(raw_receipt, f"{what} receipt"))
