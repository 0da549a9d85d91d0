"""The audit log: one hash-chained JSON Lines record per lookup or change, in `audit/audit.log`.

Each record carries `prev`, the hash of the record before it, and `hash`, the SHA-256 of its own
canonical JSON without `hash`; so editing, deleting, inserting or reordering a record breaks the
chain at that record (`audit_verify` names it). A bare chain cannot show that records were cut off
at the end, so after every append `audit/head.json` anchors the last seq and hash.

Writing the record is part of the request: `append` returns only after the record is on disk
(O_APPEND, one write, fsync) and raises AuditError when it cannot be written, so the request fails.
Several processes (a CLI command while the server runs) take turns through an fcntl lock on the
file; threads of one process share one `AuditLog` per file. Threads that arrive while a write is in
progress are written together by the next one (group commit: one write, one fsync for all), and
each still returns only after its own record is synced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fundtrail.access.audit_head import FILE_MODE, HeadAnchor, canonical, read_head
from fundtrail.errors import AuditError, DataError

try:
    import fcntl
except ImportError:  # not POSIX: threads of this process still take turns
    fcntl = None  # type: ignore[assignment]

AUDIT_DIR, LOG_NAME, HEAD_NAME = "audit", "audit.log", "head.json"
ZERO_HASH = "0" * 64
#: The fields of an entry (what the caller says) and of a record (entry + chain fields).
ENTRY_FIELDS = ("user", "role", "via", "action", "subjects", "params", "result_size", "result_unit",
                "outcome", "status")
RECORD_FIELDS = ("seq", "time", *ENTRY_FIELDS, "prev", "hash")
REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"pass(word|wd|phrase)?|token|secret|authori[sz]ation|api[_-]?key|cookie|"
                          r"credential|private[_-]?key", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(://)[^/@\s]+@")  # http://user:password@host
_TOKEN_TEXT = re.compile(r"f[ts]_[0-9a-f]+_[A-Za-z0-9_-]{16,}")  # API tokens and web sessions
_FILE_MODE, _DIR_MODE = FILE_MODE, 0o700


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 hex of the record's canonical JSON without its `hash` field."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def utc_now() -> str:
    """The current UTC time as the log writes it: ISO 8601 with microseconds and `Z`."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_secret_name(name: str) -> bool:
    """True for a parameter name that may hold a secret (password, token, key, ...)."""
    return bool(_SECRET_NAME.search(name))


def scrub(value: Any) -> Any:
    """`value` with secrets removed: values under secret-like names and anything shaped like an
    API token or a web session become `[redacted]` (the log must never hold a credential)."""
    if isinstance(value, dict):
        return {str(k): REDACTED if is_secret_name(str(k)) else scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _URL_USERINFO.sub(r"\1" + REDACTED + "@", _TOKEN_TEXT.sub(REDACTED, value))
    return value


@dataclass
class _Pending:
    entry: dict[str, Any]
    record: dict[str, Any] | None = None
    error: AuditError | None = None
    done: bool = False


@dataclass
class _Tail:
    """What this process knows of the file's end: its identity and size, the last seq and hash."""

    ino: int = -1
    size: int = -1
    seq: int = 0
    hash: str = ZERO_HASH
    fd: int | None = field(default=None, repr=False)


class AuditLog:
    """The audit log of one store directory (get it with `audit_log(root)`)."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / AUDIT_DIR
        self.path = self.dir / LOG_NAME
        self.head_path = self.dir / HEAD_NAME
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Pending] = []
        self._writing = False
        self._tail = _Tail()
        self._anchor = HeadAnchor(self.head_path)

    # -- appending ------------------------------------------------------------------------------
    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Write one record for `entry` (the ENTRY_FIELDS) and return it once it is synced to
        disk; AuditError when it cannot be written."""
        result = self.append_many([entry])[0]
        if isinstance(result, AuditError):
            raise result
        return result

    def append_many(self, entries: list[dict[str, Any]]) -> list[dict[str, Any] | AuditError]:
        """Write a record for each of `entries`, in order, and return per entry its record once
        synced, or the AuditError that kept it from the disk (not raised: each caller of a batch
        learns its own outcome). One call, however many entries, joins one group commit: a
        server hands over every record its requests are waiting for at once."""
        if not entries:
            return []
        for entry in entries:
            canonical(entry)  # not JSON: a TypeError here, in the caller's thread, not in a batch
        mine = [_Pending(entry) for entry in entries]
        with self._cond:
            self._queue.extend(mine)
            while not mine[-1].done and self._writing:
                self._cond.wait()
            if mine[-1].done:
                return [_outcome(p) for p in mine]
            self._writing = True
            batch, self._queue = self._queue, []
        try:
            self._write_batch(batch)
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
        return [_outcome(p) for p in mine]

    def check_writable(self) -> None:
        """AuditError unless a record could be appended now (directory and file writable, the
        file's end intact): checked before a command runs, so it is refused rather than run
        unrecorded."""
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._writing = True
        try:
            fd = self._open()
            with self._file_lock(fd):
                self._sync_tail(fd)
        except AuditError:
            self._close()
            raise
        except OSError as exc:
            self._close()
            raise AuditError(f"cannot use the audit log {self.path}: {exc.strerror or exc}") from None
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()

    def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            fd = self._open()
            with self._file_lock(fd):
                self._sync_tail(fd)
                self._commit(fd, batch)
        except AuditError as exc:
            self._close()
            for p in batch:
                p.error, p.done = exc, True
        except Exception as exc:  # noqa: BLE001 - every waiter must learn the outcome, whatever went wrong
            self._close()
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            err = AuditError(f"cannot write the audit log {self.path}: {why}",
                             hint="the request was refused because it could not be recorded")
            for p in batch:
                p.error, p.done = err, True

    def _commit(self, fd: int, batch: list[_Pending]) -> None:
        tail = self._tail
        seq, prev, now = tail.seq, tail.hash, utc_now()
        lines: list[bytes] = []
        records: list[dict[str, Any]] = []
        for p in batch:
            seq += 1
            rec: dict[str, Any] = {"seq": seq, "time": now, **p.entry, "prev": prev}
            rec["hash"] = prev = record_hash(rec)
            records.append(rec)
            lines.append(canonical(rec) + b"\n")
        data = b"".join(lines)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):  # never leave half a record for the next writer
                os.ftruncate(fd, tail.size)
            raise
        tail.seq, tail.hash, tail.size = seq, prev, tail.size + len(data)
        self._anchor.write(seq, prev, now)
        for p, rec in zip(batch, records):
            p.record, p.done = rec, True

    # -- the file -------------------------------------------------------------------------------
    def _open(self) -> int:
        """The open log file (reopened when it was replaced or removed behind our back)."""
        tail = self._tail
        try:
            if tail.fd is not None:
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(self.path).st_ino == tail.ino:
                        return tail.fd
                self._close()
            if not self.dir.is_dir():
                self.dir.mkdir(mode=_DIR_MODE, parents=False, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _FILE_MODE)
        except OSError as exc:
            raise AuditError(f"cannot open the audit log {self.path}: {exc.strerror or exc}",
                             hint="the request was refused because it could not be recorded") from None
        self._tail = _Tail(ino=os.fstat(fd).st_ino, fd=fd)
        return fd

    def _close(self) -> None:
        self._anchor.close()
        if self._tail.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._tail.fd)
        self._tail = _Tail()

    @contextlib.contextmanager
    def _file_lock(self, fd: int) -> Iterator[None]:
        """The lock several processes take turns by (held for one batch)."""
        if fcntl is None:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _sync_tail(self, fd: int) -> None:
        """Re-read the last seq and hash when the file changed size since this process last
        wrote it (another process appended), checking the end against the head anchor."""
        size = os.fstat(fd).st_size
        if size == self._tail.size:
            return
        seq, last_hash = read_tail(self.path, size)
        head = read_head(self.head_path)
        if head is None and seq:
            raise AuditError(f"the audit log's head anchor {self.head_path} is missing",
                             hint="run `fundtrail audit verify`; nothing is appended to a log "
                                  "that may have lost records")
        if head is not None and (head["seq"] > seq or (head["seq"] == seq and head["hash"] != last_hash)):
            raise AuditError(f"the audit log ends at seq {seq} but its head anchor says seq "
                             f"{head['seq']}: records were removed from its end",
                             hint="run `fundtrail audit verify`")
        self._tail.size, self._tail.seq, self._tail.hash = size, seq, last_hash


def _outcome(p: _Pending) -> dict[str, Any] | AuditError:
    if p.error is not None:
        return p.error
    assert p.record is not None
    return p.record


def read_tail(path: Path, size: int) -> tuple[int, str]:
    """The seq and hash of the last record of the log (0 and 64 zeros when it is empty);
    AuditError when the file ends inside a record (a torn write or a cut)."""
    if size == 0:
        return 0, ZERO_HASH
    with open(path, "rb") as f:
        chunk = 4096
        while True:
            start = max(0, size - chunk)
            f.seek(start)
            data = f.read(size - start)
            if not data.endswith(b"\n"):
                raise AuditError(f"the audit log {path} ends inside a record",
                                 hint="run `fundtrail audit verify`; nothing is appended after a torn record")
            cut = data.rfind(b"\n", 0, len(data) - 1)
            if cut >= 0 or start == 0:
                last = data[cut + 1:]
                break
            chunk *= 4
    try:
        rec = json.loads(last)
        return int(rec["seq"]), str(rec["hash"])
    except (ValueError, KeyError, TypeError):
        raise AuditError(f"the last line of the audit log {path} is not an audit record",
                         hint="run `fundtrail audit verify`") from None


def iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for every record of the log, oldest first; DataError on a line that
    is not a record (`fundtrail audit verify` says more)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the `with` below; a missing log is empty
    except FileNotFoundError:
        return
    except OSError as exc:
        raise AuditError(f"cannot read the audit log {path}: {exc.strerror}") from None
    with f:
        for line_no, line in enumerate(f, start=1):
            try:
                rec = json.loads(line)
            except ValueError:
                rec = None
            if not isinstance(rec, dict):
                raise DataError(f"line {line_no} of the audit log {path} is not an audit record",
                                hint="run `fundtrail audit verify`")
            yield line_no, rec


_LOGS: dict[Path, AuditLog] = {}
_LOGS_GUARD = threading.Lock()
_GIVEN: dict[Path, AuditLog] = {}  # the path as callers spell it -> its log (no resolve() per request)


def audit_log(root: Path) -> AuditLog:
    """The one `AuditLog` of this process for the store at `root` (asked on every request: the
    path as given is looked up first, so the file system is visited only for a new spelling)."""
    given = _GIVEN.get(Path(root))
    if given is not None:
        return given
    key = (Path(root) / AUDIT_DIR / LOG_NAME).resolve()
    with _LOGS_GUARD:
        log = _LOGS.get(key)
        if log is None:
            log = _LOGS[key] = AuditLog(Path(root))
        _GIVEN[Path(root)] = log
        return log
