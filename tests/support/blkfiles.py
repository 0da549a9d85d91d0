"""Blk files cut into their records, for tests that feed a chain block by block (follow-like
ingests, stores that grow): the records are the real framed blocks, written back unchanged."""

from __future__ import annotations

import struct
from pathlib import Path


def blk_records(blk: Path) -> list[bytes]:
    """The blk-framed records (magic, size, block) of a blk file, in file order, up to the zeros
    Bitcoin Core preallocates at the end."""
    data, records, at = blk.read_bytes(), [], 0
    while at + 8 <= len(data) and data[at:at + 4] != b"\0\0\0\0":
        size = struct.unpack_from("<I", data, at + 4)[0]
        records.append(data[at:at + 8 + size])
        at += 8 + size
    return records
