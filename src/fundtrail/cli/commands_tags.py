"""`fundtrail tags ...`: import, search, show, look up and export attribution tags."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from fundtrail.errors import DataError, UsageError
from fundtrail.store import Store
from fundtrail.tags import export, importer, lookup
from fundtrail.tags.addresslist import read_address_list
from fundtrail.tags.csvsources import ColumnMapping
from fundtrail.tags.currencies import infer_currency
from fundtrail.tags.records import Problem, RawTag
from fundtrail.tags.tagstore import add_analyst_tag
from fundtrail.tags.taxonomy import CONFIDENCE, CONFIDENCE_ALIASES, resolve_category
from fundtrail.tags.validate import parse_date, validate

tags_app = typer.Typer(help="Attribution tags: import label sources, search, look up, export.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `tags` command group to the top-level app."""
    app.add_typer(tags_app, name="tags")


_TAGS_SCHEMA = 3  # the migration that adds the tag tables


def _store(ctx: typer.Context, create: bool = False) -> Store:
    """The store; one made by an older fundtrail gets the tag tables on first use."""
    store = Store.open(ctx.obj["settings"].store, create=create)
    if not create and store.schema_version() < _TAGS_SCHEMA:
        store.migrate()
    return store


def _dump(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


def _file_line(i: int, n: int, r: importer.FileReport) -> str:
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
    currency: Optional[str] = typer.Option(None, "--currency", help="Currency of files that do not say (OFAC, CSV)."),
    mapping: list[str] = typer.Option([], "--map", help="CSV column of a field: FIELD=COLUMN (repeatable)."),
    label: Optional[str] = typer.Option(None, "--label", help="CSV: label for rows without one."),
    category: Optional[str] = typer.Option(None, "--category", help="CSV: category for every row."),
    confidence: Optional[str] = typer.Option(None, "--confidence", help="CSV: confidence for every row."),
    source: Optional[str] = typer.Option(None, "--source", help="CSV: source (URL or document) for every row."),
    creator: Optional[str] = typer.Option(None, "--creator", help="CSV: creator for every row."),
    as_json: bool = typer.Option(False, "--json", help="Report as JSON on stdout."),
) -> None:
    """Import label files: each validated, every problem reported with file and line."""
    store = _store(ctx, create=True)
    columns = ColumnMapping.parse(mapping, {"label": label, "category": category, "confidence": confidence,
                                            "source": source, "creator": creator})
    quiet = ctx.obj["quiet"]

    def progress(i: int, n: int, r: importer.FileReport) -> None:
        for p in r.problems:
            typer.echo(str(p), err=True)
        if not quiet:
            typer.echo(_file_line(i, n, r), err=True)

    settings = ctx.obj["settings"]
    reports = importer.import_paths(store, paths, fmt, currency=currency, mapping=columns, progress=progress,
                                    max_yaml_nodes=settings.max_yaml_nodes,
                                    max_csv_field_kb=settings.max_csv_field_kb,
                                    max_json_depth=settings.max_json_depth)
    totals = {s: sum(1 for r in reports if r.status == s)
              for s in ("imported", "updated", "unchanged", "skipped", "failed")}
    summary = {"files": len(reports), **totals, "tags": sum(r.tags for r in reports),
               "invalid": sum(r.invalid for r in reports), "warnings": sum(r.warnings for r in reports),
               "duplicates": sum(r.duplicates for r in reports), "actors": sum(r.actors for r in reports)}
    if as_json:
        typer.echo(json.dumps({"summary": summary, "files": [r.as_dict() for r in reports]}, indent=1))
    else:
        typer.echo(f"{summary['files']} files: {totals['imported']} imported, {totals['updated']} updated, "
                   f"{totals['unchanged']} unchanged, {totals['skipped']} skipped, {totals['failed']} failed; "
                   f"{summary['tags']:,} tags stored, {summary['invalid']:,} invalid, "
                   f"{summary['warnings']:,} warnings, {summary['duplicates']:,} duplicates")
    if totals["failed"]:
        good = summary["files"] - totals["failed"] - totals["skipped"]
        # exit 2 when only the options did not fit (--map naming a missing column), else 3
        usage = all(r.usage for r in reports if r.status == "failed")
        raise (UsageError if usage else DataError)(f"{totals['failed']} of {summary['files']} file(s) could not be imported (problems "
                        f"listed above); the other {good} are imported and committed")


def _source_line(s: dict) -> str:
    """One source of a tag; unknown fields are left out, an unknown date is said so."""
    parts = [f"from {s['origin']}:{s['line']} import #{s['import_id']}"]
    parts += [f"{k}={s[k]}" for k in ("source", "creator") if s.get(k)]
    parts.append(f"date={s['lastmod']}" if s.get("lastmod") else "date unknown")
    return " ".join(parts)


def _print_tag(t: dict) -> None:
    cat = t["category"] or "-"
    actor = f" actor={t['actor']}" if t.get("actor") else ""
    typer.echo(f"  [{t['kind']}] {t['currency']} {cat}: {t['label']} ({t['confidence']} "
               f"{t['confidence_level']}, {t['visibility']}){actor}")
    for s in t["sources"]:
        typer.echo(f"      {_source_line(s)}")


@tags_app.command("show")
def show_cmd(ctx: typer.Context, address: str = typer.Argument(...),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Every tag of one address, with all its sources, actors and any conflict.

    A malformed address (bad checksum, wrong length, not an address) is an error (exit 2)."""
    with _store(ctx).connect(read_only=True) as con:
        result = lookup.show_checked(con, address)
    if as_json:
        typer.echo(json.dumps(result, indent=1, default=str))
        return
    typer.echo(f"{address}: {len(result['tags'])} tag(s)")
    for t in result["tags"]:
        _print_tag(t)
    if result["conflict"]:
        typer.echo(f"  CONFLICT: {result['conflict']['reason']}")


@tags_app.command("search")
def search_cmd(ctx: typer.Context, text: str = typer.Argument(...),
               limit: int = typer.Option(50, "--limit", min=1),
               as_json: bool = typer.Option(False, "--json", help="One JSON line per tag.")) -> None:
    """Tags whose label, actor, category, source or creator contains TEXT."""
    with _store(ctx).connect(read_only=True) as con:
        found = lookup.search(con, text, limit)
    for t in found:
        if as_json:
            typer.echo(_dump(t))
        else:
            typer.echo(f"{t['address']}")
            _print_tag(t)
    if not as_json:
        typer.echo(f"{len(found)} tag(s)", err=True)


@tags_app.command("lookup")
def lookup_cmd(ctx: typer.Context,
               file: Path = typer.Argument(..., help="One address per line, or a CSV sheet with an "
                                           "'address' column; '-' reads stdin (one per line)."),
               column: Optional[str] = typer.Option(None, "--column", help="CSV: the column holding "
                                                    "the addresses (default: address)."),
               as_json: bool = typer.Option(False, "--json", help="One JSON line per tag, with the address; "
                                            "one error record per malformed row.")
               ) -> None:
    """Tags of many addresses at once (one batch join). Malformed rows are listed and make the
    exit code 3, after the tags of the good rows are printed."""
    addresses = read_address_list(file, column, max_field_kb=ctx.obj["settings"].max_csv_field_kb)
    with _store(ctx).connect(read_only=True) as con:
        tags = lookup.lookup_list(con, addresses)
    for tag in tags:
        if as_json:
            typer.echo(_dump(tag))
        else:
            typer.echo(f"{tag['address']}\t{tag['currency']}\t{tag['category'] or '-'}\t{tag['label']}\t"
                       f"{tag['confidence']}\t{len(tag['sources'])} source(s)")
    for bad in addresses.bad:
        typer.echo(str(bad), err=True)
        if as_json:
            typer.echo(_dump(bad.as_dict()))
    tagged = len({t["normalised_address"] for t in tags})
    summary = f"{tagged} of {len(addresses.rows)} addresses tagged, {len(tags)} tags"
    if addresses.duplicates:
        summary += (f"; {addresses.duplicates} duplicate row(s) (an address already listed, in any "
                    "letter case) counted once")
    typer.echo(summary, err=True)
    if addresses.bad:
        raise DataError(f"{len(addresses.bad)} of {addresses.total} rows of {addresses.path} are not "
                        "valid addresses (listed above); the others were looked up")


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
    creator: Optional[str] = typer.Option(None, "--creator", help="Only tags of this creator."),
    title: Optional[str] = typer.Option(None, "--title", help="TagPack title."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default stdout)."),
) -> None:
    """Write tags as a GraphSense TagPack (YAML) to share them."""
    if fmt != "tagpack":
        raise UsageError(f"--format {fmt!r} is not supported; use tagpack")
    if output is not None:
        _check_output(output)
    with _store(ctx).connect(read_only=True) as con:
        text, n = export.export_tagpack(con, everything=everything, include_private=include_private,
                                        creator=creator, title=title)
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    typer.echo(f"exported {n} tags" + (f" to {output}" if output else ""), err=True)


@tags_app.command("add")
def add_cmd(
    ctx: typer.Context,
    address: str = typer.Argument(...),
    label: str = typer.Option(..., "--label"),
    category: str = typer.Option(..., "--category", help="A taxonomy category (docs/attribution.md)."),
    currency: Optional[str] = typer.Option(None, "--currency", help="BTC, ETH, ... (default: from the address)."),
    confidence: str = typer.Option("forensic", "--confidence"),
    source: Optional[str] = typer.Option(None, "--source", help="URL or document backing the claim."),
    actor: Optional[str] = typer.Option(None, "--actor"),
    creator: Optional[str] = typer.Option(None, "--creator", help="Who makes the claim (default: $USER)."),
    date: Optional[str] = typer.Option(None, "--date", help="Date of the claim (YYYY-MM-DD; default today)."),
    visibility: str = typer.Option("shared", "--visibility", help="shared or private."),
    case: Optional[str] = typer.Option(None, "--case", help="Case the (private) tag belongs to."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Add an analyst's own tag. Anything it cannot store as given is refused (exit 2): nothing is
    stored then."""
    import datetime as _dt
    import os

    if resolve_category(category) is None:
        raise UsageError(f"unknown category {category!r}; nothing stored",
                         hint="see docs/attribution.md for the taxonomy")
    conf = _confidence(confidence)
    if date is not None:
        try:
            parse_date(date)
        except ValueError:
            raise UsageError(f"unreadable --date {date!r}; nothing stored", hint="use YYYY-MM-DD") from None
    cur = currency or infer_currency(address)
    if cur is None:
        raise UsageError(f"cannot tell the currency of {address!r}; nothing stored", hint="pass --currency")
    raw = RawTag(line=0, address=address, currency=cur, label=label, category=category,
                 confidence=conf, source=source, creator=creator or os.environ.get("USER") or "analyst",
                 lastmod=date or _dt.date.today().isoformat(), actor=actor, visibility=visibility,
                 case_id=case)
    problems: list[Problem] = []
    row = validate(raw, "tags add", problems)
    if row is None or problems:
        raise UsageError(f"{problems[0].message}; nothing stored")
    with _store(ctx, create=True).connect() as con:
        import_id, added = add_analyst_tag(con, row)
    result = {"added": added, "import_id": import_id, "currency": row["currency"], "address": row["address"],
              "category": row["category"], "label": row["label"], "confidence": row["confidence"],
              "confidence_level": row["confidence_level"], "confidence_given": confidence,
              "visibility": row["visibility"]}
    typer.echo(_dump(result) if as_json else
               f"{'added' if added else 'already present'}: {row['currency']} {row['address']} "
               f"{row['category']} {row['label']!r} confidence {row['confidence']} "
               f"(level {row['confidence_level']}) (import #{import_id})")


def _confidence(word: str) -> str:
    """The confidence id of --confidence: an id, or a documented alias whose mapping is printed on
    stderr; anything else is refused with the valid names."""
    slug = word.strip().lower().replace("-", "_").replace(" ", "_")
    if slug in CONFIDENCE:
        return slug
    if slug in CONFIDENCE_ALIASES:
        conf = CONFIDENCE_ALIASES[slug]
        typer.echo(f"confidence {word!r} read as {conf} (level {CONFIDENCE[conf].level})", err=True)
        return conf
    aliases = ", ".join(f"{a} -> {c}" for a, c in CONFIDENCE_ALIASES.items())
    raise UsageError(f"unknown confidence {word!r}; nothing stored",
                     hint=f"use one of {', '.join(CONFIDENCE)} (aliases: {aliases})")


@tags_app.command("conflicts")
def conflicts_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json"),
                  limit: Optional[int] = typer.Option(None, "--limit", min=1)) -> None:
    """Addresses whose tags claim two different services (exchanges, mixers, markets ...)."""
    with _store(ctx).connect(read_only=True) as con:
        found = lookup.conflicts(con, limit)
    for c in found:
        typer.echo(_dump(c) if as_json else f"{c['currency']} {c['address']}: {c['reason']}")
    typer.echo(f"{len(found)} conflict(s)", err=True)


@tags_app.command("actors")
def actors_cmd(ctx: typer.Context, text: Optional[str] = typer.Argument(None, help="Filter by id or name."),
               as_json: bool = typer.Option(False, "--json"),
               limit: int = typer.Option(100, "--limit", min=1)) -> None:
    """Known actors: id, name, website, jurisdictions, categories, number of tags."""
    with _store(ctx).connect(read_only=True) as con:
        cur = con.execute(
            "SELECT a.actor_id AS id, a.label, a.uri, a.jurisdictions, a.categories, "
            "(SELECT count(*) FROM tags t WHERE t.actor = a.actor_id) AS tags "
            "FROM actors a WHERE ? IS NULL OR a.actor_id ILIKE ? OR a.label ILIKE ? "
            "ORDER BY tags DESC, a.actor_id LIMIT ?", [text, f"%{text}%", f"%{text}%", limit])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    for a in rows:
        typer.echo(_dump(a) if as_json else
                   f"{a['id']}\t{a['label']}\t{a['uri'] or '-'}\t{','.join(a['jurisdictions'] or []) or '-'}"
                   f"\t{','.join(a['categories'] or [])}\t{a['tags']} tags")
