"""The one mapping of errors to HTTP: every failure is `{"error": {"code", "message", "field"}}`.

`fundtrail.errors` classes carry their own `code` and `http_status`; FastAPI's request validation
(bad query types, missing or unknown body fields), Starlette's 404/405/413 and pydantic errors
raised while a handler builds a request model are rendered in the same shape, so a client (and the
audit log, which reads `error.code`) meets exactly one error format. Unexpected exceptions become
500 `internal` with a log line naming the route only: no request body, no token.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fundtrail.errors import AuthError, FundtrailError, RateLimited

log = logging.getLogger("fundtrail.api")

#: Starlette's own statuses (routing, body limits) and their codes in the one error shape.
HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type",
              422: "bad_request", 429: "rate_limited", 503: "unavailable"}
_LOCATIONS = {"query", "path", "body", "header", "cookie", "form", "file"}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The error document every failing response carries."""
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON response in the one error shape."""
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def from_error(exc: FundtrailError) -> JSONResponse:
    """The HTTP answer for an error of the exception tree (status and code from its class)."""
    headers: dict[str, str] = {}
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        retry = getattr(exc, "retry_after", 1.0)
        headers["Retry-After"] = str(max(1, math.ceil(float(retry))))
    return error_response(exc.http_status, exc.code, exc.one_line(), exc.field, headers or None)


@contextmanager
def request_fields(names: Mapping[str, str]) -> Iterator[None]:
    """Rename the `field` of a FundtrailError raised inside to the request's own name.

    The service layer names its request model's fields (`RiskRequest.target`, `PathsRequest.source`,
    `tokens_revoke(token_id)`); a route whose path or query calls them otherwise (`{address}`, `from`,
    `{id}`) wraps the call with `{"target": "address"}` so that the client is told what it sent.
    Fields not in `names` (`chain`, `limit`, ...) are already the request's and pass unchanged."""
    try:
        yield
    except FundtrailError as exc:
        if exc.field is not None and exc.field in names:
            exc.field = names[exc.field]
        raise


def field_of(loc: Sequence[int | str]) -> str | None:
    """The request field a validation error location names: `("query", "limit")` -> `limit`,
    `("body", "stop_addresses", 0)` -> `stop_addresses`, `("body",)` -> `body`."""
    parts = [str(p) for p in loc if isinstance(p, str)]
    if parts and parts[0] in _LOCATIONS and len(parts) > 1:
        parts = parts[1:]
    return parts[0] if parts else None


def validation_response(errors: Sequence[Any]) -> JSONResponse:
    """422 naming the first bad field, for FastAPI's and pydantic's validation errors alike."""
    first = dict(errors[0]) if errors else {}
    field = field_of(first.get("loc", ())) or "body"  # no location: the request model (the body) as a whole
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        message = f"unknown field {field}"
    elif kind == "missing":
        message = f"{field} is required"
    elif kind == "json_invalid":
        message = "the body is not valid JSON"
        field = "body"
    else:
        message = f"{field}: {first.get('msg', 'invalid value')}"
    return error_response(422, "bad_request", message, field)


async def _on_fundtrail(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FundtrailError)
    return from_error(exc)


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, (RequestValidationError, ValidationError))
    return validation_response(exc.errors())


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = "no such route" if exc.detail == "Not Found" else str(exc.detail)
    elif exc.status_code == 405:
        message = "method not allowed on this route"
    else:
        message = str(exc.detail)
    field = "body" if exc.status_code == 413 else None
    return error_response(exc.status_code, code, message, field, dict(exc.headers or {}) or None)


def internal_response() -> JSONResponse:
    """What a client sees of a bug: a 500 with no detail (the log has the traceback)."""
    return error_response(500, "internal", "internal error; the server log has the details")


def install(app: FastAPI) -> None:
    """Register the mapping on `app` (once, in `create_app`)."""
    app.add_exception_handler(FundtrailError, _on_fundtrail)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(ValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
