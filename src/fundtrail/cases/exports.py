"""Exports of a case's tables: one JSON document, or a zip of one CSV per table.

Both start from the case document the service layer assembles (the `CaseDetail` as JSON with
each saved trace's request, state and result). CSV is for spreadsheets, so every cell that a
spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage
return) gets a leading `'`: a hostile label or note cannot run in an analyst's spreadsheet.
Files are written atomically (temporary file, then rename) and deterministically (sorted keys,
fixed zip times), so the same case state gives the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fundtrail.cases.bundle_zip import write_zip
from fundtrail.errors import UsageError
from fundtrail.store.partitions import write_durably

FORMATS = ("json", "csv", "ftm", "tagpack")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
#: The CSV files of the zip: name -> (document key, columns); nested values are written as JSON.
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "members": ("members", ("user", "role", "added_at", "added_by")),
    "seeds": ("seeds", ("id", "text", "chain", "note", "facts", "added_at", "added_by")),
    "notes": ("notes", ("id", "author", "created_at", "text")),
    "findings": ("findings", ("id", "kind", "text", "basis", "confidence", "source", "refs", "created_at",
                              "created_by")),
    "traces": ("traces", ("id", "created_at", "created_by", "seed", "policy", "rerun_of", "endpoints",
                          "amount_reached", "state", "request")),
    "attachments": ("attachments", ("id", "name", "media_type", "bytes", "sha256", "note", "added_at", "added_by")),
    "tags": ("tags", ("address", "currency", "label", "category", "concepts", "confidence", "source", "creator",
                      "actor", "context", "visibility", "lastmod", "import_id", "created")),
    "layouts": ("layouts", ("graph_id", "name", "chain", "added_at", "added_by")),
    "bundles": ("bundles", ("bundle_hash", "created_at", "created_by", "path", "bytes", "transactions")),
}
CASE_COLUMNS = ("id", "title", "agency", "case_number", "status", "created_at", "created_by", "closed_at",
                "closed_by")
ENDPOINT_COLUMNS = ("trace_id", "address", "reason", "label", "amount_sat", "share", "hops", "first_arrival",
                    "outputs")


def check_format(fmt: object) -> str:
    """`fmt` when it is an export format, else a UsageError on `format`."""
    if fmt not in FORMATS:
        raise UsageError(f"format {str(fmt)[:40]!r} is not an export format ({', '.join(FORMATS)})", field="format")
    return str(fmt)


def safe_cell(value: Any) -> str | int | float:
    """A CSV cell: numbers as they are, None empty, lists and objects as JSON, text guarded
    against formula injection (a leading `'`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "'" + text if text.startswith(_FORMULA) else text


def csv_text(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    """RFC 4180 CSV (CRLF line ends, quoting where needed) with a header row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def csv_files(doc: dict[str, Any]) -> dict[str, str]:
    """File name -> CSV text for every table of the case document (and the traces' endpoints)."""
    files = {"case.csv": csv_text(CASE_COLUMNS, [doc])}
    for name, (key, columns) in TABLES.items():
        files[f"{name}.csv"] = csv_text(columns, doc.get(key) or [])
    endpoints = [{**e, "trace_id": t["id"]} for t in doc.get("traces") or []
                 for e in (t.get("result") or {}).get("endpoints") or []]
    files["trace_endpoints.csv"] = csv_text(ENDPOINT_COLUMNS, endpoints)
    return files


def record_count(doc: dict[str, Any]) -> int:
    """Rows over all the case's tables (the case itself counted once)."""
    return 1 + sum(len(doc.get(key) or []) for key, _ in TABLES.values())


def json_bytes(doc: dict[str, Any]) -> bytes:
    """The JSON export: the case document, sorted keys, UTF-8."""
    return (json.dumps({"format": "fundtrail-case-export", "format_version": 1, "case": doc}, sort_keys=True,
                       ensure_ascii=False, indent=1) + "\n").encode()


def zip_bytes(files: dict[str, str]) -> bytes:
    """A deterministic zip (sorted names, fixed times: the bundle's rules) of text files."""
    buf = io.BytesIO()
    write_zip(buf, {name: text.encode() for name, text in files.items()}, compresslevel=6)
    return buf.getvalue()


def write_atomic(out: Path, produce: Callable[[], bytes]) -> tuple[int, str]:
    """Write `produce()` to `out` via a temporary file in its directory; (bytes, SHA-256). A
    UsageError on `out` when its directory is missing or it is a directory."""
    out = Path(out)
    if out.is_dir():
        raise UsageError(f"out {out} is a directory; give a file name", field="out")
    if not out.parent.is_dir():
        raise UsageError(f"out: the directory {out.parent} does not exist", field="out")
    data = produce()
    write_durably(out, data)
    return len(data), hashlib.sha256(data).hexdigest()
