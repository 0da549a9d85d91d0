"""Case routes of the evidence: bundles (made, listed, downloaded), the court report, the
freeze-and-disclosure letters, and `POST /verify` (an uploaded bundle checked without the store).

A bundle made here is kept under the store directory as `cases/<case>/bundles/<bundle hash>.zip`
(written atomically as `<bundle hash>.zip`) and downloaded only when the case
recorded that hash and the file still has it (the SHA-256 of its `SHA256SUMS`), so what leaves is
what the case, the report's cover and `fundtrail verify --expect` name.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path as FsPath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from fundtrail.api.auth import require
from fundtrail.api.render import json_of
from fundtrail.api.routes_cases import CanCase, CaseId, acting, audit, created, start_audit
from fundtrail.api.routes_cases_files import UPLOAD_BODY, MEDIA, download, scratch, upload
from fundtrail.api.state import api_state, reader
from fundtrail.errors import DataError, NotFoundError, UsageError
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.case_evidence_models import BundleList, BundleResult
from fundtrail.workspace.verification import BundleVerification

router = APIRouter(prefix="/api/v1", tags=["cases"], dependencies=[Depends(start_audit)])
Reader = Annotated[Workspace, Depends(reader)]


# -- report, letters ---------------------------------------------------------------------------------
@router.get("/cases/{case}/report", summary="The court report (PDF or HTML, en or zh_CN)")
def case_report(actor: CanCase, case: CaseId, ws: Reader,
                format: Annotated[Literal["pdf", "html"], Query(description="pdf or html.")] = "pdf",
                lang: Annotated[Literal["en", "zh_CN"], Query(description="en or zh_CN.")] = "en",
                bundle: Annotated[str | None, Query(description="The hash of a bundle of the case made by "
                                                                "this server: its hash on the cover.")] = None
                ) -> Response:
    """As `fundtrail case report CASE -o report.pdf|.html --lang L [--bundle FILE]`, the file sent."""
    view = acting(ws, actor)
    bundle_path = view.case_bundle_file(case, bundle) if bundle is not None else None
    where = scratch()
    try:
        out = where / f"{case}-report-{lang}.{format}"
        view.case_report(case, out, lang=lang, bundle=bundle_path)
    except BaseException:
        shutil.rmtree(where, ignore_errors=True)
        raise
    return download(out, out.name, MEDIA[format], cleanup=where)


@router.get("/cases/{case}/letters", summary="Freeze-and-disclosure letters, a zip")
def case_letters(actor: CanCase, case: CaseId, ws: Reader,
                 lang: Annotated[Literal["en", "zh_CN"], Query(description="en or zh_CN.")] = "en") -> Response:
    """As `fundtrail case letters CASE -o DIR --lang L`: the directory (per service reached a
    PDF and a JSON letter, `index.json`) as one zip."""
    where = scratch()
    try:
        acting(ws, actor).case_letters(case, where / "letters", lang=lang)
        out = where / f"{case}-letters-{lang}.zip"
        zip_dir(where / "letters", out)
    except BaseException:
        shutil.rmtree(where, ignore_errors=True)
        raise
    return download(out, out.name, MEDIA["zip"], cleanup=where)


def zip_dir(src: FsPath, out: FsPath) -> None:
    """`src`'s files, by their paths under it, sorted, into the zip `out`."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in src.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(src).as_posix())


# -- bundles -----------------------------------------------------------------------------------------
@router.post("/cases/{case}/bundles", response_model=BundleResult, status_code=201,
             summary="Make an evidence bundle")
def case_bundle(actor: CanCase, case: CaseId, request: Request) -> Response:
    """As `fundtrail case bundle CASE -o FILE --json`; the server keeps the file (download it
    with `GET .../bundles/{hash}`). The raw blocks come from the source the store's ingest recorded."""
    with api_state(request).writer(actor) as ws:
        result = ws.case_bundle(case)  # kept in the store as <hash>.zip, written atomically, recorded
    audit(request, bundle=result.bundle_hash)
    return created(result)


@router.get("/cases/{case}/bundles", response_model=BundleList,
            summary="The evidence bundles made of a case")
def case_bundles(actor: CanCase, case: CaseId, ws: Reader) -> Response:
    """As `fundtrail case bundles CASE --json`."""
    return json_of(acting(ws, actor).case_bundles(case))


@router.get("/cases/{case}/bundles/{hash}", summary="Download an evidence bundle")
def case_bundle_file(actor: CanCase, case: CaseId, ws: Reader,
                     hash: Annotated[str, Path(description="The bundle hash (64 hex digits).", max_length=64)]
                     ) -> Response:
    """A bundle of the case this server made, by its hash (checked against the file first)."""
    try:
        path = acting(ws, actor).case_bundle_file(case, hash)
    except (UsageError, NotFoundError, DataError) as exc:
        exc.field = "hash"
        raise
    return download(path, f"{case}-bundle-{hash[:16]}.zip", MEDIA["zip"], headers={"X-Bundle-Hash": hash})


# -- verify ------------------------------------------------------------------------------------------
@router.post("/verify", response_model=BundleVerification, summary="Verify an evidence bundle (upload)",
             openapi_extra={"requestBody": UPLOAD_BODY})
async def verify(actor: Annotated[Actor, Depends(require("read"))], request: Request, ws: Reader) -> Response:
    """As `fundtrail verify BUNDLE [--expect HASH] --json`: the bundle (field `file`) checked
    without the store; `ok` false with each failure named when a check fails."""
    file, data, texts = await upload(request, fields=("expect",))
    expect = texts.get("expect")
    audit(request, name=(file.filename or "")[:200], bytes=len(data), expect=expect)
    where = scratch()
    try:
        path = where / "bundle.zip"
        path.write_bytes(data)
        result = await run_in_threadpool(ws.verify_bundle, path, expect=expect)
    finally:
        shutil.rmtree(where, ignore_errors=True)
    return json_of(result.model_copy(update={"path": file.filename or "upload"}))  # not the server's temp path
