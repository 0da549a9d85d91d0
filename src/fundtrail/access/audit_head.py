"""The audit log's head anchor, `audit/head.json`: the seq and hash of the last record.

A hash chain shows an edited, deleted, inserted or reordered record but not records cut off at
the end; the anchor does (`audit_verify`). It is rewritten after every append, in place: one
`pwrite` of one 512-byte sector, so after a power cut it holds the old or the new anchor, never a
mix, and it is synced at most every `SYNC_SECONDS`. An anchor behind the log is reported as such,
not as damage (the log's own fsync keeps the records). The earlier temporary-file-and-rename with
two fsyncs held the log's lock three times as long while the other server processes waited on it.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from time import monotonic, sleep
from typing import Any

from fundtrail.errors import AuditError

FILE_MODE = 0o600
SECTOR = 512  # the anchor file's size
SYNC_SECONDS = 1.0


def canonical(obj: Any) -> bytes:
    """The canonical bytes of a record: sorted keys, no spaces, UTF-8 (hashed and stored)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class HeadAnchor:
    """The anchor file of one log, kept open for rewriting by the process that appends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._open: tuple[int, int] | None = None  # fd, inode
        self._synced = 0.0

    def write(self, seq: int, last_hash: str, time: str) -> None:
        """Make the anchor name record `seq` (called with the log's lock held). A missing or
        replaced anchor file is created atomically first (temporary file, fsync, rename)."""
        data = canonical({"seq": seq, "hash": last_hash, "time": time})
        data = data.ljust(SECTOR - 1) + b"\n"  # trailing spaces: still one JSON document
        fd = self._fd()
        if fd is None:
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            self._fd()
            return
        os.pwrite(fd, data, 0)
        now = monotonic()
        if now - self._synced >= SYNC_SECONDS:
            os.fdatasync(fd)
            self._synced = now

    def _fd(self) -> int | None:
        """The open anchor file while it is the one at `path` and a sector long, else None."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if self._open is not None and st is not None and st.st_ino == self._open[1] and st.st_size == SECTOR:
            return self._open[0]
        self.close()
        if st is None or st.st_size != SECTOR:
            return None
        fd = os.open(self.path, os.O_WRONLY)
        self._open = (fd, os.fstat(fd).st_ino)
        self._synced = monotonic()
        return fd

    def close(self) -> None:
        """Close the file (reopened at the next write)."""
        if self._open is not None:
            with contextlib.suppress(OSError):
                os.close(self._open[0])
            self._open = None


def read_head(path: Path) -> dict[str, Any] | None:
    """The head anchor (`seq`, `hash`, `time`), None when there is none; AuditError when unreadable."""
    for attempt in range(3):  # a reader without the log's lock may meet a rewrite of the sector
        try:
            head = json.loads(path.read_bytes())
            break
        except FileNotFoundError:
            return None
        except ValueError as exc:
            if attempt == 2:
                raise AuditError(f"cannot read the audit head anchor {path}: {exc}") from None
            sleep(0.01)
        except OSError as exc:
            raise AuditError(f"cannot read the audit head anchor {path}: {exc}") from None
    if not (isinstance(head, dict) and isinstance(head.get("seq"), int) and isinstance(head.get("hash"), str)):
        raise AuditError(f"the audit head anchor {path} is not a head anchor")
    return head
