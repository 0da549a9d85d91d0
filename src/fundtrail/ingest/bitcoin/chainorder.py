"""Order blocks by their header chain: heights, the best (most-work) branch, and stale blocks.

Block files hold blocks in arrival order, not height order, and include stale blocks. Raw files may
hold isolated blocks. Blocks are grouped into trees by parent hash; in each tree the branch ending
at the tip with the most cumulative work is kept and every other block is reported stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fundtrail.chains.bitcoin.header import ZERO_HASH, Header, work

_BIP34_LOOKAHEAD = 16  # blocks of an isolated branch read to find a BIP34 height


@dataclass
class Candidate:
    """A block known by its header, with a handle to fetch its bytes later."""

    header: Header
    handle: Any  # source-specific: (file, offset, length) or an index into a list
    seq: int  # order of appearance, the tie-breaker


@dataclass
class Ordered:
    """Blocks to ingest in order, with heights (None if unknown), and the stale ones left out."""

    blocks: list[tuple[Candidate, int | None]] = field(default_factory=list)
    stale: list[Candidate] = field(default_factory=list)
    duplicates: int = 0


def order_blocks(
    candidates: list[Candidate],
    stored_height: Callable[[bytes], int | None],
    root_height: Callable[[Candidate], int | None],
) -> Ordered:
    """Order `candidates` parent-first; keep the most-work branch of each connected tree.

    `stored_height(hash)` gives the height of a block already in the store (or None);
    `root_height(c)` supplies a height for a block whose parent is unknown (BIP34), or None.
    """
    result = Ordered()
    by_hash: dict[bytes, Candidate] = {}
    for c in candidates:
        if c.header.hash in by_hash:
            result.duplicates += 1
            continue
        by_hash[c.header.hash] = c
    children: dict[bytes, list[Candidate]] = {}
    roots: list[Candidate] = []
    for c in by_hash.values():
        if c.header.prev_hash in by_hash:
            children.setdefault(c.header.prev_hash, []).append(c)
        else:
            roots.append(c)

    trees: list[tuple[tuple, list[tuple[Candidate, int | None]]]] = []
    for root in roots:
        prev = root.header.prev_hash
        if prev == ZERO_HASH:
            h0: int | None = 0
        else:
            parent_h = stored_height(prev)
            h0 = parent_h + 1 if parent_h is not None else root_height(root)
        # cumulative work down the tree (iterative DFS), remembering the best tip
        best_tip, best_work = root, work(root.header.bits)
        cum = {root.header.hash: best_work}
        stack = [root]
        while stack:
            node = stack.pop()
            for child in children.get(node.header.hash, ()):
                w = cum[node.header.hash] + work(child.header.bits)
                cum[child.header.hash] = w
                if w > best_work or (w == best_work and child.seq < best_tip.seq):
                    best_tip, best_work = child, w
                stack.append(child)
        branch = [best_tip]
        while branch[-1] is not root:
            branch.append(by_hash[branch[-1].header.prev_hash])
        branch.reverse()
        keep = {c.header.hash for c in branch}
        result.stale.extend(c for h, c in by_hash.items() if h in cum and h not in keep)
        if h0 is None:
            # an isolated branch whose first block has no BIP34 height (version 1) may have a
            # descendant that carries one: count back from it
            for i, cand in enumerate(branch[1:_BIP34_LOOKAHEAD], start=1):
                h = root_height(cand)
                if h is not None and h >= i:
                    h0 = h - i
                    break
        heights = [None if h0 is None else h0 + i for i in range(len(branch))]
        sort_key = (h0 is None, h0 if h0 is not None else 0, root.seq)
        trees.append((sort_key, list(zip(branch, heights))))
    for _, placed in sorted(trees, key=lambda t: t[0]):
        result.blocks.extend(placed)
    result.stale.sort(key=lambda c: c.seq)
    return result
