"""Case routes (`/api/v1/cases`): case files, their members, seeds, notes, findings and saved traces.

Every route needs the `cases` permission (investigators) and acts as the authenticated user: only
the cases they are a member of exist for them (a non-member gets the very 404 of an unknown id),
owners and members write, viewers read (a write is 403), a closed case refuses additions (422).
Reads run on the server's warm read-only workspace *acting as the user* (`acting`); writes open a
writable one as the user (`ApiState.writer`). Traces run in the thread pool (the routes are plain
`def`s), never on the event loop.

The audit record of every case route holds the case id among its subjects and only the fields
set here (`audit`): never a note's, finding's or title's text, nor an uploaded file's contents
(their sizes instead). Attachments, tags, layouts, exports: `routes_cases_files`; bundles,
reports, letters and verifying a bundle: `routes_cases_evidence`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from fundtrail.api.auth import require
from fundtrail.api.render import json_of
from fundtrail.api.state import api_state, reader
from fundtrail.workspace import Actor, Model, Workspace
from fundtrail.workspace.case_models import (CaseDetail, CaseList, CaseRecord, FindingRecord, NoteRecord, SavedTrace,
                                             SeedRecord, TraceRerun)
from fundtrail.workspace.trace_models import TraceRequest

__all__ = ["CanCase", "CaseId", "acting", "audit", "created", "router"]


def start_audit(request: Request) -> None:
    """Router dependency, before any other: the audit record takes only what the routes name
    (`audit`), the case id as a subject first; a body (a note's text) is never recorded whole."""
    case = request.path_params.get("case")
    request.state.audit_fields = {"id": case} if isinstance(case, str) else {}


def audit(request: Request, **fields: Any) -> None:
    """Add `fields` to the request's audit record (`address`, `seeds`, `ref`, ... are subjects)."""
    request.state.audit_fields.update({k: v for k, v in fields.items() if v is not None})


def created(result: Model) -> Response:
    """The JSON of a result that was created (201)."""
    response = json_of(result)
    response.status_code = 201
    return response


def acting(ws: Workspace, actor: Actor) -> Workspace:
    """The server's read-only workspace acting as `actor`, for one request (`Workspace.acting_as`)."""
    return ws.acting_as(actor)


router = APIRouter(prefix="/api/v1", tags=["cases"], dependencies=[Depends(start_audit)])
CanCase = Annotated[Actor, Depends(require("cases"))]
Reader = Annotated[Workspace, Depends(reader)]
CaseId = Annotated[str, Path(description="A case id (`C-` and 8 hex digits).", max_length=64)]
TraceId = Annotated[str, Path(description="A saved trace id (`T-` and 8 hex digits).", max_length=64)]


class CaseNewRequest(Model):
    """Open a case: its title, the investigating agency and the agency's case number."""

    title: str
    agency: str | None = None
    number: str | None = None


class MemberRequest(Model):
    """Add a user to the case as `member` (writes) or `viewer` (reads), or change their role."""

    user: str
    role: Literal["member", "viewer"] = "member"


class SeedRequest(Model):
    """A seed: an address, `TXID:VOUT` or txid the store holds; what is known about it (`note`),
    the facts reported about it (e.g. a victim's statement of a payment), its chain if several."""

    seed: str
    note: str | None = None
    chain: str | None = None
    facts: dict[str, Any] | None = None


class NoteRequest(Model):
    """A note (free text, line breaks allowed)."""

    text: str


class FindingRequest(Model):
    """A finding: a `fact` (on-chain, checkable; with its basis, no confidence) or an
    `inference` (a heuristic or attribution; basis, confidence 0..1, source). `refs`:
    `tx:<txid>`, `output:<txid>:<vout>`, `trace:<trace id>` it rests on."""

    kind: Literal["fact", "inference"]
    text: str
    basis: str | None = None
    confidence: float | None = None
    source: str | None = None
    refs: list[str] | None = None


@router.get("/cases", response_model=CaseList, summary="Your cases, newest first")
def cases_list(actor: CanCase, ws: Reader) -> Response:
    """As `fundtrail case list --json`: the cases you are a member of."""
    return json_of(acting(ws, actor).case_list())


@router.post("/cases", response_model=CaseRecord, status_code=201, summary="Open a case")
def cases_new(actor: CanCase, body: CaseNewRequest, request: Request) -> Response:
    """As `fundtrail case new --title T [--agency A] [--number N] --json`; you are its owner.
    The answer carries the new case's `id`."""
    with api_state(request).writer(actor) as ws:
        new = ws.case_new(body.title, agency=body.agency, number=body.number)
    audit(request, id=new.id)
    return created(new)


@router.get("/cases/{case}", response_model=CaseDetail, summary="A case with everything in it")
def case_show(actor: CanCase, case: CaseId, ws: Reader) -> Response:
    """As `fundtrail case show CASE --json` (404 for a case you are not a member of)."""
    return json_of(acting(ws, actor).case_get(case))


@router.post("/cases/{case}/close", response_model=CaseRecord, summary="Close a case (its owner)")
def case_close(actor: CanCase, case: CaseId, request: Request) -> Response:
    """As `fundtrail case close CASE --json`: no seeds, notes, findings or traces after that."""
    with api_state(request).writer(actor) as ws:
        return json_of(ws.case_close(case))


@router.get("/cases/{case}/members", response_model=CaseDetail, summary="A case's members")
def case_members(actor: CanCase, case: CaseId, ws: Reader) -> Response:
    """As `fundtrail case members CASE --json` (the case, whose `members` lists them)."""
    return json_of(acting(ws, actor).case_get(case))


@router.post("/cases/{case}/members", response_model=CaseDetail, summary="Add a member (the owner)")
def case_member_add(actor: CanCase, case: CaseId, body: MemberRequest, request: Request) -> Response:
    """As `fundtrail case members CASE --add USER --role ROLE --json`."""
    audit(request, user=body.user, role=body.role)
    with api_state(request).writer(actor) as ws:
        return json_of(ws.case_set_member(case, body.user, role=body.role))


@router.post("/cases/{case}/seeds", response_model=SeedRecord, status_code=201, summary="Add a seed")
def case_seed(actor: CanCase, case: CaseId, body: SeedRequest, request: Request) -> Response:
    """As `fundtrail case add-seed CASE SEED [--note N] [--chain C] --json`."""
    audit(request, seed=body.seed, chain=body.chain, note_chars=len(body.note or ""),
          facts=sorted(body.facts) if body.facts else None)
    with api_state(request).writer(actor) as ws:
        return created(ws.case_add_seed(case, body.seed, note=body.note, chain=body.chain, facts=body.facts))


@router.post("/cases/{case}/notes", response_model=NoteRecord, status_code=201, summary="Add a note")
def case_note(actor: CanCase, case: CaseId, body: NoteRequest, request: Request) -> Response:
    """As `fundtrail case note CASE TEXT --json` (the audit record holds its length, not its text)."""
    audit(request, text_chars=len(body.text))
    with api_state(request).writer(actor) as ws:
        return created(ws.case_note(case, body.text))


@router.post("/cases/{case}/findings", response_model=FindingRecord, status_code=201, summary="Add a finding")
def case_finding(actor: CanCase, case: CaseId, body: FindingRequest, request: Request) -> Response:
    """As `fundtrail case finding CASE --fact|--inference TEXT --basis B [--confidence C]
    [--source S] [--ref REF]... --json`."""
    audit(request, kind=body.kind, confidence=body.confidence, ref=body.refs, text_chars=len(body.text))
    with api_state(request).writer(actor) as ws:
        found = ws.case_finding(case, body.kind, body.text, basis=body.basis, confidence=body.confidence,
                                source=body.source, refs=body.refs)
    return created(found)


@router.post("/cases/{case}/traces", response_model=SavedTrace, status_code=201, summary="Run and save a trace")
def case_trace(actor: CanCase, case: CaseId, body: TraceRequest, request: Request) -> Response:
    """As `fundtrail case trace CASE ... --json`; the body is `POST /api/v1/{chain}/trace`'s
    (`TraceRequest`, with `chain` or the store's only chain). Saved with the store state."""
    audit(request, **body.model_dump(mode="json", exclude_defaults=True))
    with api_state(request).writer(actor) as ws:
        return created(ws.case_trace(case, body))


@router.get("/cases/{case}/traces/{trace}", response_model=SavedTrace, summary="A saved trace")
def case_saved_trace(actor: CanCase, case: CaseId, trace: TraceId, ws: Reader) -> Response:
    """A saved trace with its request, result and the store state it was computed on."""
    return json_of(acting(ws, actor).case_saved_trace(case, trace))


@router.post("/cases/{case}/traces/{trace}/rerun", response_model=TraceRerun, summary="Rerun a saved trace")
def case_rerun(actor: CanCase, case: CaseId, trace: TraceId, request: Request, ws: Reader,
               save: Annotated[bool, Query(description="Also save the rerun as a new saved trace (201).")]
               = False) -> Response:
    """As `fundtrail case rerun CASE TRACE [--save] --json`: the saved trace recomputed on
    today's store, and what changed (state and result, exact integers)."""
    if not save:
        return json_of(acting(ws, actor).case_rerun(case, trace))
    with api_state(request).writer(actor) as writer:
        return created(writer.case_rerun(case, trace, save=True))
