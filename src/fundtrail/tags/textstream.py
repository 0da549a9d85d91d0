"""A large label file read a piece at a time: its SHA-256 and first undecodable byte in one pass,
then its text as lines (which `model.textfiles.csv_record_chunks` turns into CSV records in chunks).

Decoded exactly as `model.textfiles.decode_text` decodes a whole file (byte-order marks, UTF-16
without one, leading U+FEFF stripped, CRLF and CR read as LF), so every cell, line number and
problem message is the one the whole-file reader gives; only the memory differs (a block of bytes
and one chunk of records at a time).
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fundtrail.errors import DataError
from fundtrail.model.textfiles import encoding_of

BLOCK = 1 << 20  # bytes read at a time
HEAD = 1 << 16  # bytes that decide the encoding and the format (several times the 4,096 characters used)


def read_head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(HEAD)


def head_text(head: bytes) -> str | None:
    """The start of the file's text as `decode_text` gives it, or None if it does not decode."""
    encoding, bom = encoding_of(head)
    try:
        text = codecs.getincrementaldecoder(encoding)("strict").decode(head[bom:], False)
    except UnicodeDecodeError:
        return None
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class Scan:
    """A file's SHA-256 and, if it does not decode, where: the first bad byte's offset and line."""

    sha: str
    bad_offset: int | None = None
    bad_line: int = 0


def scan(path: Path) -> Scan:
    """Hash the file and check that it decodes, a block at a time (the text is not kept)."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD)
        encoding, bom = encoding_of(head)
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        digest = hashlib.sha256()
        fed, newlines, bad, line = bom, 0, None, 0  # fed: bytes given to the decoder (after the BOM)
        tail = b""
        block, skip = head, bom
        while True:
            final = not block
            digest.update(block)
            if bad is None:
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(block[skip:], final)
                except UnicodeDecodeError as exc:
                    bad = fed - pending + exc.start
                    # `data[:bad].count(b"\n")` of the whole-file reader, from the counts so far
                    before = tail[len(tail) - (fed - bad):] if bad < fed else b""
                    line = newlines - before.count(b"\n") + block[skip:][:max(0, bad - fed)].count(b"\n") + 1
                fed += len(block) - skip
                newlines += block[skip:].count(b"\n")
                tail = (tail + block[skip:])[-8:]
            if final:
                break
            block, skip = fh.read(BLOCK), 0
    return Scan(digest.hexdigest(), bad, line)


class TextLines:
    """The lines of a file's text (each with its "\\n", the last maybe without), decoded block by
    block; `sha` is the SHA-256 of the bytes read, once every line has been read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha: str | None = None

    def __iter__(self) -> Iterator[str]:
        digest = hashlib.sha256()
        with open(self.path, "rb") as fh:
            head = fh.read(HEAD)
            encoding, bom = encoding_of(head)
            decoder = codecs.getincrementaldecoder(encoding)("strict")
            start, cr, partial, block, skip = True, "", "", head, bom
            while True:
                final = not block
                digest.update(block)
                try:
                    text = cr + decoder.decode(block[skip:], final)
                except UnicodeDecodeError:
                    raise DataError(f"{self.path}: not {encoding.upper()} text any more (the file changed "
                                    "while it was read); import it again") from None
                if start:
                    text = text.lstrip("\ufeff")
                    start = not text
                cr = ""
                if not final and text.endswith("\r"):  # maybe half of a CRLF: decided with the next block
                    text, cr = text[:-1], "\r"
                parts = (partial + text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
                partial = parts.pop()
                for part in parts:
                    yield part + "\n"
                if final:
                    if partial:
                        yield partial
                    break
                block, skip = fh.read(BLOCK), 0
        self.sha = digest.hexdigest()
