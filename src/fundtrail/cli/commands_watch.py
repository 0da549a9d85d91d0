"""`fundtrail watch ...` and `fundtrail alerts list|show|ack`: thin over the service layer (issue 17; being built)."""

from __future__ import annotations

import typer

watch_app = typer.Typer(help="Watch addresses, outputs, clusters, traced funds and categories; alert on rules.",
                        no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts raised by watch rules: list, show, acknowledge, deliver.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `watch` and `alerts` command groups."""
    app.add_typer(watch_app, name="watch")
    app.add_typer(alerts_app, name="alerts")
