"""Risk and screening routes: one address's score with reasons, and batch screening.

Screening takes a JSON list or a CSV sheet (an upload or a `text/csv` body) of up to
`api_max_screen_rows` addresses/txids, and answers JSON or, with `Accept: text/csv`, the CSV that
`fundtrail screen` writes (the input columns, then the result columns). Rule profiles are files
chosen by the server's operator: over the API the shipped profile is used (`profile` must be null).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from fundtrail.api.auth import require
from fundtrail.api.errors import request_fields
from fundtrail.api.params import StoredChain
from fundtrail.api.render import csv_of, json_of, wants_csv
from fundtrail.api.state import api_state, reader
from fundtrail.errors import TooLargeError, UsageError
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.risk import SCREEN_COLUMNS, RiskReport, RiskRequest, ScreenRequest, ScreenResult

router = APIRouter(prefix="/api/v1", tags=["risk"])
Reader = Annotated[Workspace, Depends(reader)]
CSV_TYPES = ("text/csv", "multipart/form-data")
_SCREEN_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": ScreenRequest.model_json_schema()},
        "text/csv": {"schema": {"type": "string", "description": "A CSV sheet with a header row."}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary", "description": "A CSV sheet with a header row."}}}},
    },
}


def _no_profile(profile: str | None) -> None:
    if profile is not None:
        raise UsageError("profile cannot be chosen over the API (rule profiles are files on the server); "
                         "leave it out to use the shipped profile", field="profile")


@router.get("/{chain}/addresses/{address}/risk", response_model=RiskReport,
            summary="Risk score of an address, with reasons")
def risk(actor: Annotated[Actor, Depends(require("risk"))], chain: StoredChain, address: str,
         ws: Reader) -> Response:
    """As `fundtrail risk ADDRESS --chain CHAIN --json`."""
    with request_fields({"target": "address"}):
        return json_of(ws.risk(RiskRequest(target=address, chain=chain)))


def _sheet(text: str, column: str, max_rows: int) -> tuple[list[str], list[list[str]], int]:
    """The header, the rows and the index of `column` of a CSV sheet."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise UsageError("the CSV sheet is empty (a header row naming the columns is needed)", field="file")
    header, body = rows[0], [r for r in rows[1:] if any(cell.strip() for cell in r)]
    names = [h.strip().lower() for h in header]
    if column.strip().lower() not in names:
        raise UsageError(f"the CSV sheet has no column {column!r} (columns: {', '.join(header)})",
                         field="column")
    if len(body) > max_rows:
        raise TooLargeError(f"inputs holds {len(body):,} rows; at most {max_rows:,} per request",
                            field="inputs", hint="split the sheet into several requests")
    return header, body, names.index(column.strip().lower())


async def _csv_text(request: Request, content_type: str) -> str:
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise UsageError("the upload needs a CSV file in the form field `file`", field="file")
        data = await upload.read()
    else:
        data = await request.body()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError("the CSV sheet is not UTF-8 text", field="file") from None


@router.post("/screen", response_model=ScreenResult, summary="Screen up to 100,000 addresses/txids",
             openapi_extra={"requestBody": _SCREEN_BODY})
async def screen(actor: Annotated[Actor, Depends(require("screen"))], request: Request,
                 column: Annotated[str, Query(description="CSV input: the column holding the "
                                                          "addresses/txids.")] = "address",
                 chain: Annotated[str | None, Query(description="CSV input: the chain of the inputs "
                                                                "(default: inferred per input).")] = None,
                 top: Annotated[int, Query(description="CSV input: reasons per row.")] = 3,
                 accept: Annotated[str | None, Header()] = None) -> Response:
    """A JSON body `{"inputs": [...], "chain"?, "top"?}`, or a CSV sheet; `Accept: text/csv` for CSV back."""
    state = api_state(request)
    max_rows = state.settings.api_max_screen_rows
    content_type = request.headers.get("content-type", "application/json").lower()
    header: list[str] = ["input"]
    sheet: list[list[str]] | None = None
    if content_type.startswith(CSV_TYPES):
        header, sheet, col = _sheet(await _csv_text(request, content_type), column, max_rows)
        req = ScreenRequest(inputs=[r[col].strip() if col < len(r) else "" for r in sheet], chain=chain, top=top)
        request.state.audit_fields = {"inputs": req.inputs, "chain": chain, "top": top, "column": column}
    elif "json" in content_type:
        req = ScreenRequest.model_validate_json(await request.body())
        _no_profile(req.profile)
    else:
        raise UsageError(f"screening takes application/json, text/csv or multipart/form-data, not {content_type}",
                         field="body")
    if len(req.inputs) > max_rows:
        raise TooLargeError(f"inputs holds {len(req.inputs):,} rows; at most {max_rows:,} per request",
                            field="inputs", hint="split the list into several requests")
    result = await _run(state.reader, req, max_rows)
    if not wants_csv(accept):
        return json_of(result)
    taken = {h.strip().lower() for h in header} if sheet is not None else set()
    columns = [f"screen_{c}" if c in taken else c for c in SCREEN_COLUMNS]
    if sheet is None:
        return csv_of(list(SCREEN_COLUMNS), (row.cells() for row in result.rows))
    width = len(header)
    return csv_of(header + columns, ((src + [""] * (width - len(src)))[:width] + row.cells()
                                     for src, row in zip(sheet, result.rows)))


async def _run(reader_of: Callable[[], Workspace], req: ScreenRequest, max_rows: int) -> ScreenResult:
    """Screen in a worker thread (the batch is CPU and store work; the event loop stays free)."""

    def work() -> ScreenResult:
        return reader_of().screen(req, max_rows=max_rows)

    return await run_in_threadpool(work)
