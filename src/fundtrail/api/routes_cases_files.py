"""Case routes that move files: attachments, proposed tags, saved layouts and exports, and the
download and upload helpers of the evidence routes (`routes_cases_evidence`).

Downloads are sent as attachments (`Content-Disposition: attachment`, the name in ASCII and in
RFC 5987 form) so that no browser renders a case's HTML or an uploaded file inline. Files made for
one answer (an export, a report, the letters' zip) are written to a temporary directory and
deleted once sent. Uploads (an attachment, a bundle to verify) are multipart forms with the file in
field `file`; their size is bounded by `api_max_upload_mb` (and never kept for the audit record,
which names the case, the file's name and size, never its contents).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path as FsPath
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse

from fundtrail.api.render import json_of
from fundtrail.api.routes_cases import CanCase, CaseId, acting, audit, created, start_audit
from fundtrail.api.state import api_state, reader
from fundtrail.errors import UsageError
from fundtrail.workspace import AttachmentRecord, CaseDetail, Model, TagAddRequest, TagAddResult, Workspace

router = APIRouter(prefix="/api/v1", tags=["cases"], dependencies=[Depends(start_audit)])
Reader = Annotated[Workspace, Depends(reader)]
_ASCII_NAME = re.compile(r"[^A-Za-z0-9._-]+")
UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "The file."},
        "note": {"type": "string", "description": "What it is (attachments)."},
        "expect": {"type": "string", "description": "The bundle hash it must have (verify)."}}}}}}
MEDIA = {"json": "application/json", "csv": "application/zip", "ftm": "application/x-ndjson",
         "tagpack": "application/yaml", "pdf": "application/pdf", "html": "text/html; charset=utf-8",
         "zip": "application/zip"}
SUFFIX = {"json": ".json", "csv": ".zip", "ftm": ".ftm.jsonl", "tagpack": ".yaml"}


class LayoutRequest(Model):
    """A saved graph of yours (`POST /api/v1/graphs`) to keep with the case."""

    graph_id: str


def disposition(name: str) -> str:
    """`Content-Disposition: attachment` naming `name` safely: an ASCII fallback (anything else
    replaced by `_`, so no quote, backslash or line break reaches the header) and the exact name
    percent-encoded (RFC 5987)."""
    fallback = _ASCII_NAME.sub("_", name).strip("._")[:150] or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def download(path: FsPath, name: str, media_type: str, *, cleanup: FsPath | None = None,
             headers: dict[str, str] | None = None) -> FileResponse:
    """`path` sent as an attachment called `name`; `cleanup` (a temporary directory) removed after."""
    task = BackgroundTask(shutil.rmtree, cleanup, ignore_errors=True) if cleanup is not None else None
    return FileResponse(path, media_type=media_type, background=task,
                        headers={"Content-Disposition": disposition(name), **(headers or {})})


def scratch() -> FsPath:
    """A fresh temporary directory for one answer's files."""
    return FsPath(tempfile.mkdtemp(prefix="fundtrail-api-"))


async def upload(request: Request, *, fields: tuple[str, ...]) -> tuple[UploadFile, bytes, dict[str, str]]:
    """The multipart form's file (field `file`), its bytes and its text `fields` (others ignored)."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise UsageError("send the file as multipart/form-data in the form field `file`", field="file")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except HTTPException as exc:  # Starlette's 400 for a malformed form or too many files
        raise UsageError(f"the upload cannot be read: {exc.detail}", field="file") from None
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise UsageError("the upload needs a file in the form field `file`", field="file")
    texts = {k: v for k in fields if isinstance(v := form.get(k), str) and v != ""}
    return file, await file.read(), texts


def form_filename(sent: str) -> str:
    """A multipart file name as the user named the file: browsers and httpx send `"`, CR and LF
    as `%22`, `%0D`, `%0A` (WHATWG's form encoding); any other `%` is the name's own."""
    return sent.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


# -- attachments, proposed tags, layouts ---------------------------------------------------------
@router.post("/cases/{case}/attachments", response_model=AttachmentRecord, status_code=201,
             summary="Attach a file to a case", openapi_extra={"requestBody": UPLOAD_BODY})
async def case_attach(actor: CanCase, case: CaseId, request: Request) -> Response:
    """As `fundtrail case attach CASE FILE [--note N] --json`: the file (field `file`, its name and
    media type as sent) stored with its SHA-256; `note` (field) says what it is."""
    file, data, texts = await upload(request, fields=("note",))
    name = form_filename(file.filename or "")
    audit(request, name=name[:200], bytes=len(data), media_type=file.content_type,
          note_chars=len(texts.get("note", "")))
    state = api_state(request)

    def work() -> AttachmentRecord:
        with state.writer(actor) as ws:
            return ws.case_attach(case, name, data, media_type=file.content_type, note=texts.get("note"))

    return created(await run_in_threadpool(work))


@router.get("/cases/{case}/attachments/{attachment}", summary="Download an attachment")
def case_attachment(actor: CanCase, case: CaseId, ws: Reader,
                    attachment: Annotated[str, Path(description="An attachment id (`A-` and 8 hex digits).",
                                                    max_length=64)]) -> Response:
    """The attachment's bytes as stored (checked against its recorded SHA-256 first: a changed
    body is a 422 `bad_data`), its SHA-256 in `X-Content-SHA256`."""
    record, path = acting(ws, actor).case_attachment(case, attachment)
    return download(path, record.name, record.media_type or "application/octet-stream",
                    headers={"X-Content-SHA256": record.sha256})


@router.post("/cases/{case}/tags", response_model=TagAddResult, status_code=201,
             summary="Propose a tag in a case")
def case_tag(actor: CanCase, case: CaseId, body: TagAddRequest, request: Request) -> Response:
    """As `fundtrail case tag CASE ADDRESS --label L ... --json`: an analyst's tag proposed in the
    case (201 when added, 200 when the same claim was there)."""
    audit(request, address=body.address, label=body.label, category=body.category, currency=body.currency)
    if body.creator not in (None, actor.user):
        raise UsageError(f"creator is the authenticated user ({actor.user}); leave it out", field="creator")
    if body.case not in (None, case):
        raise UsageError(f"case {body.case} in the body differs from {case} in the path; leave it out",
                         field="case")
    with api_state(request).writer(actor) as writer:
        result = writer.case_tag(case, body)
    response = json_of(result)
    response.status_code = 201 if result.added else 200
    return response


@router.post("/cases/{case}/layouts", response_model=CaseDetail, status_code=201,
             summary="Keep a saved graph with a case")
def case_layout(actor: CanCase, case: CaseId, body: LayoutRequest, request: Request) -> Response:
    """As `fundtrail case layout CASE GRAPH_ID --json`: the case, whose `layouts` lists it."""
    audit(request, graph_id=body.graph_id)
    with api_state(request).writer(actor) as writer:
        return created(writer.case_layout_add(case, body.graph_id))


# -- exports --------------------------------------------------------------------------------------
@router.get("/cases/{case}/export", summary="Export a case (JSON, CSV, FollowTheMoney, TagPack)")
def case_export(actor: CanCase, case: CaseId, ws: Reader,
                format: Annotated[Literal["json", "csv", "ftm", "tagpack"],
                                  Query(description="json, csv (a zip of tables), ftm (FollowTheMoney "
                                                    "entities, JSON lines) or tagpack (YAML).")] = "json") -> Response:
    """As `fundtrail case export CASE --format F -o FILE`, the file sent."""
    where = scratch()
    try:
        out = where / f"{case}{SUFFIX[format]}"
        acting(ws, actor).case_export(case, format, out)
    except BaseException:
        shutil.rmtree(where, ignore_errors=True)
        raise
    return download(out, out.name, MEDIA[format], cleanup=where)
