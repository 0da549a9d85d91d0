"""`fundtrail verify BUNDLE`: check an evidence bundle with no store and no network (docs/bundle.md).

It never opens a store: it works where none exists (a court's or a defence expert's machine).
Exit status 0 every check passed, 1 a check failed, 2 the bundle cannot be read at all.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fundtrail.cli.output import echo_json
from fundtrail.errors import UsageError
from fundtrail.workspace.verification import render_verification, verify_bundle

__all__ = ["register"]


def verify(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="The evidence bundle (a .zip file)."),
    expect: str | None = typer.Option(None, "--expect", metavar="HASH",
                                      help="The bundle hash it must have (as `case bundle` printed it)."),
    exact: bool = typer.Option(False, "--exact", help="Haircut traces in exact fractions instead of the verifier's "
                               "2^-256-sat grid (the same satoshi within the bound docs/verify.md proves; slow on "
                               "big traces)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check an evidence bundle from its bytes alone: every file against SHA256SUMS, the block
    headers and their proof of work, each transaction's txid and merkle proof, each saved trace
    recomputed to the satoshi, each fact's references; inferences are listed. No store is used."""
    result = verify_bundle(bundle, expect=expect, exact=exact)
    if as_json:
        echo_json(result)
    else:
        typer.echo(render_verification(result))
    if not result.readable:
        raise UsageError(f"{bundle}: the bundle cannot be read: {result.failures[0] if result.failures else '?'}",
                         field="bundle")
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the top-level `verify` command."""
    app.command("verify")(verify)
