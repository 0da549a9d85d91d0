"""Inclusion proofs of account-chain (Ethereum, EVM) transactions for the evidence bundle.

For each wanted (block number, transaction hash) the writer fetches the block with its transactions
and its receipts from a node, re-encodes every transaction and receipt into the bytes the tries hold
(`fundtrail.chains.ethereum.encode`), builds both tries and takes the proof of the wanted position.
Nothing is trusted from the node: the rebuilt roots must equal the header's transactionsRoot and
receiptsRoot, the header's RLP must hash to the block hash and the wanted transaction's bytes to its
hash, else a one-line DataError names the block. An encoding gap (a field or a transaction type this
code does not know) therefore stops the bundle; it can never produce a proof that does not verify.
The JSON lines are those of docs/bundle.md, "Account chains: format 1.1 (proposed)".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fundtrail.chains.ethereum.trie import ordered_trie_proofs
from fundtrail.chains.ethereum.encode import header_rlp, receipt_bytes, transaction_bytes
from fundtrail.chains.ethereum.keccak import keccak256
from fundtrail.errors import DataError, NotFoundError, UsageError
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport


@dataclass(frozen=True)
class EvmProof:
    """One transaction's evidence: its block header, its bytes and receipt, and both trie proofs."""

    hash: bytes
    block_number: int
    block_hash: bytes
    index: int
    header_rlp: bytes
    raw: bytes
    proof: tuple[bytes, ...]
    receipt: bytes
    receipt_proof: tuple[bytes, ...]


def _hash(text: Any, what: str) -> bytes:
    try:
        raw = bytes.fromhex(text[2:]) if isinstance(text, str) and text[:2] in ("0x", "0X") else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise UsageError(f"{what}: {str(text)[:80]!r} is not a 0x-prefixed 32-byte hash", field="tx_hash")
    return raw


def block_proofs(block: dict[str, Any], receipts: list[dict[str, Any]], wanted: Iterable[bytes],
                 source: str) -> list[EvmProof]:
    """The proofs of the `wanted` transaction hashes of one block (node JSON), after checking the
    header hash and both roots; DataError naming the block when anything does not match."""
    try:
        number = int(block["number"], 16)
        claimed = _hash(block.get("hash"), "block hash")
        where = f"{source}: block {number} 0x{claimed.hex()}"
        header = header_rlp(block, where)
        if keccak256(header) != claimed:
            raise DataError(f"{where}: the re-encoded header hashes to 0x{keccak256(header).hex()}")
        txs = block.get("transactions") or []
        raws = [transaction_bytes(tx, f"{where} transaction {i}") for i, tx in enumerate(txs)]
        encoded = [receipt_bytes(r, f"{where} receipt {i}") for i, r in enumerate(receipts)]
    except (KeyError, TypeError, ValueError, UsageError) as exc:
        raise DataError(f"{source}: block {block.get('number')!r}: malformed node answer ({exc})") from None
    if len(encoded) != len(raws):
        raise DataError(f"{where}: {len(encoded)} receipts for {len(raws)} transactions")
    tx_root, tx_proofs = ordered_trie_proofs(raws)
    rc_root, rc_proofs = ordered_trie_proofs(encoded)
    for field, root in (("transactionsRoot", tx_root), ("receiptsRoot", rc_root)):
        if "0x" + root.hex() != str(block.get(field)).lower():
            raise DataError(f"{where}: field {field}: the re-encoded items give 0x{root.hex()}, the header "
                            f"says {block.get(field)}; an encoding gap, no proof is made from this block")
    position = {str(tx.get("hash")).lower(): i for i, tx in enumerate(txs)}
    out = []
    for h in wanted:
        i = position.get("0x" + h.hex())
        if i is None:
            raise NotFoundError(f"{where}: transaction 0x{h.hex()} is not in this block")
        if keccak256(raws[i]) != h:
            raise DataError(f"{where}: transaction {i} 0x{h.hex()}: its re-encoded bytes hash to "
                            f"0x{keccak256(raws[i]).hex()} (an unsigned dev-node transaction?)")
        out.append(EvmProof(h, number, claimed, i, header, raws[i], tuple(tx_proofs[i]), encoded[i],
                            tuple(rc_proofs[i])))
    return out


def fetch_proofs(rpc: EthRpc | str, wanted: Sequence[tuple[int, str]]) -> list[EvmProof]:
    """Proofs of `wanted` (block number, 0x tx hash) from the node at `rpc` (an URL or a client),
    sorted by (block number, index); each block is fetched once."""
    client = EthRpc(HttpTransport(rpc)) if isinstance(rpc, str) else rpc
    try:
        by_block: dict[int, list[bytes]] = {}
        for number, tx_hash in wanted:
            if not isinstance(number, int) or number < 0:
                raise UsageError(f"block number {number!r} is not a non-negative integer", field="block")
            h = _hash(tx_hash, f"transaction of block {number}")
            if h not in by_block.setdefault(number, []):
                by_block[number].append(h)
        out: list[EvmProof] = []
        numbers = sorted(by_block)
        for start in range(0, len(numbers), 20):
            chunk = numbers[start:start + 20]
            for block in client.blocks(chunk, True):
                out += block_proofs(block, client.block_receipts(block),
                                    by_block[int(block["number"], 16)], client.source)
    finally:
        if isinstance(rpc, str):
            client.close()
    return sorted(out, key=lambda p: (p.block_number, p.index))


def header_line(p: EvmProof) -> dict[str, Any]:
    """The `chains/<chain>/headers.jsonl` line of `p`'s block."""
    return {"number": p.block_number, "hash": "0x" + p.block_hash.hex(), "rlp": p.header_rlp.hex()}


def transaction_line(p: EvmProof, roles: Iterable[str]) -> dict[str, Any]:
    """The `chains/<chain>/transactions.jsonl` line of `p`, with its bundle `roles`."""
    return {"hash": "0x" + p.hash.hex(), "block_number": p.block_number, "block_hash": "0x" + p.block_hash.hex(),
            "index": p.index, "raw": p.raw.hex(), "proof": [n.hex() for n in p.proof],
            "receipt": p.receipt.hex(), "receipt_proof": [n.hex() for n in p.receipt_proof],
            "roles": sorted(set(roles))}


def header_lines(proofs: Iterable[EvmProof]) -> list[dict[str, Any]]:
    """One header line per block of `proofs`, sorted by number."""
    seen: dict[int, dict[str, Any]] = {}
    for p in proofs:
        seen.setdefault(p.block_number, header_line(p))
    return [seen[n] for n in sorted(seen)]
