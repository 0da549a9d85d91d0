"""`fundtrail webhooks ...` and `fundtrail alerts deliver|dead|replay` (issue 17; being built)."""

from __future__ import annotations

import typer

from fundtrail.cli.commands_watch import alerts_app

__all__ = ["alerts_app", "register", "webhooks_app"]

webhooks_app = typer.Typer(help="Webhooks alerts are delivered to (signed with HMAC-SHA256).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `webhooks` command group (the alert commands hang on `alerts_app`)."""
    app.add_typer(webhooks_app, name="webhooks")
