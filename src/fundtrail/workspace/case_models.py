"""Result models of the case operations (`workspace/cases.py`); times ISO 8601 UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from fundtrail.workspace.core import Model

__all__ = ["AttachmentRecord", "CaseBundleRecord", "CaseDetail", "CaseExportResult", "CaseList", "CaseMember",
           "CaseRecord", "CaseTagRecord", "FindingRecord", "LayoutRecord", "NoteRecord", "SavedTrace",
           "SavedTraceSummary", "SeedRecord", "TraceRerun", "iso"]


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
    None for facts. `refs` what it points at, each `tx:<txid>`, `output:<txid>:<vout>` or
    `trace:<T-id>` (checked to exist when recorded; the evidence bundle proves them)."""

    id: str
    case_id: str
    kind: Literal["fact", "inference"]
    text: str
    basis: str | None = None
    confidence: float | None = None
    source: str | None = None
    created_at: str
    created_by: str
    refs: list[str] = Field(default_factory=list)


class AttachmentRecord(Model):
    """A file kept with a case (`id` `A-` and 8 hex digits): its name, media type, size in bytes
    and SHA-256 (checked again whenever the body is read), a note, who added it and when."""

    id: str
    case_id: str
    name: str
    media_type: str | None = None
    bytes: int
    sha256: str
    note: str | None = None
    added_at: str
    added_by: str


class CaseTagRecord(Model):
    """A tag proposed in the case (a tag whose case is this one): address, currency, label,
    category, confidence, source, creator, actor, visibility, `lastmod` its date and `created` when
    it was stored (the time of its tag import `import_id`)."""

    address: str
    currency: str
    label: str
    category: str | None = None
    concepts: list[str] = Field(default_factory=list)
    confidence: str
    source: str | None = None
    creator: str | None = None
    actor: str | None = None
    context: str | None = None
    visibility: str
    lastmod: str | None = None
    import_id: int
    created: str | None = None


class LayoutRecord(Model):
    """A saved graph (canvas) kept in the case: its id, name and chain (None when the canvas was
    deleted since), who added it and when."""

    graph_id: str
    name: str | None = None
    chain: str | None = None
    added_at: str
    added_by: str


class CaseBundleRecord(Model):
    """An evidence bundle made of the case (docs/bundle.md): its hash (the SHA-256 of its
    SHA256SUMS), when and by whom, where it was written, its size and transaction count."""

    bundle_hash: str
    created_at: str
    created_by: str
    path: str | None = None
    bytes: int
    transactions: int


class CaseExportResult(Model):
    """A case exported (`case_export`): the file written, its `format` (json, csv, ftm, tagpack),
    `files` (CSV: the CSV files in the zip; else 1), `records` (rows over all tables for json and
    csv, FollowTheMoney entities, TagPack tags), its size and SHA-256."""

    case_id: str
    path: str
    format: Literal["json", "csv", "ftm", "tagpack"]
    files: int
    records: int
    bytes: int
    sha256: str


class SavedTraceSummary(Model):
    """A trace saved in a case (`id` `T-` and 8 hex digits): its seed text, policy, who saved it
    when, `rerun_of` the saved trace it reran (if any), the `state` it was computed on (chain,
    tip height and hash, tag import id and tag state hash, clustering run id, policy, fundtrail
    version, time), its endpoints count and the amount reached at labelled endpoints (base units)."""

    id: str
    case_id: str
    created_at: str
    created_by: str
    seed: str
    policy: str | None = None
    rerun_of: str | None = None
    state: dict[str, Any]
    endpoints: int
    amount_reached: int


class SavedTrace(SavedTraceSummary):
    """A saved trace with its request (the `TraceRequest` fields) and result (`fundtrail trace --json`)."""

    request: dict[str, Any]
    result: dict[str, Any]


class TraceRerun(Model):
    """A saved trace recomputed on today's store: `changed` false when state and result are the
    same; else the state changes (tip moved, tags changed, new clustering run) and result changes
    (endpoints added or removed, amounts per endpoint and per service, exact integers).
    `saved_as` is the new saved trace's id with `--save`."""

    case_id: str
    trace_id: str
    changed: bool
    state_changes: list[str]
    result_changes: list[str]
    saved_as: str | None = None
    state: dict[str, Any]
    result: dict[str, Any]


class CaseDetail(CaseRecord):
    """A case with its members, seeds, notes, findings, saved traces, attachments, saved graph
    layouts and evidence bundles, each oldest first, and the tags proposed in it."""

    members: list[CaseMember]
    seeds: list[SeedRecord]
    notes: list[NoteRecord]
    findings: list[FindingRecord]
    traces: list[SavedTraceSummary]
    attachments: list[AttachmentRecord] = Field(default_factory=list)
    tags: list[CaseTagRecord] = Field(default_factory=list)
    layouts: list[LayoutRecord] = Field(default_factory=list)
    bundles: list[CaseBundleRecord] = Field(default_factory=list)
