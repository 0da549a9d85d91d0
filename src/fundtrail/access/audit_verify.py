"""Checking the audit log: every record in order, every hash, the chain and the head anchor.

`verify_log` reads the log once, front to back, and stops at the FIRST record that is wrong,
naming its line and seq and what is wrong with it: an edited record (its hash no longer matches
its content), a missing, inserted or moved one (its seq is not the next one, or its `prev` is not
the hash of the record before it), a line cut in the middle, or records cut off at the end (the
log is shorter than the head anchor says). docs/security.md explains what this can and cannot
prove.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fundtrail.access.audit import (AUDIT_DIR, HEAD_NAME, LOG_NAME, RECORD_FIELDS, ZERO_HASH, canonical,
                                    read_head, record_hash)
from fundtrail.errors import AuditError

_TYPES: dict[str, tuple[type, ...]] = {
    "seq": (int,), "time": (str,), "user": (str,), "role": (str, type(None)), "via": (str,),
    "action": (str,), "subjects": (list,), "params": (dict,), "result_size": (int, type(None)),
    "result_unit": (str, type(None)), "outcome": (str,), "status": (int,), "prev": (str,), "hash": (str,),
}


def _problem(line: int | None, seq: int | None, what: str) -> dict[str, Any]:
    return {"line": line, "seq": seq, "what": what}


def _check_record(line_no: int, raw: bytes, want_seq: int, prev: str) -> tuple[dict[str, Any] | None,
                                                                                dict[str, Any] | None]:
    """(record, None) when the line is the record expected here, else (None, problem)."""
    if not raw.endswith(b"\n"):
        return None, _problem(line_no, None, "the line is cut off (the log ends inside this record)")
    try:
        rec = json.loads(raw)
    except ValueError:
        return None, _problem(line_no, None, "the line is not a JSON record")
    if not isinstance(rec, dict):
        return None, _problem(line_no, None, "the line is not a JSON record")
    seq = rec.get("seq") if isinstance(rec.get("seq"), int) else None
    if set(rec) != set(RECORD_FIELDS):
        odd = sorted(set(rec) ^ set(RECORD_FIELDS))
        return None, _problem(line_no, seq, f"the record has missing or unexpected fields: {', '.join(odd)}")
    bad = [k for k, types in _TYPES.items() if not isinstance(rec[k], types) or (isinstance(rec[k], bool)
           and bool not in types)]
    if bad:
        return None, _problem(line_no, seq, f"fields of the wrong type: {', '.join(bad)}")
    if rec["hash"] != record_hash(rec):
        return None, _problem(line_no, seq, "its hash does not match its content: the record was edited")
    if raw.rstrip(b"\n") != canonical(rec):
        return None, _problem(line_no, seq, "the record is not in canonical form: it was rewritten")
    if rec["seq"] != want_seq:
        return None, _problem(line_no, seq, f"seq {rec['seq']} where {want_seq} was expected: a record "
                                            "was deleted, inserted or moved before this line")
    if rec["prev"] != prev:
        return None, _problem(line_no, seq, "its prev is not the hash of the record before it: a record "
                                            "before this one was replaced, deleted or moved")
    return rec, None


def verify_log(root: Path) -> dict[str, Any]:
    """The verdict on the audit log of the store at `root`: `ok`, `records` (read and found
    good), `last_seq`, `last_hash`, `head` (the anchor, or None), `problem` (line, seq, what) of
    the first bad record or None, and a `note` on a harmless finding."""
    path = Path(root) / AUDIT_DIR / LOG_NAME
    head_path = Path(root) / AUDIT_DIR / HEAD_NAME
    result: dict[str, Any] = {"ok": True, "records": 0, "last_seq": 0, "last_hash": ZERO_HASH,
                              "head": None, "problem": None, "note": None}
    try:
        head = read_head(head_path)
    except AuditError as exc:
        head = None
        result["problem"] = _problem(None, None, exc.message)
    result["head"] = head
    prev, at_head = ZERO_HASH, None
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the `with` below; a missing log is empty
    except FileNotFoundError:
        f = None
    except OSError as exc:
        raise AuditError(f"cannot read the audit log {path}: {exc.strerror}") from None
    if f is not None:
        with f:
            for line_no, raw in enumerate(f, start=1):
                rec, problem = _check_record(line_no, raw, result["records"] + 1, prev)
                if problem is not None:
                    result["problem"] = result["problem"] or problem
                    break
                assert rec is not None
                prev = rec["hash"]
                result["records"], result["last_seq"], result["last_hash"] = line_no, rec["seq"], prev
                if head is not None and rec["seq"] == head["seq"]:
                    at_head = prev
    if result["problem"] is None:
        result["problem"], result["note"] = _check_head(head, result["records"], prev, at_head)
    result["ok"] = result["problem"] is None
    return result


def _check_head(head: dict[str, Any] | None, records: int, last_hash: str,
                at_head: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The problem (or note) found comparing an intact chain of `records` with the head anchor."""
    if head is None:
        if records:
            return _problem(records + 1, None, "the head anchor audit/head.json is missing, so records "
                                               "cut off at the end could not be seen"), None
        return None, None
    if head["seq"] > records:
        missing = f"seq {records + 1}" + (f" to {head['seq']}" if head["seq"] > records + 1 else "")
        return _problem(records + 1, records + 1, f"record {missing} is missing from the end: the log ends "
                                                  f"at seq {records} but the head anchor says {head['seq']}"), None
    if head["seq"] == records and head["hash"] != last_hash:
        return _problem(records, records, "the last record is not the one the head anchor names: "
                                          "records at the end were replaced"), None
    if head["seq"] < records:
        if head["seq"] > 0 and at_head != head["hash"]:
            return _problem(head["seq"], head["seq"], "the record at the head anchor's seq is not the one "
                                                      "it names: records were replaced"), None
        return None, (f"the head anchor is {records - head['seq']} record(s) behind the log (a crash "
                      "between writing records and the anchor); the records after it are chained")
    return None, None
