"""Merkle-Patricia trie proofs: that a value sits under a key in a trie whose root a header commits to.

A block header holds the roots of two such tries: transactionsRoot over the block's transactions and
receiptsRoot over their receipts, each keyed by rlp(position in the block). A proof is the list of
trie nodes on the key's path, root first, each an RLP list (Yellow Paper appendix D):
- branch: 17 items, one child per next nibble (half-byte) of the key, then a value;
- leaf: [hex-prefix(rest of the key), value]; extension: [hex-prefix(shared nibbles), child].
A child is referred to by the keccak256 of its encoding, or, when that encoding is shorter than 32
bytes, written inline in its parent (so it is not a separate proof node). Every node taken from the
proof must hash to the reference its parent (for the first: the root) holds; that chain of hashes is
what ties the value to the header.
"""

from __future__ import annotations

from .bitcoin import VerifyError
from .keccak import keccak256
from .rlp import Item, as_bytes, as_list, decode, encode


def nibbles(key: bytes) -> list[int]:
    """The key as half-bytes, high half first: the path through the trie."""
    out = []
    for b in key:
        out += [b >> 4, b & 0x0F]
    return out


def hex_prefix_decode(encoded: bytes, what: str) -> tuple[list[int], bool]:
    """(nibbles, is_leaf) of a hex-prefix path: the first nibble is 2*leaf + odd length; an even
    path pads it with a zero nibble."""
    if not encoded:
        raise VerifyError(f"{what}: empty hex-prefix path")
    flag = encoded[0] >> 4
    if flag > 3:
        raise VerifyError(f"{what}: hex-prefix flag {flag} is not 0-3")
    path = nibbles(encoded)
    if flag & 1:
        return path[1:], flag >= 2
    if path[1] != 0:
        raise VerifyError(f"{what}: hex-prefix padding nibble is {path[1]}, not 0")
    return path[2:], flag >= 2


def verify_proof(root: bytes, key: bytes, proof: list[bytes], what: str = "proof") -> bytes | None:
    """The value stored at `key` in the trie with root hash `root`, proven by the `proof` nodes;
    None when the proof shows the key is absent. A node that does not hash to its reference, a
    missing or unused node, or a malformed node raises VerifyError naming `what` and the node."""
    path = nibbles(key)
    pos = 0
    used = 0

    def load(ref: Item, where: str) -> list[Item]:
        nonlocal used
        if isinstance(ref, list):  # an inline child: must be one that could not be hashed
            if len(encode(ref)) >= 32:
                raise VerifyError(f"{what}: {where}: inline child of 32 bytes or more")
            return ref
        if len(ref) != 32:
            raise VerifyError(f"{what}: {where}: child reference of {len(ref)} bytes, expected 32")
        if used >= len(proof):
            raise VerifyError(f"{what}: ends after {used} nodes; the path needs the node hashing to "
                              f"{ref.hex()}")
        node = proof[used]
        if keccak256(node) != ref:
            raise VerifyError(f"{what}: node {used} hashes to {keccak256(node).hex()}, its parent "
                              f"refers to {ref.hex()}")
        used += 1
        return as_list(decode(node, f"{what} node {used - 1}"), f"{what} node {used - 1}")

    node = load(root, "root")
    value: bytes | None = None
    while True:
        where = f"node {used - 1} at nibble {pos}"
        if len(node) == 17:
            if pos == len(path):
                value = as_bytes(node[16], f"{what}: {where} value") or None
                break
            child = node[path[pos]]
            pos += 1
            if child == b"":
                break  # no child for this nibble: the key is absent
            node = load(child, where)
            continue
        if len(node) != 2:
            raise VerifyError(f"{what}: {where}: a node of {len(node)} items (expected 2 or 17)")
        segment, leaf = hex_prefix_decode(as_bytes(node[0], f"{what}: {where} path"), f"{what}: {where}")
        if leaf:
            if path[pos:] == segment:
                value = as_bytes(node[1], f"{what}: {where} value")
            break
        if not segment:
            raise VerifyError(f"{what}: {where}: extension with an empty path")
        if path[pos:pos + len(segment)] != segment:
            break  # the path leaves the trie here: the key is absent
        pos += len(segment)
        node = load(node[1], where)
    if used != len(proof):
        raise VerifyError(f"{what}: {len(proof) - used} unused nodes after node {used - 1}")
    return value
