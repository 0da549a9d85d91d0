"""Case attachments: files kept with a case (a victim's statement, a screenshot, an exchange's
answer), stored by their SHA-256 so their integrity can be checked whenever they are read.

The body goes under the store directory, `cases/<case id>/attachments/<sha256>`, written
atomically (temporary file, fsync, rename, fsync of the directory) *before* its catalog row: a
crash leaves at most an unreferenced body (harmless, reused by a retry), never a row without a
body. Reading an attachment re-hashes the body: a body changed on disk is a DataError, not
evidence handed out.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import duckdb

from fundtrail.cases import ids
from fundtrail.cases.store import _case, check_writable, now
from fundtrail.errors import DataError, NotFoundError, UsageError
from fundtrail.store import Store
from fundtrail.store.partitions import FILE_MODE, make_private_dir, write_durably

ATTACHMENT_ID = re.compile(r"A-[0-9a-f]{8}")
MAX_NAME = 200
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
_COLUMNS = ("attachment_id", "case_id", "name", "media_type", "bytes", "sha256", "note", "added_at", "added_by")
_NAMES = ("id", "case_id", "name", "media_type", "bytes", "sha256", "note", "added_at", "added_by")


def check_name(name: object) -> str:
    """A file name without directories or control characters, 1..200 characters (else a
    UsageError on `name`): it is shown and used as a download name, never as a path."""
    text = name.strip() if isinstance(name, str) else ""
    if not text or text in (".", "..") or len(text) > MAX_NAME or _BAD_NAME.search(text):
        raise UsageError(f"name {str(name)[:80]!r} must be a file name of 1 to {MAX_NAME} characters without "
                         "a path separator or control characters", field="name")
    return text


def check_media_type(media_type: object) -> str | None:
    """A `type/subtype` media type (parameters dropped), else a UsageError on `media_type`."""
    if media_type is None:
        return None
    text = media_type.split(";", 1)[0].strip().lower() if isinstance(media_type, str) else ""
    if not _MEDIA_TYPE.fullmatch(text):
        raise UsageError(f"media_type {str(media_type)[:80]!r} is not a media type (type/subtype)",
                         field="media_type")
    return text


def check_attachment_id(value: object) -> str:
    """`value` when shaped like an attachment id, else a UsageError on `attachment`."""
    if not isinstance(value, str) or not ATTACHMENT_ID.fullmatch(value):
        raise UsageError(f"attachment {str(value)[:40]!r} is not an attachment id (A- and 8 hex digits, as "
                         "`fundtrail case show` lists them)", field="attachment")
    return value


def body_path(store: Store, case_id: str, sha256: str) -> Path:
    """Where the body of an attachment with this SHA-256 lives."""
    return store.root / "cases" / case_id / "attachments" / sha256


def _write_body(path: Path, data: bytes, sha256: str) -> None:
    """Write the body durably unless an intact copy is already there (a retry, or the same file twice)."""
    if path.exists() and file_sha256(path) == sha256:
        return
    make_private_dir(path.parent)
    write_durably(path, data, mode=FILE_MODE)


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def add(store: Store, case_id: str, user: str, *, name: str, data: bytes, media_type: str | None,
        note: str | None) -> str:
    """Store an attachment in an open case the user writes to (body first, then its row); its id."""
    ids.check_case_id(case_id)
    with store.connect(read_only=True) as con:  # refuse before writing anything
        check_writable(_case(con, case_id, user), "adding an attachment")
    sha = hashlib.sha256(data).hexdigest()
    _write_body(body_path(store, case_id, sha), data, sha)
    with store.connect() as con:
        check_writable(_case(con, case_id, user), "adding an attachment")
        while True:
            new = ids.new_id("A")
            if not con.execute("SELECT 1 FROM case_attachments WHERE case_id = ? AND attachment_id = ?",
                               [case_id, new]).fetchone():
                break
        con.execute(f"INSERT INTO case_attachments ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    [new, case_id, name, media_type, len(data), sha, note, now(), user])
    return new


def list_rows(con: duckdb.DuckDBPyConnection, case_id: str) -> list[dict[str, Any]]:
    """The attachments of a case, oldest first (access checked by the caller)."""
    rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM case_attachments WHERE case_id = ? "
                       "ORDER BY added_at, attachment_id", [case_id]).fetchall()
    return [dict(zip(_NAMES, r)) for r in rows]


def get(store: Store, case_id: str, attachment_id: str, user: str, *,
        read_only: bool) -> tuple[dict[str, Any], Path]:
    """(row, body path) of an attachment of a case the user is a member of, its body checked
    against the recorded SHA-256 (DataError when it differs or is missing)."""
    ids.check_case_id(case_id)
    check_attachment_id(attachment_id)
    with store.connect(read_only=read_only) as con:
        _case(con, case_id, user)
        row = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM case_attachments WHERE case_id = ? "
                          "AND attachment_id = ?", [case_id, attachment_id]).fetchone()
    if row is None:
        raise NotFoundError(f"attachment {attachment_id} is not an attachment of case {case_id}",
                            field="attachment")
    rec = dict(zip(_NAMES, row))
    path = body_path(store, case_id, rec["sha256"])
    if not path.is_file():
        raise DataError(f"attachment {attachment_id} of case {case_id}: its body {path} is missing",
                        field="attachment")
    found = file_sha256(path)
    if found != rec["sha256"]:
        raise DataError(f"attachment {attachment_id} of case {case_id} was changed on disk: its body {path} has "
                        f"SHA-256 {found}, recorded {rec['sha256']}", field="attachment")
    return rec, path
