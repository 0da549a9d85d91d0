"""Bitcoin Core `blocks/` directories and raw block files as block sources.

A blocks directory is scanned header-first: only each record's 8-byte frame and 80-byte header are
read (de-obfuscated with `xor.dat` where present), so that blocks can be ordered by the header chain
before any block body is read. Bodies are read later, in height order, one at a time.

Raw files (`--raw`) may be a serialized block (binary or hex text), a blk-format stream (a copy of a
blk file, possibly cut short) or either of those compressed with bzip2 (decompressed as a stream, at
most `max_decompressed_mb`).

A damaged range inside a blk file or stream (bad magic, zeros, an impossible length field, a torn
record, a partial frame at the end) is skipped by resynchronising on the next magic, as Bitcoin
Core's reindex does: the blocks after it are still read, and every skipped byte range is reported
(`ScanResult.errors`), so that the ingest ends with a DataError (exit 3) after storing the good
blocks and never drops blocks silently. Zeros running to the end of a file are Core's
preallocation, not damage (zeros as stored: preallocated space is never XORed with `xor.dat`).
A follow run scans each file on from where its records ended (`scan_file(live=True)`, `blktail`).
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
DEFAULT_MAX_BLOCK_BYTES = 4_000_000  # Settings.max_block_bytes: Bitcoin's consensus maximum
DEFAULT_MAX_DECOMPRESSED_MB = 1024  # Settings.max_decompressed_mb
_CHUNK = 1 << 20
_ZERO = b"\x00\x00\x00\x00"


@dataclass
class ScanResult:
    """Headers found by a scan, the network they belong to, and the damaged ranges skipped."""

    network: Network | None
    candidates: list[Candidate] = field(default_factory=list)
    errors: list[DataError] = field(default_factory=list)  # raised after ingesting the rest
    next_seq: int = 0  # order of appearance of the next record found (a follow's scans go on counting)

    @property
    def error(self) -> DataError | None:
        return self.errors[0] if self.errors else None


@dataclass(frozen=True)
class FileLoc:
    path: Path
    offset: int  # offset of the block (after the 8-byte frame)
    length: int


def damaged_range(origin: str, start: int, end: int, reason: str, *, resynced: bool) -> DataError:
    """The one-line report of a skipped byte range of a blk file or stream."""
    after = "resynchronised at the next block record" if resynced else "nothing readable after it"
    return DataError(f"{origin}: damaged bytes {start}-{end} ({end - start} bytes) skipped: {reason} "
                     f"at byte offset {start}; {after}")


def _add_range(ranges: list[list], start: int, end: int, reason: str) -> None:
    """Record a skipped range; a false magic inside damage makes adjacent ranges: merge them."""
    if ranges and ranges[-1][1] == start:
        ranges[-1][1] = end
    else:
        ranges.append([start, end, reason])


def _range_errors(origin: str, ranges: list[list], size: int) -> list[DataError]:
    return [damaged_range(origin, a, b, why, resynced=b < size) for a, b, why in ranges]


def _frame_problem(magic: bytes, length: int, left: int, net: Network | None, max_block_bytes: int) -> str | None:
    """Why the 8-byte frame at a position is not a block record, or None if it is one."""
    found = NETWORK_BY_MAGIC.get(magic)
    if found is None or (net is not None and found != net):
        want = f" (expected {net.magic.hex()} for {net.name})" if net is not None else ""
        return f"bad magic {magic.hex()}{want}"
    if length > max_block_bytes:
        return f"length field {length} exceeds max_block_bytes ({max_block_bytes})"
    if length < 81:
        return f"length field {length} is too small for a block"
    if length > left:
        return f"truncated block record (length field {length}, {left} bytes left)"
    return None


class BlocksDir:
    """A Bitcoin Core blocks directory: blk?????.dat files, optional xor.dat and rev?????.dat."""

    def __init__(self, path: Path, *, max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> None:
        self.path = Path(path)
        self.max_block_bytes = max_block_bytes
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
        return self._clear(self._raw(fh, offset, n), offset)

    @staticmethod
    def _raw(fh, offset: int, n: int) -> bytes:
        fh.seek(offset)
        return fh.read(n)

    def _clear(self, data: bytes, offset: int) -> bytes:
        return deobfuscate(data, self.xor_key, offset) if self.xor_key else data

    def _next_magic(self, fh, path: Path, start: int, size: int, magics: tuple[bytes, ...]) -> tuple[int, bool]:
        """(offset of the next record magic at or after `start`, or `size`; is everything skipped zero?)

        Zeros are looked for in the bytes as stored: preallocated space is zeros on disk, never XORed."""
        pos, zeros = start, True
        while pos < size:
            raw = self._raw(fh, pos, _CHUNK + 3)
            chunk = self._clear(raw, pos)
            hits = [i for i in (chunk.find(m) for m in magics) if i >= 0]
            if hits:
                cut = min(hits)
                return pos + cut, zeros and not any(raw[:cut])
            zeros = zeros and not any(raw[:_CHUNK])
            pos += _CHUNK
        return size, zeros

    def scan(self, network: Network | None) -> ScanResult:
        """Read every record frame and header; skip damaged ranges, resynchronising on the magic."""
        result = ScanResult(network)
        for path in self.files:
            self.scan_file(path, 0, path.stat().st_size, result)
        return result

    def scan_file(self, path: Path, start: int, size: int, result: ScanResult, *, live: bool = False) -> int:
        """Scan `path` from byte `start` to `size`, adding to `result`; returns where the records end.

        `live` (the file a node is appending to, `--follow`): a problem with no record after it is
        a record still being written, or the preallocated zeros: the scan stops there, unreported,
        and returns its offset to resume from; damage is reported once a record follows it.
        """
        ranges: list[list] = []
        with open(path, "rb") as fh:
            pos = start
            while pos < size:
                stored = self._raw(fh, pos, 88)
                frame = self._clear(stored, pos)
                magic = frame[:4]
                length = int.from_bytes(frame[4:8], "little") if len(frame) >= 8 else 0
                if len(frame) < 8:
                    problem: str | None = f"partial record frame of {len(frame)} bytes at the end of the file"
                else:
                    problem = _frame_problem(magic, length, size - pos - 8, result.network, self.max_block_bytes)
                if problem is not None and live and (len(frame) < 8 or problem.startswith("truncated")):
                    break  # the node is writing this record: not resynchronised on a magic in its body
                if problem is None:
                    if result.network is None:
                        result.network = NETWORK_BY_MAGIC[magic]
                    header = Header.parse(frame[8:88])
                    result.candidates.append(Candidate(header, FileLoc(path, pos + 8, length), result.next_seq))
                    result.next_seq += 1
                    pos += 8 + length
                    continue
                magics = (result.network.magic,) if result.network else tuple(NETWORK_BY_MAGIC)
                nxt, zeros = self._next_magic(fh, path, pos + 1, size, magics)
                zeros = zeros and stored[:1] == b"\x00"
                if nxt >= size and (zeros or live):
                    break  # Core preallocates files with zeros: the rest is empty (or being written)
                _add_range(ranges, pos, nxt, "zeros instead of a block record" if zeros else problem)
                pos = nxt
        result.errors.extend(_range_errors(str(path), ranges, size))
        return min(pos, size)

    def read_block(self, loc: FileLoc) -> bytes:
        with open(loc.path, "rb") as fh:
            return self._read(fh, loc.path, loc.offset, loc.length)


#: What reading a stream gives: its (block, origin) pairs, the network it revealed, its damaged ranges.
Records = tuple[list[tuple[bytes, str]], Network | None, list[DataError]]


def _records(data: bytes, origin: str, network: Network | None,
             max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> Records:
    """Split a blk-format stream into (block, origin) pairs, skipping and reporting damaged ranges."""
    out: list[tuple[bytes, str]] = []
    ranges: list[list] = []
    pos = 0
    net = network
    size = len(data)
    while pos < size:
        magic = data[pos:pos + 4]
        length = int.from_bytes(data[pos + 4:pos + 8], "little") if pos + 8 <= size else 0
        if pos + 8 > size:
            problem: str | None = f"partial record frame of {size - pos} bytes at the end of the stream"
        else:
            problem = _frame_problem(magic, length, size - pos - 8, net, max_block_bytes)
        if problem is None:
            net = NETWORK_BY_MAGIC[magic]
            out.append((data[pos + 8:pos + 8 + length], f"{origin}@{pos}"))
            pos += 8 + length
            continue
        magics = (net.magic,) if net else tuple(NETWORK_BY_MAGIC)
        hits = [i for i in (data.find(m, pos + 1) for m in magics) if i >= 0]
        nxt = min(hits) if hits else size
        zeros = not any(data[pos:nxt])
        if nxt >= size and zeros:
            break  # zeros to the end: padding, not damage
        _add_range(ranges, pos, nxt, "zeros instead of a block record" if zeros else problem)
        pos = nxt
    return out, net, _range_errors(origin, ranges, size)


def _looks_framed(data: bytes, max_block_bytes: int) -> bool:
    """A stream whose first magic is damaged: its length field still leads to the end or to a magic."""
    if len(data) < 8 + 81:
        return False
    length = int.from_bytes(data[4:8], "little")
    if not 81 <= length <= min(max_block_bytes, len(data) - 8):
        return False
    nxt = 8 + length
    return nxt == len(data) or data[nxt:nxt + 4] in NETWORK_BY_MAGIC


def load_raw_file(path: Path, network: Network | None, *, max_decompressed_mb: int = DEFAULT_MAX_DECOMPRESSED_MB,
                  max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> Records:
    """Read one `--raw` file: returns its blocks, the network if a stream revealed it, and its errors."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    origin = str(path)
    pending: list[DataError] = []
    if data[:3] == b"BZh":
        data, err = _bunzip(data, origin, max_decompressed_mb)
        origin += " (decompressed)"
        if err is not None:
            if not data:
                raise err
            pending.append(err)  # keep what decompressed: its complete records are good
    if data[:4] in NETWORK_BY_MAGIC or (pending and data) or _looks_framed(data, max_block_bytes):
        blocks, net, errs = _records(data, origin, network, max_block_bytes)
        return blocks, net, errs + pending
    if len(data) >= 160 and _HEX_RE.match(data[:4096]):
        try:
            data = bytes.fromhex(data.decode("ascii"))
        except ValueError:
            raise DataError(f"{origin}: looks like hex text but does not decode "
                            "(odd length or bad character)") from None
        if data[:4] in NETWORK_BY_MAGIC or _looks_framed(data, max_block_bytes):
            return _records(data, origin + " (hex)", network, max_block_bytes)
        origin += " (hex)"
    if len(data) < 81:
        raise DataError(f"{origin}: {len(data)} bytes is too short for a block")
    if len(data) > max_block_bytes:
        raise DataError(f"{origin}: {len(data)} bytes is larger than max_block_bytes ({max_block_bytes}) "
                        "for one block")
    return [(data, origin)], network, []


def _bunzip(data: bytes, origin: str, max_mb: int) -> tuple[bytes, DataError | None]:
    """Decompress every bzip2 stream of `data`, never holding more than `max_mb` MB of output.

    Returns what decompressed and the error that stopped it (a cap or a corrupt/truncated stream).
    """
    cap = max_mb << 20
    out: list[bytes] = []
    total = 0
    rest = data
    while rest:
        dec = bz2.BZ2Decompressor()
        chunk = rest
        try:
            while True:
                piece = dec.decompress(chunk, max_length=min(_CHUNK, cap - total + 1))
                chunk = b""
                total += len(piece)
                out.append(piece)
                if total > cap:
                    return b"", DataError(f"{origin}: decompresses to more than max_decompressed_mb "
                                          f"({max_mb} MB); not read")
                if dec.eof or (dec.needs_input and not piece):
                    break
        except (OSError, EOFError, ValueError) as exc:
            return b"".join(out), DataError(f"{origin}: bzip2 stream is corrupt at or before decompressed "
                                            f"byte {total} ({exc})")
        if not dec.eof:
            return b"".join(out), DataError(f"{origin}: bzip2 stream is truncated after decompressed byte "
                                            f"{total}")
        rest = dec.unused_data
        if rest and rest[:3] != b"BZh":
            return b"".join(out), DataError(f"{origin}: {len(rest)} bytes after the last bzip2 stream are "
                                            "not bzip2 data; they were not read")
    return b"".join(out), None
