"""`fundtrail tags ...`: import, search, show, look up and export attribution tags."""

from __future__ import annotations

import typer

tags_app = typer.Typer(help="Attribution tags: import label sources, search, look up, export.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `tags` command group to the top-level app."""
    app.add_typer(tags_app, name="tags")
