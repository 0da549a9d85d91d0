"""Where an evidence bundle gets the raw blocks: the store keeps no raw transactions.

Three sources, in this order: a blocks directory given (`--blocks-dir`: Bitcoin Core's `blocks/`
or the simulator's), a node given (`--rpc`: `getblock HASH 0`), else the blocks directories the
chain's blocks were ingested from (catalog `batches.source` of each needed block and the chain's
latest ingest run) when they still exist. A blocks directory is scanned header-first (88 bytes per
record) and each needed block is then read once. Every block read must hash to the stored block
hash: a changed or damaged file is a one-line DataError naming the file, the offset and the block,
and a block the source lacks is a one-line error naming it and how to give a source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fundtrail.chains.bitcoin.hashing import sha256d
from fundtrail.chains.bitcoin.params import Network
from fundtrail.errors import DataError, NotFoundError
from fundtrail.ingest.bitcoin.blockfiles import BlocksDir, FileLoc

HOW = "give the directory or node that holds it with --blocks-dir DIR or --rpc URL"


@dataclass(frozen=True)
class BlockRef:
    """A stored block to fetch: height, hash and previous hash (internal byte order)."""

    height: int
    hash: bytes
    prev_hash: bytes

    def name(self) -> str:
        return f"block {self.height} ({self.hash[::-1].hex()})"


@dataclass(frozen=True)
class RawBlock:
    """A block's bytes as read, checked against its stored hash, and where they came from."""

    ref: BlockRef
    raw: bytes
    origin: str


class BlockSource(Protocol):
    """Something that yields the raw bytes of stored blocks, each checked against its hash."""

    description: str

    def fetch(self, wanted: list[BlockRef]) -> Iterator[RawBlock]:
        """Each wanted block once (any order); DataError or NotFoundError naming a bad or missing one."""
        ...


def missing_block(ref: BlockRef, where: str, problems: list[str] | None = None) -> NotFoundError:
    """The one-line error for a block a source does not hold."""
    damaged = f" (its scan skipped damaged bytes: {problems[0]})" if problems else ""
    return NotFoundError(f"{ref.name()} is not in {where}{damaged}; {HOW}", field="blocks_dir")


def checked(ref: BlockRef, raw: bytes, origin: str) -> RawBlock:
    """`raw` when its header hashes to the stored block hash, else the DataError naming both."""
    if len(raw) < 80 or sha256d(raw[:80]) != ref.hash:
        got = sha256d(raw[:80])[::-1].hex() if len(raw) >= 80 else f"{len(raw)} bytes"
        raise DataError(f"{origin}: the block there is not the stored {ref.name()} (it hashes to {got}): "
                        "the source was changed or damaged")
    return RawBlock(ref, raw, origin)


class DirSource:
    """One or more blocks directories, scanned header-first once; blocks read in file order."""

    def __init__(self, paths: list[Path], network: Network) -> None:
        self.dirs = [BlocksDir(p) for p in paths]
        self.network = network
        self.description = " or ".join(f"blocks directory {p}" for p in paths)

    def fetch(self, wanted: list[BlockRef]) -> Iterator[RawBlock]:
        by_hash: dict[bytes, tuple[BlocksDir, FileLoc]] = {}
        by_prev: dict[bytes, tuple[BlocksDir, FileLoc]] = {}
        problems: list[str] = []
        for bdir in self.dirs:
            scan = bdir.scan(self.network)
            problems += [e.one_line() for e in scan.errors]
            for cand in scan.candidates:
                by_hash.setdefault(cand.header.hash, (bdir, cand.handle))
                by_prev.setdefault(cand.header.prev_hash, (bdir, cand.handle))
        found: list[tuple[str, int, BlockRef, BlocksDir, FileLoc]] = []
        for ref in wanted:
            hit = by_hash.get(ref.hash)
            if hit is None:
                other = by_prev.get(ref.prev_hash)
                if other is not None:  # a block in its place whose header differs: changed, not missing
                    raise DataError(f"{other[1].path} offset {other[1].offset}: the block there follows the "
                                    f"stored {ref.name()}'s parent but its header differs (it hashes to "
                                    f"{_hash_at(*other)}): the file was changed or damaged")
                raise missing_block(ref, self.description, problems)
            found.append((str(hit[1].path), hit[1].offset, ref, *hit))
        for _path, _offset, ref, bdir, loc in sorted(found, key=lambda f: (f[0], f[1])):
            yield checked(ref, bdir.read_block(loc), f"{loc.path} offset {loc.offset}")


def _hash_at(bdir: BlocksDir, loc: FileLoc) -> str:
    return sha256d(bdir.read_block(FileLoc(loc.path, loc.offset, 80)))[::-1].hex()
