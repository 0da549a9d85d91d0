"""The bundle's container: `SHA256SUMS`, the bundle hash, and a deterministic ZIP written atomically.

Same members, same bytes: every entry has the same fixed timestamp (1980-01-01, the ZIP epoch),
mode 0644, Unix as the creating system, deflate at level 3 (a third of level 6's time for 6 %
more bytes: most of a bundle is hex), and the entries are in path order. The ZIP is
written to `OUT.tmp-<random>` beside `OUT`, flushed to disk and renamed over `OUT`, so a crash
leaves the old file or the new one, never half a bundle; on any error the temporary file goes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import zipfile
from pathlib import Path

from fundtrail.errors import UsageError

_EPOCH = (1980, 1, 1, 0, 0, 0)


def sums_and_hash(files: dict[str, bytes]) -> tuple[bytes, str]:
    """(`SHA256SUMS` bytes, the bundle hash: the SHA-256 of those bytes) of the other members."""
    text = "".join(f"{hashlib.sha256(files[p]).hexdigest()}  {p}\n" for p in sorted(files))
    body = text.encode()
    return body, hashlib.sha256(body).hexdigest()


def check_target(out: Path, *, directory: bool = False) -> None:
    """Refuse, before any work, an output that cannot be written: a file in a missing directory or
    a directory given as the file (or, with `directory`, a missing directory)."""
    out = Path(out)
    if directory:
        if not out.is_dir():
            raise UsageError(f"output directory {out} does not exist", field="out")
        return
    if not out.parent.is_dir():
        raise UsageError(f"output {out}: directory {out.parent} does not exist", field="out")
    if out.is_dir():
        raise UsageError(f"output {out} is a directory; give a file name such as case.zip", field="out")


def write_atomically(out: Path, files: dict[str, bytes]) -> int:
    """Write `files` as a deterministic ZIP at `out` (atomically); its size in bytes."""
    out = Path(out)
    check_target(out)
    parent = out.parent
    tmp = parent / f"{out.name}.tmp-{secrets.token_hex(4)}"
    try:
        with open(tmp, "wb") as fh:
            with zipfile.ZipFile(fh, "w") as zf:
                for path in sorted(files):
                    info = zipfile.ZipInfo(path, date_time=_EPOCH)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.create_system = 3
                    info.external_attr = 0o100644 << 16
                    zf.writestr(info, files[path], compresslevel=3)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}", field="out") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    with contextlib.suppress(OSError):  # the rename itself is durable once the directory is synced
        fd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return out.stat().st_size
