"""`fundtrail risk` and `fundtrail screen`: explainable risk scores for addresses and transactions."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from fundtrail.cli.progress import progress_steps
from fundtrail.errors import DataError, FundtrailError, UsageError
from fundtrail.model.textfiles import read_table
from fundtrail.risk.assess import Screened
from fundtrail.risk.profile import load_profile
from fundtrail.risk.score import RiskResult
from fundtrail.risk.screening import RiskService
from fundtrail.store import Store

RESULT_COLUMNS = ("input", "kind", "currency", "chain", "score", "severity", "profile", "top_reasons",
                  "activity_in_store", "exposure_computed", "note", "error")


def reason_text(r: dict) -> str:
    """One line for a reason: rule, score, evidence and, for a transaction, the side it came from."""
    if r["kind"] == "tag":
        tag = r["tags"][0]
        cur = f" [{tag['currency']}]" if tag.get("currency") else ""
        inherited = f" (cluster of {tag['inherited_from']})" if tag.get("inherited_from") else ""
        text = f"{r['rule']} ({r['score']:g}): tagged {tag['category']} '{tag['label']}'{cur}{inherited}"
    else:
        text = (f"{r['rule']} ({r['score']:g}): {r['share']:.2%} {r['direction']} {r['hops']} "
                f"{r['category']}" + (f" in {r['asset']}" if r.get("asset") else ""))
    if r.get("side"):
        outs = r.get("outputs")
        where = f", output{'s' if len(outs) > 1 else ''} {', '.join(map(str, outs))}" if outs else ""
        text += f" ({r['side']} side: {r['via_address']}{where})"
    elif r.get("via_address"):
        text += f" via {r['via_address']}"
    return text


def _print_text(r: RiskResult) -> None:
    sev = f" ({r.severity})" if r.severity else ""
    typer.echo(f"{r.address}: risk {r.score:g}/100{sev} under {r.profile}")
    for line in r.lines():
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
    return [f"screen_{c}" if c in taken else c for c in RESULT_COLUMNS]


def _row(s: Screened, line: int, profile: str, top: int) -> list[str]:
    r = s.result
    if r is None:
        return [s.input, s.kind, "", "", "", "", profile, "", "", "", "", f"line {line}: {s.error}"]
    return [s.input, r.kind, r.currency or "", r.chain or "", f"{r.score:g}", r.severity or "", r.profile,
            " | ".join(reason_text(x) for x in r.reasons[:top]), str(r.activity).lower(),
            str(r.exposure_computed).lower(),
            "; ".join(r.lines()), ""]


def register(app: typer.Typer) -> None:
    """Add `risk` and `screen` to the top-level app."""

    @app.command("risk")
    def risk_cmd(
        ctx: typer.Context,
        addresses: list[str] = typer.Argument(..., help="Addresses (or txids) to score."),
        profile: Optional[Path] = typer.Option(None, "--profile", help="Rule profile YAML (default: shipped)."),
        chain: Optional[str] = typer.Option(None, "--chain",
                                            help="Chain of the inputs (default: inferred from each input's form)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    ) -> None:
        """Score 0-100 with the reasons (tags, exposure by category, share, hops) under a rule profile."""
        prof = load_profile(profile)
        store = Store.open(ctx.obj["settings"].store, create=False)
        service = RiskService(store, prof, chain, progress_steps(ctx.obj["quiet"]))
        targets = [service.classify(text) for text in addresses]  # every input checked before any index
        results = service.score(targets)
        failed = next((r for r in results if isinstance(r, FundtrailError)), None)
        if failed is not None:
            raise failed
        for r in results:
            assert isinstance(r, RiskResult)
            if as_json:
                typer.echo(json.dumps(r.as_dict()))
            else:
                _print_text(r)

    @app.command("screen")
    def screen_cmd(
        ctx: typer.Context,
        file: Path = typer.Argument(..., help="CSV with a header and a column of addresses or txids ('-': stdin)."),
        column: str = typer.Option("address", "--column", help="Column holding the addresses/txids."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV to write (default stdout)."),
        profile: Optional[Path] = typer.Option(None, "--profile", help="Rule profile YAML (default: shipped)."),
        chain: Optional[str] = typer.Option(None, "--chain",
                                            help="Chain of the inputs (default: inferred from each input's form)."),
        top: int = typer.Option(3, "--top", help="Reasons per row (0 or more)."),
    ) -> None:
        """Batch screening: CSV in, the same CSV out with score, severity and the top reasons per row."""
        if top < 0:
            raise UsageError(f"--top must be 0 or more, not {top}")
        if output is not None and str(output) != "-":
            _check_output(output)
        prof = load_profile(profile)
        table = read_table(file, strict=False, max_field_kb=ctx.obj["settings"].max_csv_field_kb)
        col = table.column(column)
        store = Store.open(ctx.obj["settings"].store, create=False)
        service = RiskService(store, prof, chain, progress_steps(ctx.obj["quiet"]))
        good = [i for i in range(len(table.rows)) if i not in table.problems]
        screened = iter(service.screen([table.rows[i][col] or "" for i in good]))
        rows = [Screened(table.rows[i][col] or "", "", None, table.problems[i]) if i in table.problems
                else next(screened) for i in range(len(table.rows))]
        to_file = output is not None and str(output) != "-"
        try:
            fh = open(output, "w", newline="", encoding="utf-8") if to_file else sys.stdout
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror}") from None
        try:
            w = csv.writer(fh)
            w.writerow(table.columns + _columns(table.columns))
            for s, src, line in zip(rows, table.rows, table.lines):
                w.writerow([src[c] for c in table.columns] + _row(s, line, prof.label, top))
        finally:
            if to_file:
                fh.close()
        bad = sum(1 for s in rows if s.error)
        if bad:  # every row is written first; the exit code lets a script notice (as `tags lookup`)
            raise DataError(f"{bad} of {len(rows)} inputs could not be screened (see the error column; "
                            "the other rows are scored)")
