"""A blocks directory a node is appending to, scanned incrementally (`ingest bitcoin --blocks-dir
--follow`).

Each poll reads only what is new: every blk file is remembered by the offset where its complete
records end, so a file is never rescanned from 0, and new files are picked up as they appear.
Bitcoin Core preallocates blk files with zeros and writes each record (frame, then body) at that
offset, so the file being appended to (the last one) has three kinds of tail: zeros (nothing new:
checked with one 8-byte read while the file is unchanged), a record being written (a partial
frame, a length running past the end, or a body still partly zeros: its merkle root does not match
its header yet; "not yet", rescanned next poll), and damage, reported as the one-off scan does but
only once a record follows it. A file that shrinks below what was read, or is replaced by another
file, is an error naming it: blocks read from it may no longer be what is there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fundtrail.chains.bitcoin.params import Network
from fundtrail.chains.bitcoin.parser import parse_batch
from fundtrail.chains.bitcoin.txid import compute_txids, merkle_roots
from fundtrail.errors import DataError, SourceError
from fundtrail.ingest.bitcoin.blockfiles import _BLK_RE, DEFAULT_MAX_BLOCK_BYTES, BlocksDir, ScanResult


@dataclass(frozen=True)
class _Seen:
    """What was read of one blk file: where its complete records end, and the file as it was."""

    end: int
    inode: int
    size: int
    mtime_ns: int
    live: bool  # scanned as the file being appended to (its tail may be a record being written)


def complete_block(raw: bytes) -> bool:
    """Whether a block's body is all there: it parses and its transactions hash to the header's
    merkle root (a record being written over preallocated zeros has a good frame and header first)."""
    try:
        pb = parse_batch([raw], ["tail"])
        roots, _ = merkle_roots(pb, compute_txids(pb))
    except (DataError, ValueError, IndexError):
        return False
    return bytes(roots[0]) == raw[36:68]


class BlkTail:
    """The blocks directory of a running node; `poll` returns the records new since the last poll."""

    def __init__(self, path: Path, *, max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> None:
        self.dir = BlocksDir(path, max_block_bytes=max_block_bytes)
        self.path = self.dir.path
        self.seen: dict[Path, _Seen] = {}
        self.network: Network | None = None
        self.next_seq = 0

    def _list(self) -> list[Path]:
        try:
            return sorted(p for p in self.path.iterdir() if _BLK_RE.match(p.name))
        except OSError as exc:
            raise SourceError(f"blocks directory {self.path}: cannot list it "
                              f"({exc.strerror or exc})") from None

    def poll(self, network: Network | None) -> ScanResult:
        """Headers of the records completed since the last poll (and the damage found)."""
        result = ScanResult(network or self.network, next_seq=self.next_seq)
        files = self._list()
        self.dir.files = files
        for path in [p for p in self.seen if p not in files]:
            del self.seen[path]  # pruned by the node: nothing more to read there
        for i, path in enumerate(files):
            try:
                self._poll_file(path, i == len(files) - 1, result)
            except FileNotFoundError:
                self.seen.pop(path, None)  # pruned while we looked
            except OSError as exc:
                raise SourceError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        self.network = result.network
        self.next_seq = result.next_seq
        return result

    def _poll_file(self, path: Path, live: bool, result: ScanResult) -> None:
        st = path.stat()
        prev = self.seen.get(path)
        start = 0
        if prev is not None:
            if st.st_ino != prev.inode:
                raise DataError(f"{path}: replaced under us by another file (blocks had been read from "
                                f"the old one up to byte offset {prev.end}); restart the ingest")
            if st.st_size < prev.end:
                raise DataError(f"{path}: truncated under us to {st.st_size} bytes (blocks had been read "
                                f"up to byte offset {prev.end}); restart the ingest")
            start = prev.end
            unchanged = (st.st_size, st.st_mtime_ns) == (prev.size, prev.mtime_ns)
            if not prev.live and (unchanged or st.st_size <= prev.size):
                return  # a finished file (Core truncates its preallocation when it moves on)
            if live and prev.live and unchanged and self._zeros_at(path, start, st.st_size):
                return  # the next record is not begun
        n = len(result.candidates)
        end = self.dir.scan_file(path, start, st.st_size, result, live=live)
        if live and len(result.candidates) > n:
            loc = result.candidates[-1].handle
            if loc.offset + loc.length == end and not complete_block(self.dir.read_block(loc)):
                result.candidates.pop()  # its body is still being written: read it again next poll
                result.next_seq -= 1
                end = loc.offset - 8
        self.seen[path] = _Seen(end, st.st_ino, st.st_size, st.st_mtime_ns, live)

    def _zeros_at(self, path: Path, offset: int, size: int) -> bool:
        """Whether the raw bytes of the next frame are still zeros (Core's preallocation)."""
        if offset + 8 > size:
            return offset >= size
        fd = os.open(path, os.O_RDONLY)
        try:
            return not any(os.pread(fd, 8, offset))
        finally:
            os.close(fd)
