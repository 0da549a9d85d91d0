"""`fundtrail tags ...`: import, search, show, look up and export attribution tags.

Each command makes one service call (`fundtrail.workspace`, `TagOps`) and renders its result.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fundtrail.cli.context import quiet, workspace
from fundtrail.errors import UsageError
from fundtrail.workspace.tag_models import (
    ImportedFile,
    Tag,
    TagAddRequest,
    TagExportRequest,
    TagImportRequest,
    TagLookupRequest,
)

tags_app = typer.Typer(help="Attribution tags: import label sources, search, look up, export.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `tags` command group to the top-level app."""
    app.add_typer(tags_app, name="tags")


def _dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


def _file_line(i: int, n: int, r: ImportedFile) -> str:
    head = f"[{i}/{n}] {r.status:9} {r.path}"
    if r.status in ("skipped", "unchanged"):
        return f"{head}: {r.reason}"
    if r.status == "failed":
        return f"{head}: {r.reason or 'unreadable'}"
    d = r.diff or {}
    text = (f"{head}: {r.tags:,} tags (+{d.get('added', 0):,} -{d.get('removed', 0):,} "
            f"~{d.get('changed', 0):,}), {r.invalid:,} invalid, {r.warnings:,} warnings, "
            f"{r.duplicates:,} duplicates")
    return text + (f", {r.actors:,} actors" if r.actors else "")


@tags_app.command("import")
def import_cmd(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Label files or directories (searched recursively)."),
    fmt: str = typer.Option("auto", "--format", help="auto|tagpack|ofac|csv (auto also detects etherscan, "
                            "mew-darklist, cryptoscamdb, ransomwhere, receipts)."),
    currency: str | None = typer.Option(None, "--currency", help="Currency of files that do not say (OFAC, CSV)."),
    mapping: list[str] = typer.Option([], "--map", help="CSV column of a field: FIELD=COLUMN (repeatable)."),
    label: str | None = typer.Option(None, "--label", help="CSV: label for rows without one."),
    category: str | None = typer.Option(None, "--category", help="CSV: category for every row."),
    confidence: str | None = typer.Option(None, "--confidence", help="CSV: confidence for every row."),
    source: str | None = typer.Option(None, "--source", help="CSV: source (URL or document) for every row."),
    creator: str | None = typer.Option(None, "--creator", help="CSV: creator for every row."),
    as_json: bool = typer.Option(False, "--json", help="Report as JSON on stdout."),
) -> None:
    """Import label files: each validated; problems listed with file and line (1,000 per file, all counted)."""
    req = TagImportRequest(paths=paths, format=fmt, currency=currency, mapping=mapping, label=label,
                           category=category, confidence=confidence, source=source, creator=creator)
    silent = quiet(ctx)
    seen: list[ImportedFile] = []

    def on_file(r: ImportedFile) -> None:
        seen.append(r)

    def progress(stage: str, i: int, n: int) -> None:
        r = seen[-1]
        for p in r.problems:
            typer.echo(p, err=True)
        if not silent:
            typer.echo(_file_line(i, n, r), err=True)

    result = workspace(ctx, create=True).tags_import(req, progress, on_file)
    s = result.summary
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=1))
    else:
        typer.echo(f"{s.files} files: {s.imported} imported, {s.updated} updated, "
                   f"{s.unchanged} unchanged, {s.skipped} skipped, {s.failed} failed; "
                   f"{s.tags:,} tags stored, {s.invalid:,} invalid, "
                   f"{s.warnings:,} warnings, {s.duplicates:,} duplicates")
    failure = result.failure()
    if failure is not None:
        raise failure


def _source_line(s: dict) -> str:
    """One source of a tag; unknown fields are left out, an unknown date is said so."""
    parts = [f"from {s['origin']}:{s['line']} import #{s['import_id']}"]
    parts += [f"{k}={s[k]}" for k in ("source", "creator") if s.get(k)]
    parts.append(f"date={s['lastmod']}" if s.get("lastmod") else "date unknown")
    return " ".join(parts)


def _print_tag(t: Tag) -> None:
    cat = t.category or "-"
    actor = f" actor={t.actor}" if t.actor else ""
    typer.echo(f"  [{t.kind}] {t.currency} {cat}: {t.label} ({t.confidence} "
               f"{t.confidence_level}, {t.visibility}){actor}")
    for s in t.sources:
        typer.echo(f"      {_source_line(s.model_dump())}")


@tags_app.command("show")
def show_cmd(ctx: typer.Context, address: str = typer.Argument(...),
             currency: str | None = typer.Option(None, "--currency", help="Only tags of this currency."),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Every tag of one address, with all its sources, actors and any conflict.

    A malformed address (bad checksum, wrong length, not an address) is an error (exit 2)."""
    result = workspace(ctx).tags_show(address, currency=currency)
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=1))
        return
    typer.echo(f"{address}: {len(result.tags)} tag(s)")
    for t in result.tags:
        _print_tag(t)
    if result.conflict:
        typer.echo(f"  CONFLICT: {result.conflict.reason}")


@tags_app.command("search")
def search_cmd(ctx: typer.Context, text: str = typer.Argument(...),
               limit: int = typer.Option(50, "--limit", min=1),
               as_json: bool = typer.Option(False, "--json", help="One JSON line per tag.")) -> None:
    """Tags whose label, actor, category, source or creator contains TEXT."""
    found = workspace(ctx).tags_search(text, limit=limit).tags
    for t in found:
        if as_json:
            typer.echo(_dump(t.model_dump(mode="json")))
        else:
            typer.echo(f"{t.address}")
            _print_tag(t)
    if not as_json:
        typer.echo(f"{len(found)} tag(s)", err=True)


@tags_app.command("lookup")
def lookup_cmd(ctx: typer.Context,
               file: Path = typer.Argument(..., help="One address per line, or a CSV sheet with an "
                                           "'address' column; '-' reads stdin (one per line)."),
               column: str | None = typer.Option(None, "--column", help="CSV: the column holding "
                                                    "the addresses (default: address)."),
               as_json: bool = typer.Option(False, "--json", help="One JSON line per tag, with the address; "
                                            "one error record per malformed row.")
               ) -> None:
    """Tags of many addresses at once (one batch join). Malformed rows are listed and make the
    exit code 3, after the tags of the good rows are printed."""
    result = workspace(ctx).tags_lookup(TagLookupRequest(file=file, column=column))
    for tag in result.tags:
        if as_json:
            typer.echo(_dump(tag.model_dump(mode="json")))
        else:
            typer.echo(f"{tag.address}\t{tag.currency}\t{tag.category or '-'}\t{tag.label}\t"
                       f"{tag.confidence}\t{len(tag.sources)} source(s)")
    for bad in result.errors:
        typer.echo(f"{bad.file}:{bad.line}: invalid address {bad.address!r}: {bad.error}", err=True)
        if as_json:
            typer.echo(_dump(bad.model_dump(mode="json")))
    summary = f"{result.tagged} of {result.addresses} addresses tagged, {len(result.tags)} tags"
    if result.duplicates:
        summary += (f"; {result.duplicates} duplicate row(s) (an address already listed, in any "
                    "letter case) counted once")
    typer.echo(summary, err=True)
    failure = result.failure()
    if failure is not None:
        raise failure


def _check_output(output: Path) -> None:
    """A usable -o target: not a directory, in a directory that exists (one-line error, exit 2)."""
    if output.is_dir():
        raise UsageError(f"-o {output} is a directory; give a file name")
    if not output.parent.is_dir():
        raise UsageError(f"-o {output}: directory {output.parent} does not exist")


@tags_app.command("export")
def export_cmd(
    ctx: typer.Context,
    fmt: str = typer.Option("tagpack", "--format", help="Only tagpack."),
    everything: bool = typer.Option(False, "--all", help="All tags, not only those added by analysts."),
    include_private: bool = typer.Option(False, "--include-private", help="Also private tags."),
    creator: str | None = typer.Option(None, "--creator", help="Only tags of this creator."),
    title: str | None = typer.Option(None, "--title", help="TagPack title."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default stdout)."),
) -> None:
    """Write tags as a GraphSense TagPack (YAML) to share them."""
    if output is not None:
        _check_output(output)
    result = workspace(ctx).tags_export(TagExportRequest(format=fmt, everything=everything,
                                                         include_private=include_private, creator=creator,
                                                         title=title))
    if output is None:
        typer.echo(result.text, nl=False)
    else:
        try:
            output.write_text(result.text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    typer.echo(f"exported {result.count} tags" + (f" to {output}" if output else ""), err=True)


@tags_app.command("add")
def add_cmd(
    ctx: typer.Context,
    address: str = typer.Argument(...),
    label: str = typer.Option(..., "--label"),
    category: str = typer.Option(..., "--category", help="A taxonomy category (docs/attribution.md)."),
    currency: str | None = typer.Option(None, "--currency", help="BTC, ETH, ... (default: from the address)."),
    confidence: str = typer.Option("forensic", "--confidence"),
    source: str | None = typer.Option(None, "--source", help="URL or document backing the claim."),
    actor: str | None = typer.Option(None, "--actor"),
    creator: str | None = typer.Option(None, "--creator",
                                          help="Who makes the claim (default: the acting user, --as)."),
    date: str | None = typer.Option(None, "--date", help="Date of the claim (YYYY-MM-DD; default today)."),
    visibility: str = typer.Option("shared", "--visibility", help="shared or private."),
    case: str | None = typer.Option(None, "--case", help="Case the (private) tag belongs to."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add an analyst's own tag. Anything it cannot store as given is refused (exit 2): nothing is
    stored then."""
    req = TagAddRequest(address=address, label=label, category=category, currency=currency,
                        confidence=confidence, source=source, actor=actor, creator=creator, date=date,
                        visibility=visibility, case=case)
    r = workspace(ctx, create=True).tags_add(req)
    if r.confidence_mapped():
        typer.echo(f"confidence {r.confidence_given!r} read as {r.confidence} (level {r.confidence_level})",
                   err=True)
    typer.echo(_dump(r.model_dump(mode="json")) if as_json else
               f"{'added' if r.added else 'already present'}: {r.currency} {r.address} "
               f"{r.category} {r.label!r} confidence {r.confidence} "
               f"(level {r.confidence_level}) (import #{r.import_id})")


@tags_app.command("conflicts")
def conflicts_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json"),
                  limit: int | None = typer.Option(None, "--limit", min=1)) -> None:
    """Addresses whose tags claim two different services (exchanges, mixers, markets ...)."""
    found = workspace(ctx).tags_conflicts(limit=limit).conflicts
    for c in found:
        typer.echo(_dump(c.model_dump(mode="json")) if as_json else f"{c.currency} {c.address}: {c.reason}")
    typer.echo(f"{len(found)} conflict(s)", err=True)


@tags_app.command("actors")
def actors_cmd(ctx: typer.Context, text: str | None = typer.Argument(None, help="Filter by id or name."),
               as_json: bool = typer.Option(False, "--json"),
               limit: int = typer.Option(100, "--limit", min=1)) -> None:
    """Known actors: id, name, website, jurisdictions, categories, number of tags."""
    for a in workspace(ctx).actors(text, limit=limit).actors:
        typer.echo(_dump(a.model_dump(mode="json")) if as_json else
                   f"{a.id}\t{a.label}\t{a.uri or '-'}\t{','.join(a.jurisdictions or []) or '-'}"
                   f"\t{','.join(a.categories or [])}\t{a.tags} tags")
