"""`fundtrail case ...`: case files, thin over CaseOps.

The acting user is `--as USER`, `FUNDTRAIL_USER` or the operating-system user: the creator owns
the case, and only members see it (anyone else is told it does not exist, exactly as for an
unknown id). The audit hook records each command with the case id among its subjects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import typer

from fundtrail.cli.audit import add_subject
from fundtrail.cli.commands_trace import index_progress, option_names, trace_request
from fundtrail.cli.context import quiet, workspace
from fundtrail.cli.output import echo_json
from fundtrail.errors import UsageError
from fundtrail.workspace import (CaseDetail, CaseRecord, SavedTraceSummary, TraceRerun,
                                 TraceResult)
from fundtrail.workspace.tracing import DEFAULT_STOP_CATEGORIES, render_trace_text

case_app = typer.Typer(help="Case files: seeds, notes, findings (fact or inference), members, saved traces, "
                            "attachments, proposed tags, graph layouts and exports.",
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
        refs = f"; refs {' '.join(f.refs)}" if f.refs else ""
        typer.echo(f"  {f.id}  {f.kind.upper():9} {f.text}  (basis: {f.basis}{conf}{src}{refs})")
    typer.echo(f"notes ({len(c.notes)}):")
    for n in c.notes:
        typer.echo(f"  {n.id}  {n.created_at} {n.author}: {n.text}")
    typer.echo(f"saved traces ({len(c.traces)}):")
    for t in c.traces:
        typer.echo(f"  {_trace_line(t)}")
    _show_files(c)


def _show_files(c: CaseDetail) -> None:
    typer.echo(f"attachments ({len(c.attachments)}):")
    for a in c.attachments:
        typer.echo(f"  {a.id}  {a.name}  {a.bytes:,} bytes  sha256 {a.sha256}  {a.added_at} {a.added_by}"
                   + (f"  -- {a.note}" if a.note else ""))
    typer.echo(f"proposed tags ({len(c.tags)}):")
    for tag in c.tags:
        typer.echo(f"  {tag.currency} {tag.address}  {tag.category or '-'} {tag.label!r} confidence {tag.confidence}"
                   f"  by {tag.creator or '-'} {tag.created or ''}" + (f"  source {tag.source}" if tag.source else ""))
    typer.echo(f"graph layouts ({len(c.layouts)}):")
    for x in c.layouts:
        typer.echo(f"  {x.graph_id}  {x.name or '(deleted)'}  {x.chain or '-'}  added {x.added_at} by {x.added_by}")
    typer.echo(f"evidence bundles ({len(c.bundles)}):")
    for b in c.bundles:
        typer.echo(f"  {b.bundle_hash}  {b.created_at} {b.created_by}  {b.transactions} transactions, "
                   f"{b.bytes:,} bytes  {b.path or ''}")


def _trace_line(t: SavedTraceSummary) -> str:
    st = t.state
    again = f", rerun of {t.rerun_of}" if t.rerun_of else ""
    return (f"{t.id}  {t.created_at} {t.created_by}  {t.policy or '-'}  {t.seed}: {t.endpoints} endpoints, "
            f"{t.amount_reached} reached{again}  [{st.get('chain')} tip {st.get('tip_height')} "
            f"{str(st.get('tip_hash'))[:16]}, tags {st.get('tag_import_id')}, cluster run "
            f"{st.get('cluster_run_id')}, fundtrail {st.get('fundtrail_version')}]")


def _rerun_text(r: TraceRerun) -> str:
    head = f"rerun of {r.trace_id} in {r.case_id}: " + ("changed" if r.changed else "no change")
    lines = [head, *(f"  state: {c}" for c in r.state_changes), *(f"  result: {c}" for c in r.result_changes)]
    if r.saved_as:
        lines.append(f"saved as {r.saved_as}")
    return "\n".join(lines)


@case_app.command("new")
def case_new(ctx: typer.Context, title: str = typer.Option(..., "--title", help="The case's title."),
             agency: str | None = typer.Option(None, "--agency", help="The investigating agency."),
             number: str | None = typer.Option(None, "--number", help="The agency's case number."),
             as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Open a case; you are its owner."""
    case = workspace(ctx, writable=True).case_new(title, agency=agency, number=number)
    add_subject(case.id)
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
    """Show a case: members, seeds, findings, notes, saved traces, attachments, proposed tags, layouts, bundles."""
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
                 ref: list[str] | None = typer.Option(None, "--ref", help="What it points at: tx:TXID, "
                                                      "output:TXID:VOUT or trace:T-ID (repeatable)."),
                 as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Add a finding, a --fact or an --inference, to an open case."""
    if (fact is None) == (inference is None):
        raise UsageError("give exactly one of --fact TEXT or --inference TEXT", field="kind")
    kind: Literal["fact", "inference"] = "fact" if fact is not None else "inference"
    found = workspace(ctx, writable=True).case_finding(case, kind, fact or inference or "", basis=basis,
                                                       confidence=confidence, source=source, refs=ref or None)
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


@case_app.command("trace")
def case_trace(
    ctx: typer.Context,
    case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
    seeds: list[str] | None = typer.Argument(None, help="Addresses, txids or outputs (TXID:VOUT), traced "
                                             "together as one seed set.", show_default=False),
    seeds_file: Path | None = typer.Option(None, "--seeds-file", help="More seeds, as for `fundtrail trace`."),
    direction: str = typer.Option("forward", "--direction", help="forward or backward."),
    policy: str = typer.Option("haircut", "--policy", help="poison, haircut, fifo, lifo or tiho."),
    hops: int | None = typer.Option(None, "--hops", help="Stop after N transactions (default: none)."),
    min_value: str | None = typer.Option(None, "--min-value", help="Stop following amounts under V."),
    since: str | None = typer.Option(None, "--since", help="Ignore activity before (date or unix)."),
    until: str | None = typer.Option(None, "--until", help="Ignore activity after (date or unix)."),
    stop_at: str = typer.Option(",".join(DEFAULT_STOP_CATEGORIES), "--stop-at",
                                help="Tag categories where the trace stops."),
    stop_file: Path | None = typer.Option(None, "--stop-file", help="Also stop at these addresses."),
    max_txs: int = typer.Option(200_000, "--max-txs", help="Node budget."),
    max_seconds: float = typer.Option(30.0, "--max-seconds", help="Time budget in seconds."),
    exact: bool = typer.Option(False, "--exact", help="Haircut in exact fractions."),
    follow: bool = typer.Option(False, "--follow-change", help="Follow the likely change output hop by hop."),
    change_confidence: float = typer.Option(0.3, "--change-confidence", help="--follow-change: least confidence."),
    chain: str | None = typer.Option(None, "--chain", help="Store chain (default: the store's only chain)."),
    asset: str | None = typer.Option(None, "--asset", help="Account chains: ETH or a token address."),
    as_json: bool = typer.Option(False, "--json", help="The saved trace as JSON (its `result` is `trace --json`)."),
) -> None:
    """Run a trace (every option of `fundtrail trace`) and save it in the case with the store
    state it was computed on."""
    req = trace_request(ctx, seeds, seeds_file, stop_file, direction=direction, policy=policy, hops=hops,
                        min_value=min_value, since=since, until=until, stop_at=stop_at, max_txs=max_txs,
                        max_seconds=max_seconds, exact=exact, follow_change=follow,
                        change_confidence=change_confidence, chain=chain, asset=asset)
    with option_names():
        saved = workspace(ctx, writable=True).case_trace(case, req, index_progress(quiet(ctx)))
    if as_json:
        echo_json(saved)
        return
    typer.echo(render_trace_text(TraceResult(**saved.result)))
    typer.echo(f"saved trace {saved.id} in {case}")


@case_app.command("rerun")
def case_rerun(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
               trace_id: str = typer.Argument(..., metavar="TRACE_ID", help="A saved trace (T- and 8 hex digits)."),
               save: bool = typer.Option(False, "--save", help="Also save the rerun as a new saved trace."),
               as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Recompute a saved trace on today's store and show what changed (the saved trace stays)."""
    with option_names():
        result = workspace(ctx, writable=save).case_rerun(case, trace_id, index_progress(quiet(ctx)), save=save)
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2))
        return
    typer.echo(_rerun_text(result))
