"""The bundle as a container: a ZIP file whose every member is listed, with its SHA-256, in
`SHA256SUMS` (docs/bundle.md, "The container").

A bundle may come from anyone, so it is read defensively: only the documented paths are accepted,
sizes are capped before and while decompressing (a "zip bomb" declares small sizes or inflates a
tiny member into gigabytes), and hashes are computed on the bytes as they are inflated. The bytes
of a member whose hash matched are kept until it is parsed, so what is parsed is what was hashed
(and a member of a hundred megabytes is inflated once, not twice).
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from .report import Report

MAX_MEMBERS = 100_000
MAX_TOTAL = 2 << 30  # bytes, all members decompressed
MAX_MEMBER = 1 << 30  # bytes, one member decompressed
CHUNK = 1 << 20

#: Every path a bundle of format 1 or 1.1 may hold (docs/bundle.md; `headers.jsonl`: account chains).
PATHS = re.compile(r"SHA256SUMS|manifest\.json|case/case\.json|traces/T-[0-9a-f]{8}\.json"
                   r"|chains/[a-z0-9][a-z0-9._-]{0,63}/(headers\.bin|headers\.jsonl|transactions\.jsonl)"
                   r"|tags/tags\.jsonl|clusters/evidence\.jsonl")
SUM_LINE = re.compile(r"([0-9a-f]{64})  (\S+)")


class Unreadable(Exception):
    """The bundle cannot be read at all (not a ZIP file, no SHA256SUMS): exit status 2."""


@dataclass
class Container:
    """An opened bundle whose listed members matched their hashes (`good`)."""

    zf: zipfile.ZipFile
    sums: dict[str, str] = field(default_factory=dict)  # path -> sha256 hex, as SHA256SUMS lists
    good: set[str] = field(default_factory=set)  # listed paths present whose sha256 matched
    kept: dict[str, bytes] = field(default_factory=dict)  # bytes of good members not yet read
    lines: dict[str, int] = field(default_factory=dict)  # path -> lines, of the members read

    def read(self, path: str) -> bytes | None:
        """A member's bytes, only if it was listed and matched (None otherwise: already reported).
        The kept bytes the first time; again (inflated and re-hashed) after that."""
        if path not in self.good:
            return None
        data = self.kept.pop(path, None)
        if data is None:
            data = b"".join(_chunks(self.zf, path))
            if hashlib.sha256(data).hexdigest() != self.sums[path]:  # the file changed under us
                self.good.discard(path)
                return None
        self.lines[path] = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        return data

    def count_lines(self, path: str) -> int:
        """How many lines a member holds (a last line without a newline counts; 0 if unreadable)."""
        if path not in self.lines:
            self.read(path)
        return self.lines.get(path, 0)


def _chunks(zf: zipfile.ZipFile, name: str, cap: int | None = None) -> Iterator[bytes]:
    """A member's decompressed bytes in chunks; ValueError past `cap` bytes, whatever it declared."""
    cap = MAX_MEMBER if cap is None else cap
    seen = 0
    with zf.open(name) as fh:
        while chunk := fh.read(CHUNK):
            seen += len(chunk)
            if seen > cap:
                raise ValueError(f"larger than the limit of {cap} bytes decompressed")
            yield chunk


def open_container(path: str, report: Report) -> Container:
    """Open the ZIP, check its member names, SHA256SUMS and every hash; failures go to `report`.
    Raises Unreadable when there is nothing to verify."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise Unreadable(f"{path}: not a readable ZIP file ({exc})") from None
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise Unreadable(f"{path}: {len(infos)} members, more than the limit of {MAX_MEMBERS}")
    names = [i.filename for i in infos]
    seen = Counter(names)
    for name in sorted(n for n, k in seen.items() if k > 1):
        report.fail(f"{name}: duplicate file in the ZIP")
    for name in names:
        report.check(bool(PATHS.fullmatch(name)), f"{name[:200]}: not a path of the bundle format (unlisted file)")
    if "SHA256SUMS" not in seen:
        raise Unreadable(f"{path}: no SHA256SUMS file")
    try:
        raw = b"".join(_chunks(zf, "SHA256SUMS", cap=64 << 20))
    except (ValueError, OSError, zipfile.BadZipFile, RuntimeError) as exc:
        raise Unreadable(f"{path}: SHA256SUMS cannot be read ({exc})") from None
    report.bundle_hash = hashlib.sha256(raw).hexdigest()
    box = Container(zf, _parse_sums(raw, report))
    declared = sum(i.file_size for i in infos)
    report.check(declared <= MAX_TOTAL, f"{path}: the members declare {declared} bytes decompressed, more "
                                        f"than the limit of {MAX_TOTAL}; members past the limit are refused")
    for name in sorted(box.sums):
        report.check(name in seen, f"missing file {name} listed in SHA256SUMS")
    for name in sorted(set(names) - set(box.sums) - {"SHA256SUMS"}):
        report.fail(f"{name}: file not listed in SHA256SUMS")
    budget = MAX_TOTAL
    for info in sorted(infos, key=lambda i: i.filename):
        name = info.filename
        if name not in box.sums or seen[name] > 1:
            continue
        if info.file_size > min(MAX_MEMBER, budget):
            report.fail(f"{name}: declares {info.file_size} bytes decompressed: refused (limits: "
                        f"{MAX_MEMBER} per file, {MAX_TOTAL} in all)")
            continue
        digest, chunks = hashlib.sha256(), []
        try:
            for chunk in _chunks(zf, name, cap=min(MAX_MEMBER, budget)):
                digest.update(chunk)
                chunks.append(chunk)
                budget -= len(chunk)
        except (ValueError, OSError, zipfile.BadZipFile, RuntimeError, EOFError) as exc:
            report.fail(f"{name}: cannot be read from the ZIP: {exc}")
            continue
        if report.check(digest.hexdigest() == box.sums[name],
                        f"SHA256SUMS: {name}: sha256 differs (file {digest.hexdigest()}, listed {box.sums[name]})"):
            box.good.add(name)
            box.kept[name] = b"".join(chunks)
            report.counts["files"] += 1
    return box


def _parse_sums(raw: bytes, report: Report) -> dict[str, str]:
    """SHA256SUMS lines `<sha256 hex>  <path>`, sorted by path, one per file."""
    sums: dict[str, str] = {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        report.fail("SHA256SUMS: not UTF-8 text")
        return sums
    report.check(text.endswith("\n") or not text, "SHA256SUMS: the last line is not terminated")
    paths = []
    for n, line in enumerate(text.splitlines(), start=1):
        m = SUM_LINE.fullmatch(line)
        if not report.check(m is not None, f"SHA256SUMS line {n}: not `<64 hex sha256>  <path>`"):
            continue
        assert m is not None
        digest, path = m.groups()
        report.check(path not in sums, f"SHA256SUMS line {n}: {path} listed twice")
        report.check(path != "SHA256SUMS" and bool(PATHS.fullmatch(path)),
                     f"SHA256SUMS line {n}: {path[:200]} is not a path of the bundle format")
        sums[path] = digest
        paths.append(path)
    report.check(paths == sorted(paths), "SHA256SUMS: lines are not sorted by path")
    return sums
