"""Inclusion proofs in Ethereum's ordered Merkle-Patricia tries (transactions, receipts), built
by the bundle writer for every position of a block at once.

The trie over a block's items keyed by rlp(index) is built in one pass over the sorted keys (as
`fundtrail.chains.ethereum.trie` does for the root alone); on the way each node's encoding is added to
the proof of every item below it, when the node is referred to by hash (32 bytes or more, or the
root). A node shorter than 32 bytes is written inline in its parent, so it is already in the proof.
Proofs are listed root first, as `fundtrail.verify.mpt.verify_proof` reads them.
"""

from __future__ import annotations

from collections.abc import Sequence

from fundtrail.chains.ethereum.keccak import keccak256
from fundtrail.chains.ethereum.rlp import Item, Raw, encode

Pair = tuple[tuple[int, ...], bytes, int]  # (key nibbles, value, index)


def _nibbles(key: bytes) -> tuple[int, ...]:
    return tuple(n for b in key for n in (b >> 4, b & 0x0F))


def _hex_prefix(nibbles: Sequence[int], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    seq = [flag + 1, *nibbles] if len(nibbles) % 2 else [flag, 0, *nibbles]
    return bytes(seq[i] << 4 | seq[i + 1] for i in range(0, len(seq), 2))


def _ref(encoded: bytes) -> Item:
    return Raw(encoded) if len(encoded) < 32 else keccak256(encoded)


def _node(pairs: list[Pair], depth: int, proofs: list[list[bytes]], top: bool = False) -> bytes:
    """The RLP of the node holding `pairs` (sorted, sharing key[:depth]); adds it to their proofs."""
    if len(pairs) == 1:
        key, value, _ = pairs[0]
        enc = encode([_hex_prefix(key[depth:], True), value])
    else:
        first, last = pairs[0][0], pairs[-1][0]
        common = 0
        limit = min(len(first), len(last)) - depth
        while common < limit and first[depth + common] == last[depth + common]:
            common += 1
        if common:
            child = _node(pairs, depth + common, proofs)
            enc = encode([_hex_prefix(first[depth:depth + common], False), _ref(child)])
        else:
            slots: list[Item] = [b""] * 17
            i = 0
            while i < len(pairs):
                key = pairs[i][0]
                if len(key) == depth:
                    slots[16] = pairs[i][1]
                    i += 1
                    continue
                j = i
                while j < len(pairs) and len(pairs[j][0]) > depth and pairs[j][0][depth] == key[depth]:
                    j += 1
                slots[key[depth]] = _ref(_node(pairs[i:j], depth + 1, proofs))
                i = j
            enc = encode(slots)
    if top or len(enc) >= 32:
        for _, _, index in pairs:
            proofs[index].append(enc)
    return enc


def trie_proofs(items: dict[bytes, bytes]) -> tuple[bytes, dict[bytes, list[bytes]]]:
    """(root hash, proof of each key) of the trie mapping each key to its (non-empty) value."""
    if not items:
        return keccak256(encode(b"")), {}
    keys = list(items)
    proofs: list[list[bytes]] = [[] for _ in keys]
    pairs = sorted((_nibbles(k), bytes(items[k]), i) for i, k in enumerate(keys))
    root = keccak256(_node(pairs, 0, proofs, top=True))
    for p in proofs:
        p.reverse()  # built leaf first
    return root, dict(zip(keys, proofs, strict=True))


def ordered_trie_proofs(values: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """(root hash, proof of each position) of the trie mapping rlp(i) to `values[i]`:
    transactionsRoot and receiptsRoot."""
    root, proofs = trie_proofs({encode(i): v for i, v in enumerate(values)})
    return root, [proofs[encode(i)] for i in range(len(values))]
