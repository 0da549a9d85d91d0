"""`fundtrail cluster ...`: cluster what is stored, show a cluster, explain why two addresses are linked."""

from __future__ import annotations

import typer

cluster_app = typer.Typer(help="Address clustering with explainable evidence.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `cluster` command group to the top-level app."""
    app.add_typer(cluster_app, name="cluster")
