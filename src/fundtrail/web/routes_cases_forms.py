"""The forms of the case page: add a seed, a note, a finding, save a trace, attach a file, close
the case, make a bundle; and a saved trace opened on the trace page or rerun on today's store.

Every form is a POST carrying the session's CSRF token (checked before anything else: without
it, 403 and nothing changes). The write goes through a writable workspace acting as the logged-in
user, so the case rules are the service layer's: members and the owner write, viewers are
refused (403), a closed case refuses additions, a non-member gets the 404 of an unknown case. A
refused value shows the case page again with the message next to its field and the status the API
gives (422, or 404 for a seed the store does not hold); a stored one leads back to the section
(`?done=<form>`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from fundtrail.errors import FundtrailError, NotFoundError, PermissionDenied, UsageError
from fundtrail.web.pages import View, WebRoute, open_view
from fundtrail.web.routes_cases import FORMS, acting, check_csrf, render_case
from fundtrail.web.trace_form import TraceForm
from fundtrail.workspace import TraceRequest

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CaseField = Annotated[str, Form()]
Csrf = Annotated[str, Form(alias="csrf_token")]
#: Service-layer field -> the form field its message is shown beside.
FIELD_OF = {"seeds": "seed", "text": "text", "title": "title", "name": "file"}


def case_url(case: str, done: str = "") -> str:
    """The case page (after a form: `?done=` and the form's section)."""
    base = f"/cases/{quote(case, safe='')}"
    return f"{base}?done={done}#{FORMS[done]}" if done else base


async def write(view: View, case: str, form: str, typed: dict[str, str], call: Callable[[Any], Any]) -> Response:
    """Run `call(writable workspace)` as the user; the case page again on a refused value."""
    try:
        with view.state.writer(view.actor) as ws:
            await view.run(call, ws)
    except FundtrailError as exc:
        if exc.http_status >= 500 or isinstance(exc, PermissionDenied) or (
                isinstance(exc, NotFoundError) and exc.field in (None, "case")):
            raise
        field = FIELD_OF.get(exc.field or "", exc.field or "")
        shown = field if field in typed and field != "csrf_token" else ""
        return await render_case(view, case, typed={form: typed}, errors={form: {shown: exc.one_line()}},
                                 status=exc.http_status)
    return RedirectResponse(case_url(case, form), status_code=303)


async def opened(request: Request, case: str, token: str) -> View:
    """The view of a case form's POST: permission `cases`, then the CSRF token, then the case id."""
    view = await open_view(request, "cases")
    check_csrf(view, token)
    request.scope["state"]["audit_fields"] = {"case": case}
    return view


@router.post("/cases/{case}/seeds")
async def add_seed(request: Request, case: str, seed: CaseField = "", note: CaseField = "",
                   csrf_token_field: Csrf = "") -> Response:
    """Add a seed (an address, `TXID:VOUT` or txid the store holds) with a note."""
    view = await opened(request, case, csrf_token_field)
    request.scope["state"]["audit_fields"] = {"case": case, "seed": seed.strip()}
    return await write(view, case, "seed", {"seed": seed, "note": note},
                       lambda ws: ws.case_add_seed(case, seed.strip(), note=note or None))


@router.post("/cases/{case}/notes")
async def add_note(request: Request, case: str, text: CaseField = "", csrf_token_field: Csrf = "") -> Response:
    """Add a note by the user."""
    view = await opened(request, case, csrf_token_field)
    return await write(view, case, "note", {"text": text}, lambda ws: ws.case_note(case, text))


def confidence_of(text: str) -> float | None:
    """The confidence field (empty: none), a number from 0 to 1 (the service checks the range)."""
    value = text.strip().rstrip("%").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"confidence {text.strip()[:20]!r} is not a number from 0 to 1", field="confidence") from None
    return number / 100 if text.strip().endswith("%") else number


@router.post("/cases/{case}/findings")
async def add_finding(request: Request, case: str, kind: CaseField = "", text: CaseField = "",
                      basis: CaseField = "", confidence: CaseField = "", source: CaseField = "",
                      refs: CaseField = "", csrf_token_field: Csrf = "") -> Response:
    """Add a finding: a fact (with its basis) or an inference (basis, confidence, source; refs)."""
    view = await opened(request, case, csrf_token_field)
    typed = {"kind": kind, "text": text, "basis": basis, "confidence": confidence, "source": source, "refs": refs}
    ref_list = [r for r in refs.replace(",", " ").split() if r]

    def call(ws: Any) -> Any:
        level = confidence_of(confidence)
        extra: dict[str, Any] = {"refs": ref_list} if ref_list or _takes(ws.case_finding, "refs") else {}
        if ref_list and not _takes(ws.case_finding, "refs"):
            raise UsageError("references are not supported by this store's version", field="refs")
        return ws.case_finding(case, kind, text, basis=basis or None, confidence=level, source=source or None,
                               **extra)

    return await write(view, case, "finding", typed, call)


def _takes(fn: Callable[..., Any], name: str) -> bool:
    return name in inspect.signature(fn).parameters


@router.post("/cases/{case}/traces")
async def save_trace(request: Request, case: str, seed: CaseField = "", policy: CaseField = "haircut",
                     direction: CaseField = "forward", hops: CaseField = "", csrf_token_field: Csrf = "") -> Response:
    """Run a trace (seed, policy, direction, hops) and save it in the case with its store state."""
    view = await opened(request, case, csrf_token_field)
    typed = {"seed": seed, "policy": policy, "direction": direction, "hops": hops}
    request.scope["state"]["audit_fields"] = {"case": case, "seed": seed.strip()}

    def call(ws: Any) -> Any:
        chain = next((s.chain for s in ws.case_get(case).seeds if s.text == seed.strip()), None)
        form = TraceForm(chain=chain or "", seed=seed, policy=policy, direction=direction, hops=hops)
        return ws.case_trace(case, form.request())

    return await write(view, case, "trace", typed, call)


@router.post("/cases/{case}/attachments")
async def attach(request: Request, case: str, note: CaseField = "", csrf_token_field: Csrf = "") -> Response:
    """Attach an uploaded file (multipart field `file`) with a note; stored with its SHA-256."""
    view = await opened(request, case, csrf_token_field)
    upload = (await request.form()).get("file")
    typed = {"file": "", "note": note}

    async def refused(message: str) -> Response:
        return await render_case(view, case, typed={"attach": typed}, errors={"attach": {"file": message}},
                                 status=422)

    if not isinstance(upload, UploadFile) or not upload.filename:
        return await refused(view.t("Choose a file to attach."))
    data = await upload.read()
    name, media = upload.filename, upload.content_type or None

    def call(ws: Any) -> Any:
        if not hasattr(ws, "case_attach"):
            raise UsageError("attachments are not supported by this store's version", field="file")
        return ws.case_attach(case, name, data, media_type=media, note=note or None)

    return await write(view, case, "attach", typed, call)


@router.post("/cases/{case}/close")
async def close(request: Request, case: str, confirm: CaseField = "", csrf_token_field: Csrf = "") -> Response:
    """Close the case (its owner only, the box ticked): it then refuses additions."""
    view = await opened(request, case, csrf_token_field)
    if confirm != "1":
        return await render_case(view, case, errors={"close": {"": view.t("Tick the box to confirm the closing.")}},
                                 status=422)
    return await write(view, case, "close", {}, lambda ws: ws.case_close(case))


@router.post("/cases/{case}/bundles")
async def make_bundle(request: Request, case: str, csrf_token_field: Csrf = "") -> Response:
    """Make an evidence bundle of the case (members, owners and viewers: it reads the case)."""
    view = await opened(request, case, csrf_token_field)
    return await write(view, case, "bundle", {}, lambda ws: ws.case_bundle(case))


@router.get("/cases/{case}/traces/{trace}/open")
async def open_trace(request: Request, case: str, trace: str) -> Response:
    """A saved trace opened on the trace page (its request as the trace form's query); the twin
    is `{"trace": SavedTrace}`."""
    view = await open_view(request, "cases")
    saved = await view.run(lambda: acting(view).case_saved_trace(case, trace))
    if view.twin:
        return view.page("case.html", {"trace": saved})
    req = TraceRequest(**saved.request)
    seeds = [s if isinstance(s, str) else s.text for s in req.seeds]
    form = TraceForm(chain=req.chain or str(saved.state.get("chain") or ""), seed="\n".join(seeds),
                     direction=req.direction, policy=req.policy, hops="" if req.hops is None else str(req.hops),
                     min_value=req.min_value or "", since=req.since or "", until=req.until or "",
                     stop_at=list(req.stop_at) if req.stop_at is not None else TraceForm().stop_at,
                     max_txs=str(req.max_txs), max_seconds=str(req.max_seconds), asset=req.asset or "")
    return RedirectResponse(f"/trace?{form.query()}", status_code=303)


@router.get("/cases/{case}/traces/{trace}/rerun")
async def rerun(request: Request, case: str, trace: str) -> Response:
    """A saved trace recomputed on today's store: what changed (state and result), shown on the
    case page; the twin is `{"rerun": TraceRerun}`. Nothing is saved."""
    view = await open_view(request, "cases")
    result = await view.run(lambda: acting(view).case_rerun(case, trace))
    if view.twin:
        return view.page("case.html", {"rerun": result})
    return await render_case(view, case, extra={"rerun": result})


@router.post("/cases/{case}/traces/{trace}/rerun")
async def rerun_save(request: Request, case: str, trace: str, csrf_token_field: Csrf = "") -> Response:
    """Rerun a saved trace and save the rerun as a new trace of the case (writers)."""
    view = await opened(request, case, csrf_token_field)
    return await write(view, case, "trace", {}, lambda ws: ws.case_rerun(case, trace, save=True))
