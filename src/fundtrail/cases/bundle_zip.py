"""The bundle's container: `SHA256SUMS`, the bundle hash, and a deterministic ZIP written atomically.

Same members, same bytes: every entry has the same fixed timestamp (1980-01-01, the ZIP epoch),
mode 0644, Unix as the creating system, deflate at level 3 (a third of level 6's time for 6 %
more bytes: most of a bundle is hex), and the entries are in path order. The ZIP is written
with `store.partitions.write_durably`: a temporary file beside `OUT`, flushed to disk and renamed
over it, so a crash leaves the old file or the new one, never half a bundle.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import BinaryIO

from fundtrail.errors import UsageError
from fundtrail.store.partitions import write_durably

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


def write_zip(fh: BinaryIO, files: dict[str, bytes], *, compresslevel: int = 3) -> None:
    """`files` as a deterministic ZIP into the open file `fh` (the module docstring's rules)."""
    with zipfile.ZipFile(fh, "w") as zf:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            zf.writestr(info, files[path], compresslevel=compresslevel)


def write_atomically(out: Path, files: dict[str, bytes]) -> int:
    """Write `files` as a deterministic ZIP at `out` (atomically); its size in bytes."""
    out = Path(out)
    check_target(out)
    try:
        write_durably(out, lambda fh: write_zip(fh, files))
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}", field="out") from None
    return out.stat().st_size
