"""CLI commands: lookup (being written; see issue 14)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the lookup commands to the top-level app."""
