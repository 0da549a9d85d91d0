"""How results become HTTP bodies: the result model's JSON (what the CLI prints with `--json`), or
CSV for clients that ask for it with `Accept: text/csv` (screening)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from fastapi import Response
from pydantic import BaseModel


def json_of(result: BaseModel) -> Response:
    """The result's JSON document: the same as `result.model_dump(mode="json")`, serialized once
    (no second validation against the response model)."""
    return Response(content=result.model_dump_json(), media_type="application/json")


def wants_csv(accept: str | None) -> bool:
    """True when the client prefers CSV (`Accept: text/csv` before any JSON type)."""
    for part in (accept or "").split(","):
        kind = part.split(";")[0].strip().lower()
        if kind == "text/csv":
            return True
        if kind in {"application/json", "*/*", "application/*"}:
            return False
    return False


def csv_of(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Response:
    """A CSV document (RFC 4180, CRLF line ends as the csv module writes them)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(content=out.getvalue(), media_type="text/csv; charset=utf-8")
