"""The evidence bundle's account-chain files (format 1.1, docs/bundle.md), checked line by line.

`chains/<chain>/headers.jsonl`: one header per block holding a bundled transaction,
`{"number", "hash", "rlp"}`; `chains/<chain>/transactions.jsonl`: one line per transaction,
`{"hash", "block_number", "block_hash", "index", "raw", "proof", "receipt", "receipt_proof", "roles"}`.
Hashes are quoted as Ethereum quotes them ("0x" and 64 lowercase hex digits); byte strings (`rlp`,
`raw`, `receipt`, proof nodes) are plain lowercase hex. The checks: each header's RLP hashes to its
`hash` and says its `number`; each transaction's `raw` hashes to its `hash`, its block's header is
bundled, and both trie proofs from that header yield exactly `raw` and `receipt` at `index`.
"""

from __future__ import annotations

from typing import Any

from .bitcoin import VerifyError
from .evm import Header, Inclusion, check_inclusion, erc20_transfers, parse_header
from .keccak import keccak256
from .rlp import encode, int_bytes

ZERO = "0x" + "00" * 20


def _hex_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerifyError(f"{what}: expected a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise VerifyError(f"{what}: not hex: {value[:40]!r}") from None


def _hash(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66 or value != value.lower():
        raise VerifyError(f"{what}: expected 0x and 64 lowercase hex digits")
    return _hex_bytes(value[2:], what)


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise VerifyError(f"{what}: expected a non-negative integer")
    return value


def _nodes(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise VerifyError(f"{what}: expected a list of hex strings")
    return [_hex_bytes(v, f"{what}[{i}]") for i, v in enumerate(value)]


def check_header_line(line: dict[str, Any], where: str) -> Header:
    """One `headers.jsonl` line: the RLP must hash to `hash` and hold `number`."""
    if not isinstance(line, dict):
        raise VerifyError(f"{where}: expected a JSON object")
    claimed = _hash(line.get("hash"), f"{where} hash")
    number = _int(line.get("number"), f"{where} number")
    header = parse_header(_hex_bytes(line.get("rlp"), f"{where} rlp"), f"{where} rlp")
    if header.hash != claimed:
        raise VerifyError(f"{where}: the header RLP hashes to 0x{header.hash.hex()}, not {line['hash']}")
    if header.number != number:
        raise VerifyError(f"{where}: the header RLP is of block {header.number}, not {number}")
    return header


def check_headers(lines: list[dict[str, Any]], where: str) -> dict[bytes, Header]:
    """All `headers.jsonl` lines, by block hash; numbers strictly increasing, no duplicates, and a
    header whose parent is also bundled must link to it (consecutive numbers)."""
    out: dict[bytes, Header] = {}
    by_number: dict[int, Header] = {}
    last = -1
    for n, line in enumerate(lines, 1):
        header = check_header_line(line, f"{where} line {n}")
        if header.number <= last:
            raise VerifyError(f"{where} line {n}: block {header.number} after block {last} "
                              "(lines must be sorted by number, one per block)")
        parent = by_number.get(header.number - 1)
        if parent is not None and header.parent_hash != parent.hash:
            raise VerifyError(f"{where} line {n}: block {header.number}'s parent is "
                              f"0x{header.parent_hash.hex()}, not the bundled block {parent.number}")
        last = header.number
        out[header.hash] = by_number[header.number] = header
    return out


def check_transaction_line(line: dict[str, Any], headers: dict[bytes, Header], where: str) -> Inclusion:
    """One `transactions.jsonl` line against the headers `check_headers` returned."""
    if not isinstance(line, dict):
        raise VerifyError(f"{where}: expected a JSON object")
    tx_hash = _hash(line.get("hash"), f"{where} hash")
    block_hash = _hash(line.get("block_hash"), f"{where} block_hash")
    number = _int(line.get("block_number"), f"{where} block_number")
    index = _int(line.get("index"), f"{where} index")
    header = headers.get(block_hash)
    if header is None:
        raise VerifyError(f"{where}: block {line['block_hash']} is not in headers.jsonl")
    if header.number != number:
        raise VerifyError(f"{where}: block_number {number}, but block {line['block_hash']} is {header.number}")
    raw = _hex_bytes(line.get("raw"), f"{where} raw")
    inclusion = check_inclusion(header.rlp, index, raw, _nodes(line.get("proof"), f"{where} proof"),
                                _hex_bytes(line.get("receipt"), f"{where} receipt"),
                                _nodes(line.get("receipt_proof"), f"{where} receipt_proof"), where,
                                block_hash)
    if inclusion.transaction.hash != tx_hash:
        raise VerifyError(f"{where}: raw hashes to 0x{inclusion.transaction.hash.hex()}, not {line['hash']}")
    return inclusion


def transfer_facts(inc: Inclusion) -> list[dict[str, Any]]:
    """The value movements the proven bytes themselves show, as `{"kind", "from", "to", "asset",
    "amount"}` (addresses 0x lowercase; asset "native" or the token contract): the transaction's
    own value and its receipt's ERC-20 Transfer logs, only when the transaction succeeded (a
    failed one moved nothing). Internal transfers (ether moved by contract code) are not in the
    bytes: proving them needs re-executing the block against its state."""
    t = inc.transaction
    if inc.receipt.status == 0:
        return []

    def a(b: bytes | None) -> str | None:
        return None if b is None else "0x" + b.hex()

    out = []
    to = t.to
    if to is None and t.sender is not None:  # a contract creation pays the new contract, whose
        to = keccak256(encode([t.sender, int_bytes(t.nonce)]))[12:]  # address follows from sender and nonce
    if t.value:
        out.append({"kind": "native", "from": a(t.sender), "to": a(to), "asset": "native", "amount": t.value})
    for x in erc20_transfers(inc.receipt):
        out.append({"kind": "erc20", "from": a(x.sender), "to": a(x.recipient), "asset": a(x.token),
                    "amount": x.amount})
    return out


def check_edge(edge: dict[str, Any], facts: list[dict[str, Any]]) -> str | None:
    """Whether a saved account trace's graph edge (`from`/`to` "addr:0x…", `output` "0xTX:native" or
    "0xTX:<log index>", `asset`, `value_sat`) is one of `facts` (of its transaction): None when it
    is, else why not. Internal transfers and fees are stated, not proven (see `transfer_facts`)."""
    ref = str(edge.get("output", ""))
    kind = ref.split(":", 1)[1] if ":" in ref else ""
    if kind != "native" and not kind.isdigit():
        return f"{ref}: an internal transfer or fee; not provable from transaction and receipt bytes"
    want = {"from": str(edge.get("from") or "").removeprefix("addr:").lower() or None,
            "to": str(edge.get("to") or "").removeprefix("addr:").lower() or None,
            "asset": "native" if kind == "native" else str(edge.get("asset", "")).lower(),
            "amount": edge.get("value_sat")}
    for f in facts:
        # the zero address is no one: a Transfer from it is a mint, to it a burn (the trace's null)
        got = {**f, "from": None if f["from"] == ZERO else f["from"], "to": None if f["to"] == ZERO else f["to"]}
        if f["kind"] == ("native" if kind == "native" else "erc20") and all(got[k] == v for k, v in want.items()):
            return None
    return f"{ref}: no {'transaction value' if kind == 'native' else 'ERC-20 Transfer log'} in the proven " \
           f"bytes moves {want['amount']} of {want['asset']} from {want['from']} to {want['to']}"
