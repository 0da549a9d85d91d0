"""Reads and writes of the case tables (catalog migration 9), with the per-case access rule.

Every function takes the acting user and answers only about cases they are a member of: for
anyone else a case does not exist, with the very same NotFoundError as an id no case has (no
existence leak). Owners and members write; viewers read; only the owner closes a case and
manages its members. A closed or archived case refuses new seeds, notes and findings.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import duckdb

from fundtrail.cases import ids
from fundtrail.errors import NotFoundError, PermissionDenied, UsageError
from fundtrail.store import Store

_CASE_COLUMNS = ("c.case_id, c.title, c.agency, c.case_number, c.status, c.created_at, c.created_by, "
                 "c.closed_at, c.closed_by, m.case_role")
_CASE_NAMES = ("id", "title", "agency", "case_number", "status", "created_at", "created_by", "closed_at",
               "closed_by", "role")
_USER = re.compile(r"[A-Za-z0-9._@:-]{1,64}")
_WRITERS = ("owner", "member")


def now() -> dt.datetime:
    """The current time as the catalog stores it: naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def not_found(case_id: str) -> NotFoundError:
    """The one answer for a case that does not exist and for one the user is not a member of."""
    return NotFoundError(f"case {case_id} is not a case you are a member of", field="case")


def check_user(name: object, *, field: str = "user") -> str:
    """A user name as the CLI and the access package accept them (the OS user `uid:N` too)."""
    if not isinstance(name, str) or not _USER.fullmatch(name):
        raise UsageError(f"{field} {str(name)[:70]!r} is not a user name", field=field)
    return name


def _case(con: duckdb.DuckDBPyConnection, case_id: str, user: str) -> dict[str, Any]:
    row = con.execute(f"SELECT {_CASE_COLUMNS} FROM cases c JOIN case_members m ON m.case_id = c.case_id "
                      "WHERE c.case_id = ? AND m.user_name = ?", [case_id, user]).fetchone()
    if row is None:
        raise not_found(case_id)
    return dict(zip(_CASE_NAMES, row))


def check_writable(case: dict[str, Any], what: str, *, owner_only: bool = False) -> None:
    roles = ("owner",) if owner_only else _WRITERS
    if case["role"] not in roles:
        who = "the case's owner" if owner_only else "the case's owner and members"
        raise PermissionDenied(f"{what} in case {case['id']} is for {who}; you are a {case['role']}",
                               field="case")
    if case["status"] != "open":
        raise UsageError(f"case {case['id']} is {case['status']}: {what} is refused", field="case")


def create_case(store: Store, *, title: str, agency: str | None, number: str | None, by: str) -> dict[str, Any]:
    """Open a new case with `by` as its owner; the case record (with `role` owner)."""
    when = now()
    with store.connect() as con:
        while True:
            case_id = ids.new_id("C")
            if not con.execute("SELECT 1 FROM cases WHERE case_id = ?", [case_id]).fetchone():
                break
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO cases (case_id, title, agency, case_number, status, created_at, created_by) "
                    "VALUES (?, ?, ?, ?, 'open', ?, ?)", [case_id, title, agency, number, when, by])
        con.execute("INSERT INTO case_members VALUES (?, ?, 'owner', ?, ?)", [case_id, by, when, by])
        con.execute("COMMIT")
        return _case(con, case_id, by)


def get_case(store: Store, case_id: str, user: str, *, read_only: bool) -> dict[str, Any]:
    """The case record as `user` sees it (`role` theirs); NotFoundError for a non-member."""
    ids.check_case_id(case_id)
    with store.connect(read_only=read_only) as con:
        return _case(con, case_id, user)


def list_cases(store: Store, user: str, *, read_only: bool) -> list[dict[str, Any]]:
    """The cases `user` is a member of, newest first."""
    with store.connect(read_only=read_only) as con:
        rows = con.execute(f"SELECT {_CASE_COLUMNS} FROM cases c JOIN case_members m ON m.case_id = c.case_id "
                           "WHERE m.user_name = ? ORDER BY c.created_at DESC, c.case_id", [user]).fetchall()
    return [dict(zip(_CASE_NAMES, r)) for r in rows]


def case_detail(store: Store, case_id: str, user: str, *, read_only: bool) -> dict[str, Any]:
    """The case with its members, seeds, notes, findings, saved traces, attachments, layouts and
    bundles (each oldest first) and the tags proposed in it."""
    from fundtrail.cases import attachments, files, traces  # they import this module
    ids.check_case_id(case_id)
    with store.connect(read_only=read_only) as con:
        case = _case(con, case_id, user)

        def rows(sql: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
            return [dict(zip(names, r)) for r in con.execute(sql, [case_id]).fetchall()]

        case["members"] = rows("SELECT user_name, case_role, added_at, added_by FROM case_members WHERE case_id = ? "
                               "ORDER BY added_at, user_name", ("user", "role", "added_at", "added_by"))
        case["seeds"] = rows("SELECT seed_id, text, chain, note, facts, added_at, added_by FROM case_seeds "
                             "WHERE case_id = ? ORDER BY added_at, seed_id",
                             ("id", "text", "chain", "note", "facts", "added_at", "added_by"))
        case["notes"] = rows("SELECT note_id, author, created_at, text FROM case_notes WHERE case_id = ? "
                             "ORDER BY created_at, note_id", ("id", "author", "created_at", "text"))
        case["findings"] = rows("SELECT finding_id, kind, text, basis, confidence, source, created_at, created_by, "
                                "refs FROM case_findings WHERE case_id = ? ORDER BY created_at, finding_id",
                                ("id", "kind", "text", "basis", "confidence", "source", "created_at",
                                 "created_by", "refs"))
        case["traces"] = traces.list_traces(con, case_id)
        case["attachments"] = attachments.list_rows(con, case_id)
        case["layouts"] = files.list_layouts(con, case_id)
        case["bundles"] = files.list_bundles(con, case_id)
        case["tags"] = files.list_tags(con, case_id)
    for seed in case["seeds"]:
        seed["facts"] = json.loads(seed["facts"]) if seed["facts"] else {}
    for finding in case["findings"]:
        finding["refs"] = json.loads(finding["refs"]) if finding["refs"] else []
    return case


def _insert(store: Store, case_id: str, user: str, what: str, table: str, prefix: str, key: str,
            values: dict[str, Any], *, owner_only: bool = False) -> str:
    """Insert one row into a case table after the access and status checks; its new id."""
    ids.check_case_id(case_id)
    with store.connect() as con:
        check_writable(_case(con, case_id, user), what, owner_only=owner_only)
        while True:
            new = ids.new_id(prefix)
            if not con.execute(f"SELECT 1 FROM {table} WHERE case_id = ? AND {key} = ?", [case_id, new]).fetchone():
                break
        cols = [key, "case_id", *values]
        con.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    [new, case_id, *values.values()])
    return new


def add_seed(store: Store, case_id: str, user: str, *, text: str, chain: str, note: str | None,
             facts: dict[str, Any]) -> str:
    """Record a (validated) seed with its note and reported facts; the seed id."""
    return _insert(store, case_id, user, "adding a seed", "case_seeds", "S", "seed_id",
                   {"text": text, "chain": chain, "note": note, "facts": json.dumps(facts, ensure_ascii=False),
                    "added_at": now(), "added_by": user})


def add_note(store: Store, case_id: str, user: str, *, text: str) -> str:
    """Record a note by `user`; the note id."""
    return _insert(store, case_id, user, "adding a note", "case_notes", "N", "note_id",
                   {"author": user, "created_at": now(), "text": text})


def add_finding(store: Store, case_id: str, user: str, *, kind: str, text: str, basis: str | None,
                confidence: float | None, source: str | None, refs: list[str] | None = None) -> str:
    """Record a (validated) finding with its (checked) references; the finding id."""
    return _insert(store, case_id, user, "adding a finding", "case_findings", "F", "finding_id",
                   {"kind": kind, "text": text, "basis": basis, "confidence": confidence, "source": source,
                    "created_at": now(), "created_by": user, "refs": json.dumps(refs or [])})


def close_case(store: Store, case_id: str, user: str) -> None:
    """Close an open case (the owner only); closing a closed case is refused like any write."""
    ids.check_case_id(case_id)
    with store.connect() as con:
        check_writable(_case(con, case_id, user), "closing the case", owner_only=True)
        con.execute("UPDATE cases SET status = 'closed', closed_at = ?, closed_by = ? WHERE case_id = ?",
                    [now(), user, case_id])


def set_member(store: Store, case_id: str, user: str, *, member: str, role: str) -> None:
    """Add `member` with `role` (member or viewer), or change their role (the owner only)."""
    ids.check_case_id(case_id)
    check_user(member)
    if role not in ("member", "viewer"):
        raise UsageError(f"role {role!r} is not a role to give (member or viewer)", field="role")
    with store.connect() as con:
        check_writable(_case(con, case_id, user), "managing members", owner_only=True)
        if member == user:
            raise UsageError("user: the owner keeps the owner role", field="user")
        con.execute("DELETE FROM case_members WHERE case_id = ? AND user_name = ?", [case_id, member])
        con.execute("INSERT INTO case_members VALUES (?, ?, ?, ?, ?)", [case_id, member, role, now(), user])
