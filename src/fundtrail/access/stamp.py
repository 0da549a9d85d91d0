"""The access stamp: a file whose change tells running servers that users or tokens changed.

A server caches verified tokens in memory (a slow hash per request would cost tens of
milliseconds). Every change of users or tokens rewrites `access.stamp` in the store directory by
temp file and rename, which gives it a new inode; `authenticate` compares one `os.stat` of it per
request and drops its cache when it differs, so a revocation is seen by the very next request.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

STAMP_NAME = "access.stamp"


def current(root: Path) -> tuple[int, int, int] | None:
    """The stamp's identity (inode, mtime, size); None when no change was ever made."""
    try:
        st = os.stat(os.path.join(root, STAMP_NAME))  # per request: no pathlib objects
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def bump(root: Path) -> None:
    """Record that users or tokens changed (atomically: readers see the old or the new stamp)."""
    path = Path(root) / STAMP_NAME
    count = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        count = int(path.read_text().split()[0])
    tmp = path.with_name(f"{STAMP_NAME}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # a random tail makes the size differ too, should a new file reuse an old inode within
        # one mtime tick of a coarse clock
        os.write(fd, f"{count + 1}\n{secrets.token_hex(secrets.randbelow(64))}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
