"""Bitcoin Core `blocks/` directories and raw block files as block sources.

A blocks directory is scanned header-first: only each record's 8-byte frame and 80-byte header are
read (de-obfuscated with `xor.dat` where present), so that blocks can be ordered by the header chain
before any block body is read. Bodies are read later, in height order, one at a time.

Raw files (`--raw`) may be a serialized block (binary or hex text), a blk-format stream (a copy of a
blk file, possibly cut short) or either of those compressed with bzip2.
"""

from __future__ import annotations

import bz2
import re
from dataclasses import dataclass, field
from pathlib import Path

from fundtrail.chains.bitcoin.header import Header
from fundtrail.chains.bitcoin.params import NETWORK_BY_MAGIC, Network
from fundtrail.chains.bitcoin.undo import deobfuscate, load_xor_key
from fundtrail.errors import DataError, UsageError
from fundtrail.ingest.bitcoin.chainorder import Candidate

_BLK_RE = re.compile(r"^blk(\d{5})\.dat$")
_HEX_RE = re.compile(rb"^[0-9a-fA-F\s]+$")
_MAX_BLOCK = 4_000_000 + 1000  # consensus limit on serialized size, with slack for framing


@dataclass
class ScanResult:
    """Headers found by a scan, the network they belong to, and the first framing error if any."""

    network: Network | None
    candidates: list[Candidate] = field(default_factory=list)
    error: DataError | None = None  # everything before it is usable; raised after ingesting it


@dataclass(frozen=True)
class FileLoc:
    path: Path
    offset: int  # offset of the block (after the 8-byte frame)
    length: int


class BlocksDir:
    """A Bitcoin Core blocks directory: blk?????.dat files, optional xor.dat and rev?????.dat."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise UsageError(f"blocks directory {self.path} does not exist or is not a directory")
        self.files = sorted(p for p in self.path.iterdir() if _BLK_RE.match(p.name))
        if not self.files:
            raise UsageError(f"no blk?????.dat files in {self.path}",
                             hint="point --blocks-dir at Bitcoin Core's blocks/ directory")
        xor_path = self.path / "xor.dat"
        self.xor_key = load_xor_key(xor_path.read_bytes(), str(xor_path)) if xor_path.exists() else None
        if self.xor_key is not None and not any(self.xor_key):
            self.xor_key = None

    def _read(self, fh, path: Path, offset: int, n: int) -> bytes:
        fh.seek(offset)
        data = fh.read(n)
        return deobfuscate(data, self.xor_key, offset) if self.xor_key else data

    def scan(self, network: Network | None) -> ScanResult:
        """Read every record frame and header; stop a file at its first framing error."""
        result = ScanResult(network)
        seq = 0
        for path in self.files:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                pos = 0
                while pos + 8 <= size:
                    frame = self._read(fh, path, pos, 88)
                    magic = frame[:4]
                    if magic == b"\x00\x00\x00\x00":
                        break  # Core preallocates files with zeros: the rest is empty
                    if result.network is None:
                        result.network = NETWORK_BY_MAGIC.get(magic)
                        if result.network is None:
                            result.error = DataError(f"{path}: unknown network magic {magic.hex()} at byte offset {pos}")
                            return result
                    if magic != result.network.magic:
                        result.error = DataError(
                            f"{path}: bad magic {magic.hex()} at byte offset {pos} "
                            f"(expected {result.network.magic.hex()} for {result.network.name}); file is corrupt")
                        break
                    length = int.from_bytes(frame[4:8], "little")
                    if length < 81 or length > _MAX_BLOCK or pos + 8 + length > size:
                        result.error = DataError(
                            f"{path}: truncated or corrupt block record at byte offset {pos} "
                            f"(length field {length}, {size - pos - 8} bytes left in the file)")
                        break
                    header = Header.parse(frame[8:88])
                    result.candidates.append(Candidate(header, FileLoc(path, pos + 8, length), seq))
                    seq += 1
                    pos += 8 + length
            if result.error:
                break
        return result

    def read_block(self, loc: FileLoc) -> bytes:
        with open(loc.path, "rb") as fh:
            return self._read(fh, loc.path, loc.offset, loc.length)


def _records(data: bytes, origin: str, network: Network | None) -> tuple[list[tuple[bytes, str]], Network | None, DataError | None]:
    """Split a blk-format stream into (block, origin) pairs."""
    out: list[tuple[bytes, str]] = []
    pos = 0
    net = network
    while pos + 8 <= len(data):
        magic = data[pos:pos + 4]
        if magic == b"\x00\x00\x00\x00":
            break
        found = NETWORK_BY_MAGIC.get(magic)
        if found is None or (net is not None and found != net):
            return out, net, DataError(f"{origin}: bad magic {magic.hex()} at byte offset {pos}; stream is corrupt")
        net = found
        length = int.from_bytes(data[pos + 4:pos + 8], "little")
        if length < 81 or pos + 8 + length > len(data):
            return out, net, DataError(
                f"{origin}: truncated block record at byte offset {pos} (length field {length}, "
                f"{len(data) - pos - 8} bytes left)")
        out.append((data[pos + 8:pos + 8 + length], f"{origin}@{pos}"))
        pos += 8 + length
    return out, net, None


def load_raw_file(path: Path, network: Network | None) -> tuple[list[tuple[bytes, str]], Network | None, DataError | None]:
    """Read one `--raw` file: returns its blocks, the network if a stream revealed it, and any error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    origin = str(path)
    if data[:3] == b"BZh":
        try:
            data = bz2.decompress(data)
        except (OSError, EOFError, ValueError) as exc:
            # keep what decompresses: a truncated .bz2 still yields its complete records
            partial = _bz2_partial(data)
            if not partial:
                raise DataError(f"{origin}: not a valid bzip2 file ({exc})") from None
            blocks, net, err = _records(partial, origin + " (decompressed)", network)
            return blocks, net, err or DataError(f"{origin}: bzip2 stream is truncated or corrupt ({exc})")
        origin += " (decompressed)"
    if data[:4] in NETWORK_BY_MAGIC:
        return _records(data, origin, network)
    if len(data) >= 160 and _HEX_RE.match(data[:4096]):
        try:
            data = bytes.fromhex(data.decode("ascii"))
        except ValueError:
            raise DataError(f"{origin}: looks like hex text but does not decode (odd length or bad character)") from None
        if data[:4] in NETWORK_BY_MAGIC:
            return _records(data, origin + " (hex)", network)
        return [(data, origin + " (hex)")], network, None
    if len(data) < 81:
        raise DataError(f"{origin}: {len(data)} bytes is too short for a block")
    return [(data, origin)], network, None


def _bz2_partial(data: bytes) -> bytes:
    dec = bz2.BZ2Decompressor()
    out = []
    try:
        for i in range(0, len(data), 1 << 16):
            out.append(dec.decompress(data[i:i + (1 << 16)]))
    except (OSError, EOFError, ValueError):
        pass
    return b"".join(out)
