"""Inclusion proofs of a bundle's Bitcoin transactions: raw bytes, merkle branches, headers.

A block is parsed with the ingest's compiled parser (a busy block holds thousands of transactions;
only a few are wanted), its txids computed natively, and its merkle root checked against its
header before any branch is taken from it, so a block whose body was changed never yields a proof.
The merkle tree is hashed once per block whatever the number of wanted transactions in it.
Headers are serialized from the store's blocks table (version, previous hash, merkle root, time,
bits, nonce) and each must hash to its stored block hash; those of blocks read must also equal the
block's own first 80 bytes.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from fundtrail.cases.bundle_blocks import RawBlock
from fundtrail.chains.bitcoin.parser import parse_batch
from fundtrail.chains.bitcoin.txid import compute_txids, merkle_roots
from fundtrail.errors import DataError
from fundtrail.store import Store


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the merkle tree, leaves first (an odd level pairs its last hash with itself)."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        level = levels[-1]
        if len(level) % 2:
            level = [*level, level[-1]]
        levels.append([_dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)])
    return levels


def _branch(levels: list[list[bytes]], index: int) -> list[bytes]:
    out = []
    for level in levels[:-1]:
        sibling = index ^ 1
        out.append(level[sibling] if sibling < len(level) else level[index])
        index //= 2
    return out


def block_proofs(block: RawBlock, wanted: dict[bytes, set[str]]) -> list[dict[str, Any]]:
    """The `transactions.jsonl` lines of the `wanted` transactions (internal txid -> roles) of one
    block; DataError naming the block's origin when its body does not match its header or a wanted
    transaction is not in it."""
    ref, raw, origin = block.ref, block.raw, block.origin
    pb = parse_batch([raw], [origin])
    txids = compute_txids(pb)
    roots, _mutated = merkle_roots(pb, txids)
    if bytes(roots[0]) != raw[36:68]:
        raise DataError(f"{origin}: the transactions of {ref.name()} do not give its header's merkle root: "
                        "the block's bytes were changed or damaged")
    leaves = [bytes(t) for t in txids]
    index = {t: i for i, t in enumerate(leaves)}
    levels = _levels(leaves)
    starts, ends = pb.tx_start.tolist(), pb.tx_end.tolist()
    lines = []
    block_hex = ref.hash[::-1].hex()
    for txid, roles in wanted.items():
        i = index.get(txid)
        if i is None:
            raise DataError(f"{origin}: transaction {txid[::-1].hex()} is not in {ref.name()} as read there, "
                            "though the store places it there")
        lines.append({"txid": txid[::-1].hex(), "height": ref.height, "block_hash": block_hex, "index": i,
                      "tx_count": len(leaves), "raw": raw[starts[i]:ends[i]].hex(),
                      "branch": [h.hex() for h in _branch(levels, i)], "roles": sorted(roles)})
    return lines


def serialize_header(version: int, prev_hash: bytes, merkle_root: bytes, time: int, bits: int, nonce: int) -> bytes:
    """The 80-byte header from its stored fields (hashes in internal order)."""
    fmt = "<i32s32sIII" if version < 1 << 31 else "<I32s32sIII"
    return struct.pack(fmt, version, prev_hash, merkle_root, time, bits, nonce)


def store_headers(store: Store, chain: str, first: int, last: int, hashes: dict[int, bytes]) -> bytes:
    """The headers of heights `first`..`last` of `chain`'s best chain (`hashes`: height -> stored
    hash, from the catalog) serialized from the blocks table, each checked against its hash."""
    prefix = chain.replace("-", "_")
    with store.query() as con:
        rows = con.execute(f"SELECT height, hash, version, prev_hash, merkle_root, time, bits, nonce "
                           f"FROM {prefix}_blocks WHERE height BETWEEN ? AND ?", [first, last]).fetchall()
    by_height: dict[int, bytes] = {}
    for height, block_hash, version, prev, root, time, bits, nonce in rows:
        if hashes.get(height) != bytes(block_hash):
            continue  # a stale block at that height: not on the best chain
        header = serialize_header(int(version), bytes(prev), bytes(root), int(time), int(bits), int(nonce))
        if _dsha(header) != bytes(block_hash):
            raise DataError(f"store chain {chain}: the stored fields of block {height} "
                            f"({bytes(block_hash)[::-1].hex()}) do not serialize to its hash")
        by_height[height] = header
    missing = [h for h in range(first, last + 1) if h not in by_height]
    if missing:
        raise DataError(f"store chain {chain}: no stored header for block {missing[0]} of the range "
                        f"{first}-{last} the bundle needs (a gap in the store: see `fundtrail status`)")
    return b"".join(by_height[h] for h in range(first, last + 1))
