"""`fundtrail case attach|attachment|tag|layout|export`: the rest of a case file, thin over the
service layer (`Workspace.case_attach`, `case_attachment`, `case_tag`, `case_layout_add`,
`case_export`). The audit hook records each with the case id among its subjects.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from fundtrail.cli.commands_case import CASE_HELP, JSON_HELP, case_app
from fundtrail.cli.context import workspace
from fundtrail.cli.output import echo_json
from fundtrail.errors import UsageError
from fundtrail.workspace import TagAddRequest

__all__ = ["case_app", "register"]

_MEDIA_TYPES = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".txt": "text/plain", ".csv": "text/csv", ".json": "application/json", ".eml": "message/rfc822",
                ".html": "text/html", ".zip": "application/zip"}


def register(app: typer.Typer) -> None:
    """Nothing to add at the top level: the commands hang on `case_app` when this module is imported."""


@case_app.command("attach")
def case_attach(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
                file: Path = typer.Argument(..., metavar="FILE", help="The file to keep with the case."),
                note: str | None = typer.Option(None, "--note", help="What it is (a victim's statement, ...)."),
                media_type: str | None = typer.Option(None, "--media-type", help="Its media type (default: from "
                                                                                 "the file name)."),
                as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Keep a file with an open case, by its SHA-256 (checked whenever it is read)."""
    ws = workspace(ctx, writable=True)
    limit = int(getattr(ws.settings, "case_attachment_max_mb", 64)) << 20
    try:
        size = file.stat().st_size
        if not file.is_file():
            raise UsageError(f"file {file} is not a file", field="file")
        if size > limit:  # refused before reading it
            raise UsageError(f"file {file} holds {size:,} bytes; an attachment may hold at most {limit:,} "
                             "(setting case_attachment_max_mb)", field="file")
        data = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"file {file}: {exc.strerror}", field="file") from None
    kind = media_type or _MEDIA_TYPES.get(file.suffix.lower())
    rec = ws.case_attach(case, file.name, data, media_type=kind, note=note)
    echo_json(rec) if as_json else typer.echo(f"attachment {rec.id} added to {case}: {rec.name}, {rec.bytes:,} "
                                              f"bytes, sha256 {rec.sha256}")


@case_app.command("attachment")
def case_attachment(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
                    attachment_id: str = typer.Argument(..., metavar="ID", help="An attachment (A- and 8 hex)."),
                    out: Path = typer.Option(..., "-o", "--out", help="Where to write it."),
                    as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Write an attachment out, after checking its body against its recorded SHA-256."""
    rec, body = workspace(ctx).case_attachment(case, attachment_id)
    target = out / rec.name if out.is_dir() else out
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        shutil.copyfile(body, tmp)
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"out {target}: {exc.strerror}", field="out") from None
    echo_json(rec) if as_json else typer.echo(f"wrote {target} ({rec.bytes:,} bytes, sha256 {rec.sha256} checked)")


@case_app.command("tag")
def case_tag(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
             address: str = typer.Argument(..., metavar="ADDRESS"),
             label: str = typer.Option(..., "--label"),
             category: str = typer.Option(..., "--category", help="A taxonomy category (docs/attribution.md)."),
             currency: str | None = typer.Option(None, "--currency", help="BTC, ETH, ... (default: from the address)."),
             confidence: str = typer.Option("forensic", "--confidence"),
             source: str | None = typer.Option(None, "--source", help="URL or document backing the claim."),
             actor: str | None = typer.Option(None, "--actor"),
             date: str | None = typer.Option(None, "--date", help="Date of the claim (YYYY-MM-DD; default today)."),
             visibility: str = typer.Option("private", "--visibility", help="private (default) or shared."),
             as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Propose a tag in an open case (as `tags add`, with the case set; private by default)."""
    req = TagAddRequest(address=address, label=label, category=category, currency=currency, confidence=confidence,
                        source=source, actor=actor, date=date, visibility=visibility, case=case)
    r = workspace(ctx, writable=True).case_tag(case, req)
    if r.confidence_mapped():
        typer.echo(f"confidence {r.confidence_given!r} read as {r.confidence} (level {r.confidence_level})", err=True)
    echo_json(r) if as_json else typer.echo(f"{'proposed' if r.added else 'already present'} in {case}: {r.currency} "
                                            f"{r.address} {r.category} {r.label!r} confidence {r.confidence}")


@case_app.command("layout")
def case_layout(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
                graph_id: str = typer.Argument(..., metavar="GRAPH_ID", help="A graph you saved (g- and 16 hex)."),
                as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Keep one of your saved graph layouts (canvases) in an open case."""
    detail = workspace(ctx, writable=True).case_layout_add(case, graph_id)
    echo_json(detail) if as_json else typer.echo(f"layout {graph_id} kept in {case} "
                                                 f"({len(detail.layouts)} layout(s))")


@case_app.command("export")
def case_export(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
                fmt: str = typer.Option(..., "--format", help="json, csv (a zip), ftm (FollowTheMoney) or tagpack."),
                out: Path = typer.Option(..., "-o", "--out", help="The file to write."),
                as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Export a case: every table (json, csv), FollowTheMoney entities (ftm) or its proposed tags (tagpack)."""
    result = workspace(ctx).case_export(case, fmt, out)  # type: ignore[arg-type]
    echo_json(result) if as_json else typer.echo(f"exported {case} as {result.format} to {result.path}: "
                                                 f"{result.records} records in {result.files} file(s), "
                                                 f"{result.bytes:,} bytes, sha256 {result.sha256}")
