"""`fundtrail risk`, `fundtrail screen` and `fundtrail exposure`: explainable risk scores and exposure
of addresses and transactions, through the service layer (`fundtrail.workspace.risk`)."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from pathlib import Path
from typing import Any

import typer

from fundtrail.cli.context import quiet, settings, workspace
from fundtrail.cli.progress import progress_steps
from fundtrail.errors import DataError, UsageError
from fundtrail.model.textfiles import read_table
from fundtrail.workspace import Progress
from fundtrail.workspace.risk import (SCREEN_COLUMNS, ExposureRequest, ExposureResult, RiskReport, RisksRequest,
                                      ScreenRequest, reason_text)


def step_progress(be_quiet: bool) -> Progress:
    """Progress calls of named steps ((label, 0, n) ... (label, n, n)) shown as `progress_steps`
    lines: a step is announced on stderr once it has run about a second, and its end then too."""
    show = progress_steps(be_quiet)
    open_steps: dict[str, contextlib.ExitStack] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in open_steps and (total == 0 or done < total):
            stack = contextlib.ExitStack()
            stack.enter_context(show(stage))
            open_steps[stage] = stack
        elif stage in open_steps and total and done >= total:
            open_steps.pop(stage).close()

    return progress


def print_report(r: RiskReport) -> None:
    """The text form of one risk report."""
    sev = f" ({r.severity})" if r.severity else ""
    typer.echo(f"{r.address}: risk {r.score:g}/100{sev} under {r.profile}")
    for line in r.notes():
        typer.echo(f"  note: {line}")
    tx = r.transaction
    if tx is not None:
        funding = (f"sender {tx['sender'] or 'unknown'}" if "sender" in tx else
                   f"{tx['inputs']} inputs ({tx['inputs_unresolved']} unresolved), "
                   f"{tx['funding_addresses']} addresses")
        typer.echo(f"  funding side: {funding}, score {tx['funding_score']:g}; paying side: "
                   f"{tx['paying_addresses']} addresses, score {tx['paying_score']:g}")
    for reason in r.reasons:
        typer.echo(f"  - {reason_text(reason)}")
        typer.echo(f"    {reason['explain']}")
        if reason["kind"] == "tag" and reason["tags"][0].get("source"):
            typer.echo(f"    source: {reason['tags'][0]['source']}")
    if not r.reasons:
        typer.echo("  no rule matched")


def _parts(doc: dict[str, Any]) -> list[str]:
    lines = []
    for direction in ("incoming", "outgoing"):
        if direction not in doc:
            continue
        for hops in ("direct", "indirect"):
            for cat, part in sorted(doc[direction][hops].items(), key=lambda kv: -kv[1]["share"]):
                amount = part.get("amount_sat", part.get("amount"))
                asset = f" {part['asset']}" if part.get("asset") else ""
                lines.append(f"  {direction:<8} {hops:<8} {cat:<24} {part['share']:>8.2%}  {amount}{asset}")
    return lines


def print_exposure(r: ExposureResult) -> None:
    """The text form of an exposure result: one line per (direction, hops, category)."""
    where = f" on {r.chain}" if r.chain else ""
    typer.echo(f"{r.address}{where}: exposure by category under {r.profile}")
    if r.exposure is None:
        typer.echo(f"  exposure not computed ({r.exposure_reason}): unknown, not zero")
        return
    exp = r.exposure
    if "received_sat" in exp:
        typer.echo(f"  received {exp['received_sat']} sat, sent {exp['sent_sat']} sat")
    lines = _parts(exp)
    typer.echo("\n".join(lines) if lines else "  no exposure to any tracked category")
    cluster = exp.get("cluster")
    if cluster:
        typer.echo(f"  cluster {cluster['cluster_id']} ({cluster['members']} members, "
                   f"{cluster['members_counted']} counted):")
        typer.echo("\n".join(_parts(cluster)) or "  no exposure to any tracked category")


def _check_output(output: Path) -> None:
    """One-line usage errors for an output path that cannot be written, before any work is done."""
    if output.is_dir():
        raise UsageError(f"--output {output} is a directory; give a file name")
    parent = output.parent
    if not parent.is_dir():
        raise UsageError(f"--output {output}: directory {parent} does not exist")


def _columns(inputs: list[str]) -> list[str]:
    """The result columns, each renamed `screen_<name>` where the input already has that column."""
    taken = {c.strip().lower() for c in inputs}
    return [f"screen_{c}" if c in taken else c for c in SCREEN_COLUMNS]


def register(app: typer.Typer) -> None:
    """Add `risk`, `screen` and `exposure` to the top-level app."""

    @app.command("risk")
    def risk_cmd(
        ctx: typer.Context,
        addresses: list[str] = typer.Argument(..., help="Addresses (or txids) to score."),
        profile: Path | None = typer.Option(None, "--profile", help="Rule profile YAML (default: shipped)."),
        chain: str | None = typer.Option(None, "--chain",
                                            help="Chain of the inputs (default: inferred from each input's form)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    ) -> None:
        """Score 0-100 with the reasons (tags, exposure by category, share, hops) under a rule profile."""
        req = RisksRequest(targets=addresses, chain=chain, profile=str(profile) if profile else None)
        for r in workspace(ctx).risks(req, step_progress(quiet(ctx))).reports:
            if as_json:
                typer.echo(json.dumps(r.model_dump(mode="json")))
            else:
                print_report(r)

    @app.command("screen")
    def screen_cmd(
        ctx: typer.Context,
        file: Path = typer.Argument(..., help="CSV with a header and a column of addresses or txids ('-': stdin)."),
        column: str = typer.Option("address", "--column", help="Column holding the addresses/txids."),
        output: Path | None = typer.Option(None, "--output", "-o", help="CSV to write (default stdout)."),
        profile: Path | None = typer.Option(None, "--profile", help="Rule profile YAML (default: shipped)."),
        chain: str | None = typer.Option(None, "--chain",
                                            help="Chain of the inputs (default: inferred from each input's form)."),
        top: int = typer.Option(3, "--top", help="Reasons per row (0 or more)."),
    ) -> None:
        """Batch screening: CSV in, the same CSV out with score, severity and the top reasons per row."""
        if top < 0:
            raise UsageError(f"top must be 0 or more, not {top}", field="top")
        to_file = output is not None and str(output) != "-"
        if output is not None and to_file:
            _check_output(output)
        table = read_table(file, strict=False, max_field_kb=settings(ctx).max_csv_field_kb)
        col = table.column(column)
        good = [i for i in range(len(table.rows)) if i not in table.problems]
        req = ScreenRequest(inputs=[table.rows[i][col] or "" for i in good], chain=chain,
                            profile=str(profile) if profile else None, top=top)
        result = workspace(ctx).screen(req, step_progress(quiet(ctx)), max_rows=None)
        screened = iter(result.rows)
        bad = 0
        with contextlib.ExitStack() as stack:
            try:
                fh = (stack.enter_context(open(output, "w", newline="", encoding="utf-8"))
                      if output is not None and to_file else sys.stdout)
            except OSError as exc:
                raise UsageError(f"cannot write {output}: {exc.strerror}") from None
            w = csv.writer(fh)
            w.writerow(table.columns + _columns(table.columns))
            for i, (src, line) in enumerate(zip(table.rows, table.lines)):
                if i in table.problems:
                    cells = [src[col] or "", "", "", "", "", "", result.profile, "", "", "", "", table.problems[i]]
                else:
                    cells = next(screened).cells()
                if cells[-1]:
                    bad += 1
                    cells[-1] = f"line {line}: {cells[-1]}"
                w.writerow([src[c] for c in table.columns] + cells)
        if bad:  # every row is written first; the exit code lets a script notice (as `tags lookup`)
            raise DataError(f"{bad} of {len(table.rows)} inputs could not be screened (see the error column; "
                            "the other rows are scored)")

    @app.command("exposure")
    def exposure_cmd(
        ctx: typer.Context,
        address: str = typer.Argument(..., help="The address."),
        chain: str | None = typer.Option(None, "--chain",
                                            help="Chain of the address (default: inferred from its form)."),
        direction: str = typer.Option("both", "--direction",
                                      help="incoming (where its funds came from), outgoing (where they went) "
                                      "or both."),
        profile: Path | None = typer.Option(None, "--profile",
                                               help="Rule profile YAML whose exposure categories count "
                                               "(default: shipped)."),
        as_json: bool = typer.Option(False, "--json", help="The documented JSON result."),
    ) -> None:
        """Exposure of ADDRESS by category: direct and indirect shares of what it received and sent.

        Direct is one transaction away, indirect more hops through untagged addresses; a clustered
        UTXO address also shows its cluster's."""
        if direction not in ("incoming", "outgoing", "both"):
            raise UsageError(f"direction must be incoming, outgoing or both, not {direction!r}", field="direction")
        req = ExposureRequest.model_validate({"address": address, "chain": chain, "direction": direction,
                                              "profile": str(profile) if profile else None})
        result = workspace(ctx).exposure(req, step_progress(quiet(ctx)))
        if as_json:
            typer.echo(result.model_dump_json(indent=2))
        else:
            print_exposure(result)
