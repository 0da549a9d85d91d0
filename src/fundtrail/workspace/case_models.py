"""Result models of the case operations (`workspace/cases.py`); times ISO 8601 UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fundtrail.workspace.core import Model

__all__ = ["CaseDetail", "CaseList", "CaseMember", "CaseRecord", "FindingRecord", "NoteRecord", "SeedRecord",
           "iso"]


def iso(value: Any) -> str | None:
    """A catalog timestamp (naive UTC) as ISO 8601 UTC with `Z`."""
    if value is None:
        return None
    assert isinstance(value, dt.datetime)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CaseRecord(Model):
    """A case as its member sees it: `id` (`C-` and 8 hex digits), title, agency, case number,
    status (open, closed, archived), who opened and closed it and when, and `role`, the acting
    user's role in it (owner, member, viewer)."""

    id: str
    title: str
    agency: str | None = None
    case_number: str | None = None
    status: Literal["open", "closed", "archived"]
    created_at: str
    created_by: str
    closed_at: str | None = None
    closed_by: str | None = None
    role: Literal["owner", "member", "viewer"]


class CaseList(Model):
    """The cases the acting user is a member of, newest first."""

    cases: list[CaseRecord]


class CaseMember(Model):
    """A member of a case with their case role, who added them and when."""

    user: str
    role: Literal["owner", "member", "viewer"]
    added_at: str
    added_by: str


class SeedRecord(Model):
    """A seed of the case: `text` the address, `TXID:VOUT` output or txid in canonical form,
    found in the store on `chain`, the note and
    the facts reported about it (e.g. a victim's statement of a payment)."""

    id: str
    case_id: str
    text: str
    chain: str
    note: str | None = None
    facts: dict[str, Any]
    added_at: str
    added_by: str


class NoteRecord(Model):
    """A note in a case: its author, time and text."""

    id: str
    case_id: str
    author: str
    created_at: str
    text: str


class FindingRecord(Model):
    """A finding: a `fact` (on-chain, checkable; with its basis) or an `inference` (a heuristic
    or attribution, with its basis, a confidence from 0 to 1 and its source). `confidence` is
    None for facts."""

    id: str
    case_id: str
    kind: Literal["fact", "inference"]
    text: str
    basis: str | None = None
    confidence: float | None = None
    source: str | None = None
    created_at: str
    created_by: str


class CaseDetail(CaseRecord):
    """A case with its members, seeds, notes and findings, each oldest first."""

    members: list[CaseMember]
    seeds: list[SeedRecord]
    notes: list[NoteRecord]
    findings: list[FindingRecord]
