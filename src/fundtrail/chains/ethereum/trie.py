"""Roots of Ethereum's Merkle-Patricia tries over ordered lists (transactions, receipts,
withdrawals): the values a header commits to, recomputed from what a node sends.

The key of item i is rlp(i); the trie is built in one pass over the sorted keys, without storing
nodes. A node whose encoding is shorter than 32 bytes is embedded in its parent instead of being
referenced by hash (Yellow Paper appendix D). The same pass can collect each key's inclusion proof
(`trie_proofs`: the evidence bundle's account-chain proofs).
"""

from __future__ import annotations

from collections.abc import Sequence

from fundtrail.chains.ethereum.keccak import keccak256
from fundtrail.chains.ethereum.rlp import Item, Raw, encode

EMPTY_TRIE_ROOT = keccak256(encode(b""))  # 56e81f17...b421


def _nibbles(key: bytes) -> tuple[int, ...]:
    out = []
    for b in key:
        out.append(b >> 4)
        out.append(b & 15)
    return tuple(out)


def _hex_prefix(nibbles: Sequence[int], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        seq = [flag + 1, *nibbles]
    else:
        seq = [flag, 0, *nibbles]
    return bytes(seq[i] << 4 | seq[i + 1] for i in range(0, len(seq), 2))


def _ref(encoded: bytes) -> bytes:
    """How a parent refers to a child node: embedded when short, else by its hash."""
    return Raw(encoded) if len(encoded) < 32 else keccak256(encoded)


Pair = tuple[tuple[int, ...], bytes, int]  # (key nibbles, value, position of the key)


def _node(pairs: list[Pair], depth: int, proofs: list[list[bytes]] | None, top: bool = False) -> bytes:
    """The RLP of the node holding `pairs` (sorted, all sharing key[:depth]); with `proofs`, the
    node is also added to the proof of every key below it when referred to by hash (32 bytes or
    more, or the root: a shorter node is inline in its parent, so already in the proof)."""
    if len(pairs) == 1:
        key, value, _ = pairs[0]
        enc = encode([_hex_prefix(key[depth:], True), value])
    else:
        first, last = pairs[0][0], pairs[-1][0]
        common = 0  # keys are sorted: the shared prefix of all is that of the first and last
        limit = min(len(first), len(last)) - depth
        while common < limit and first[depth + common] == last[depth + common]:
            common += 1
        if common:
            enc = encode([_hex_prefix(first[depth:depth + common], False),
                          _ref(_node(pairs, depth + common, proofs))])
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
    if proofs is not None and (top or len(enc) >= 32):
        for _, _, index in pairs:
            proofs[index].append(enc)
    return enc


def trie_root(items: dict[bytes, bytes]) -> bytes:
    """The root hash of a trie mapping keys to (non-empty) values."""
    if not items:
        return EMPTY_TRIE_ROOT
    pairs = sorted((_nibbles(k), v, i) for i, (k, v) in enumerate(items.items()))
    return keccak256(_node(pairs, 0, None))


def ordered_trie_root(values: Sequence[bytes]) -> bytes:
    """The root of the trie of `values` keyed by rlp(index): transactionsRoot, receiptsRoot,
    withdrawalsRoot."""
    return trie_root({encode(i): v for i, v in enumerate(values)})


def trie_proofs(items: dict[bytes, bytes]) -> tuple[bytes, dict[bytes, list[bytes]]]:
    """(root hash, proof of each key: the nodes from the root down) of the trie mapping each key
    to its (non-empty) value, as `fundtrail.verify.mpt.verify_proof` reads them."""
    if not items:
        return EMPTY_TRIE_ROOT, {}
    keys = list(items)
    proofs: list[list[bytes]] = [[] for _ in keys]
    pairs = sorted((_nibbles(k), bytes(items[k]), i) for i, k in enumerate(keys))
    root = keccak256(_node(pairs, 0, proofs, top=True))
    for p in proofs:
        p.reverse()  # built leaf first
    return root, dict(zip(keys, proofs, strict=True))


def ordered_trie_proofs(values: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """(root hash, proof of each position) of the trie mapping rlp(i) to `values[i]`:
    transactionsRoot and receiptsRoot with the inclusion proof of every item."""
    root, proofs = trie_proofs({encode(i): v for i, v in enumerate(values)})
    return root, [proofs[encode(i)] for i in range(len(values))]
