"""`fundtrail case ...`: case files, thin over CaseOps.

The acting user is `--as USER`, `FUNDTRAIL_USER` or the operating-system user: the creator owns
the case, and only members see it (anyone else is told it does not exist, exactly as for an
unknown id). The audit hook records each command with the case id among its subjects.
"""

from __future__ import annotations

from typing import Literal

import typer

from fundtrail.cli.context import workspace
from fundtrail.cli.output import echo_json
from fundtrail.errors import UsageError
from fundtrail.workspace import CaseDetail, CaseRecord

case_app = typer.Typer(help="Case files: seeds, notes, findings (fact or inference) and members.",
                       no_args_is_help=True)

JSON_HELP = "Print the result as JSON."
CASE_HELP = "Case id (C- and 8 hex digits, as `case list` shows)."


def register(app: typer.Typer) -> None:
    """Add the `case` command group to the top-level app."""
    app.add_typer(case_app, name="case")


def _line(c: CaseRecord) -> str:
    ref = " ".join(x for x in (c.agency, c.case_number) if x)
    return f"{c.id}  {c.status:8} {c.role:7} {c.title}" + (f"  [{ref}]" if ref else "")


def _show(c: CaseDetail) -> None:
    typer.echo(f"case {c.id}: {c.title}")
    typer.echo(f"  agency {c.agency or '-'}, number {c.case_number or '-'}; {c.status}; opened {c.created_at} "
               f"by {c.created_by}" + (f"; closed {c.closed_at} by {c.closed_by}" if c.closed_at else ""))
    typer.echo("members:")
    for m in c.members:
        typer.echo(f"  {m.user:24} {m.role:7} added {m.added_at} by {m.added_by}")
    typer.echo(f"seeds ({len(c.seeds)}):")
    for s in c.seeds:
        typer.echo(f"  {s.id}  {s.chain}  {s.text}" + (f"  -- {s.note}" if s.note else ""))
    typer.echo(f"findings ({len(c.findings)}):")
    for f in c.findings:
        conf = f", confidence {f.confidence:g}" if f.confidence is not None else ""
        src = f", source {f.source}" if f.source else ""
        typer.echo(f"  {f.id}  {f.kind.upper():9} {f.text}  (basis: {f.basis}{conf}{src})")
    typer.echo(f"notes ({len(c.notes)}):")
    for n in c.notes:
        typer.echo(f"  {n.id}  {n.created_at} {n.author}: {n.text}")


@case_app.command("new")
def case_new(ctx: typer.Context, title: str = typer.Option(..., "--title", help="The case's title."),
             agency: str | None = typer.Option(None, "--agency", help="The investigating agency."),
             number: str | None = typer.Option(None, "--number", help="The agency's case number."),
             as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Open a case; you are its owner."""
    case = workspace(ctx, writable=True).case_new(title, agency=agency, number=number)
    echo_json(case) if as_json else typer.echo(f"opened case {case.id}: {case.title}")


@case_app.command("list")
def case_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the cases you are a member of, newest first."""
    result = workspace(ctx).case_list()
    if as_json:
        echo_json(result)
        return
    for c in result.cases:
        typer.echo(_line(c))
    if not result.cases:
        typer.echo("no cases (open one with `fundtrail case new --title TITLE`)")


@case_app.command("show")
def case_show(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
              as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show a case: its members, seeds, findings and notes."""
    detail = workspace(ctx).case_get(case)
    echo_json(detail) if as_json else _show(detail)


@case_app.command("add-seed")
def case_add_seed(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
                  seed: str = typer.Argument(..., metavar="SEED",
                                             help="An address, TXID:VOUT or txid the store holds (as for trace)."),
                  note: str | None = typer.Option(None, "--note", help="What is known about it (a victim's "
                                                                       "statement, for example)."),
                  chain: str | None = typer.Option(None, "--chain", help="The chain (when the store has several)."),
                  as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Add a seed to an open case."""
    seed_rec = workspace(ctx, writable=True).case_add_seed(case, seed, note=note, chain=chain)
    echo_json(seed_rec) if as_json else typer.echo(f"seed {seed_rec.id} added to {case}: {seed_rec.chain} "
                                                   f"{seed_rec.text}")


@case_app.command("note")
def case_note(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
              text: str = typer.Argument(..., metavar="TEXT", help="The note."),
              as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Add a note to an open case."""
    note = workspace(ctx, writable=True).case_note(case, text)
    echo_json(note) if as_json else typer.echo(f"note {note.id} added to {case}")


@case_app.command("finding")
def case_finding(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
                 fact: str | None = typer.Option(None, "--fact", help="A fact (on-chain, checkable)."),
                 inference: str | None = typer.Option(None, "--inference",
                                                      help="An inference (heuristic or attribution)."),
                 basis: str | None = typer.Option(None, "--basis", help="What it rests on (required)."),
                 confidence: float | None = typer.Option(None, "--confidence",
                                                         help="0..1 (required for an inference)."),
                 source: str | None = typer.Option(None, "--source", help="Where it comes from."),
                 as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Add a finding, a --fact or an --inference, to an open case."""
    if (fact is None) == (inference is None):
        raise UsageError("give exactly one of --fact TEXT or --inference TEXT", field="kind")
    kind: Literal["fact", "inference"] = "fact" if fact is not None else "inference"
    found = workspace(ctx, writable=True).case_finding(case, kind, fact or inference or "", basis=basis,
                                                       confidence=confidence, source=source)
    echo_json(found) if as_json else typer.echo(f"{found.kind} {found.id} added to {case}")


@case_app.command("close")
def case_close(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
               as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Close a case (its owner): no new seeds, notes or findings after that."""
    closed = workspace(ctx, writable=True).case_close(case)
    echo_json(closed) if as_json else typer.echo(f"case {closed.id} is closed")


@case_app.command("members")
def case_members(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
                 add: str | None = typer.Option(None, "--add", help="Add this user (or change their role)."),
                 role: str = typer.Option("member", "--role", help="member or viewer (with --add)."),
                 as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List a case's members; its owner adds one with --add USER --role member|viewer."""
    detail = (workspace(ctx, writable=True).case_set_member(case, add, role=role) if add is not None
              else workspace(ctx).case_get(case))
    if as_json:
        echo_json(detail)
        return
    for m in detail.members:
        typer.echo(f"{m.user:24} {m.role:7} added {m.added_at} by {m.added_by}")
