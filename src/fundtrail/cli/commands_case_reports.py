"""`fundtrail case report` and `fundtrail case letters`: court reports and freeze requests
(docs/reports.md), thin over CaseReportOps."""

from __future__ import annotations

from pathlib import Path

import typer

from fundtrail.cli.commands_case import CASE_HELP, JSON_HELP, case_app
from fundtrail.cli.context import workspace
from fundtrail.cli.output import echo_json

__all__ = ["case_app", "register"]

LANG_HELP = "Language of the document: en or zh_CN (Simplified Chinese)."


def register(app: typer.Typer) -> None:
    """Nothing to add at the top level: the commands hang on `case_app` when this module is imported."""


@case_app.command("report")
def case_report(
    ctx: typer.Context,
    case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
    out: Path = typer.Option(..., "-o", "--out", help="The report to write: a .pdf or .html file."),
    lang: str = typer.Option("en", "--lang", help=LANG_HELP),
    bundle: Path | None = typer.Option(None, "--bundle", help="The evidence bundle whose hash the cover "
                                       "states (default: the latest bundle made for the case)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write the court report of a case: cover, findings marked FACT or INFERENCE with their basis,
    money-flow figures, timeline, services reached, methodology, the txids and the bundle hash."""
    result = workspace(ctx).case_report(case, out, lang=lang, bundle=bundle)
    if as_json:
        echo_json(result)
        return
    typer.echo(f"wrote {result.path} ({result.format}, {result.lang}, {result.bytes:,} bytes): "
               f"{result.findings} findings, {result.traces} saved traces, {result.services} services, "
               f"{result.transactions:,} transactions")
    typer.echo(f"bundle hash {result.bundle_hash}" if result.bundle_hash
               else "no evidence bundle has been made for this case (the cover says so); make one with "
                    f"`fundtrail case bundle {case} -o case.zip`")


@case_app.command("letters")
def case_letters(
    ctx: typer.Context,
    case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
    out: Path = typer.Option(..., "-o", "--out", help="The directory to write the letters into (created "
                                                   "when its parent exists)."),
    lang: str = typer.Option("en", "--lang", help=LANG_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write one freeze-and-disclosure request (PDF and JSON) per service the case's traces reached,
    and per token an issuer can blacklist, with index.json."""
    result = workspace(ctx).case_letters(case, out, lang=lang)
    if as_json:
        echo_json(result)
        return
    typer.echo(f"wrote {len(result.letters)} letter(s) to {result.directory} (index {result.index}):")
    for letter in result.letters:
        what = (f"{letter.deposits} deposit address(es)" if letter.kind == "service"
                else f"{letter.holders} holder address(es)")
        typer.echo(f"  {letter.pdf:40} {letter.addressee}: {what}")
    if not result.letters:
        typer.echo("  (no saved trace of this case reached a service)")
