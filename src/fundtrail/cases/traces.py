"""Saved traces of a case (catalog migration 10) and the store state each was computed on.

A saved trace keeps the request, the result and the *state*: per chain the tip height and hash,
the tag import state (last import id and a hash of the import list), the last completed
clustering run, the policy, the fundtrail version and the time. Rerunning the request later
and comparing both (`compare`) answers "what did we know, when" and "what changed since".
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import duckdb

from fundtrail import __version__
from fundtrail.cases import ids
from fundtrail.cases.store import _case, check_writable, now
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.store import Store

TRACE_ID = re.compile(r"T-[0-9a-f]{8}")
_COLUMNS = ("trace_id", "case_id", "created_at", "created_by", "seed", "policy", "rerun_of", "request", "result",
            "state")


def check_trace_id(trace_id: object) -> str:
    """`trace_id` when shaped like a saved trace id, else a UsageError on `trace`."""
    if not isinstance(trace_id, str) or not TRACE_ID.fullmatch(trace_id):
        raise UsageError(f"trace {str(trace_id)[:40]!r} is not a saved trace id (T- and 8 hex digits, as "
                         "`fundtrail case show` lists them)", field="trace")
    return trace_id


def store_state(store: Store, chain: str, *, policy: str | None, read_only: bool) -> dict[str, Any]:
    """The state a trace of `chain` depends on, read now (see the module docstring)."""
    with store.connect(read_only=read_only) as con:
        tip = con.execute("SELECT height, hash FROM block_index WHERE chain = ? AND height IS NOT NULL "
                          "ORDER BY height DESC LIMIT 1", [chain]).fetchone()
        imports = con.execute("SELECT import_id, coalesce(sha256, ''), status FROM tag_imports "
                              "ORDER BY import_id").fetchall()
        run = con.execute("SELECT max(run_id) FROM cluster_runs WHERE chain = ? AND status = 'completed'",
                          [chain]).fetchone()
    tag_hash = hashlib.sha256(json.dumps([list(map(str, r)) for r in imports]).encode()).hexdigest()
    return {
        "chain": chain,
        "tip_height": tip[0] if tip else None,
        "tip_hash": bytes(tip[1])[::-1].hex() if tip else None,
        "tag_import_id": imports[-1][0] if imports else None,
        "tag_imports": len(imports),
        "tag_state_hash": tag_hash,
        "cluster_run_id": run[0] if run else None,
        "policy": policy,
        "fundtrail_version": __version__,
        "computed_at": now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def save_trace(store: Store, case_id: str, user: str, *, seed: str, policy: str | None, request: dict[str, Any],
               result: dict[str, Any], state: dict[str, Any], rerun_of: str | None = None) -> str:
    """Save a trace in an open case the user writes to; its new id `T-<8 hex>`."""
    ids.check_case_id(case_id)
    with store.connect() as con:
        check_writable(_case(con, case_id, user), "saving a trace")
        while True:
            new = ids.new_id("T")
            if not con.execute("SELECT 1 FROM case_traces WHERE case_id = ? AND trace_id = ?",
                               [case_id, new]).fetchone():
                break
        con.execute(f"INSERT INTO case_traces ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    [new, case_id, now(), user, seed, policy, rerun_of, json.dumps(request), json.dumps(result),
                     json.dumps(state)])
    return new


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    rec = dict(zip(_COLUMNS, row))
    for key in ("request", "result", "state"):
        rec[key] = json.loads(rec[key])
    return rec


def list_traces(con: duckdb.DuckDBPyConnection, case_id: str) -> list[dict[str, Any]]:
    """The saved traces of a case, oldest first (access checked by the caller)."""
    rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM case_traces WHERE case_id = ? "
                       "ORDER BY created_at, trace_id", [case_id]).fetchall()
    return [_row(r) for r in rows]


def get_trace(store: Store, case_id: str, trace_id: str, user: str, *, read_only: bool) -> dict[str, Any]:
    """One saved trace of a case the user is a member of; the not-found error otherwise."""
    ids.check_case_id(case_id)
    check_trace_id(trace_id)
    with store.connect(read_only=read_only) as con:
        _case(con, case_id, user)
        row = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM case_traces WHERE case_id = ? AND trace_id = ?",
                          [case_id, trace_id]).fetchone()
    if row is None:
        raise NotFoundError(f"trace {trace_id} is not a saved trace of case {case_id}", field="trace")
    return _row(row)


def _amount(e: dict[str, Any]) -> int:
    value = e.get("amount_sat", e.get("amount", 0))
    return int(value) if isinstance(value, (int, str)) and str(value).lstrip("-").isdigit() else 0


def endpoint_amounts(result: dict[str, Any]) -> dict[str, int]:
    """`address (reason)` -> amount in base units (satoshi), over the result's endpoints."""
    out: dict[str, int] = {}
    for e in result.get("endpoints") or []:
        key = f"{e.get('address')} ({e.get('reason')})"
        out[key] = out.get(key, 0) + _amount(e)
    return out


def service_amounts(result: dict[str, Any]) -> dict[str, int]:
    """Labelled endpoint (service) -> amount reached there, in base units."""
    out: dict[str, int] = {}
    for e in result.get("endpoints") or []:
        if e.get("label"):
            out[str(e["label"])] = out.get(str(e["label"]), 0) + _amount(e)
    return out


def summary(result: dict[str, Any]) -> tuple[int, int]:
    """(endpoints count, amount reached at labelled endpoints) of a result."""
    return len(result.get("endpoints") or []), sum(service_amounts(result).values())


def state_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What moved in the store between two states, one sentence each."""
    changes = []
    if (old.get("tip_height"), old.get("tip_hash")) != (new.get("tip_height"), new.get("tip_hash")):
        changes.append(f"chain tip moved from {old.get('tip_height')} {old.get('tip_hash')} to "
                       f"{new.get('tip_height')} {new.get('tip_hash')}")
    if old.get("tag_state_hash") != new.get("tag_state_hash"):
        changes.append(f"tags changed: last import {old.get('tag_import_id')} -> {new.get('tag_import_id')} "
                       f"(tag state {str(old.get('tag_state_hash'))[:12]} -> {str(new.get('tag_state_hash'))[:12]})")
    if old.get("cluster_run_id") != new.get("cluster_run_id"):
        changes.append(f"new clustering run: {old.get('cluster_run_id')} -> {new.get('cluster_run_id')}")
    if old.get("fundtrail_version") != new.get("fundtrail_version"):
        changes.append(f"fundtrail version {old.get('fundtrail_version')} -> {new.get('fundtrail_version')}")
    return changes


def result_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Endpoints added or removed and amounts changed (exact integers), one sentence each."""
    changes = []
    before, after = endpoint_amounts(old), endpoint_amounts(new)
    for key in sorted(after.keys() - before.keys()):
        changes.append(f"endpoint added: {key} {after[key]}")
    for key in sorted(before.keys() - after.keys()):
        changes.append(f"endpoint removed: {key} {before[key]}")
    for key in sorted(before.keys() & after.keys()):
        if before[key] != after[key]:
            changes.append(f"endpoint amount changed: {key} {before[key]} -> {after[key]}")
    s_old, s_new = service_amounts(old), service_amounts(new)
    for label in sorted(s_old.keys() | s_new.keys()):
        if s_old.get(label, 0) != s_new.get(label, 0):
            changes.append(f"amount at {label}: {s_old.get(label, 0)} -> {s_new.get(label, 0)}")
    return changes
