"""`fundtrail verify BUNDLE`: check an evidence bundle with no store and no network (issue 16; being built)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the top-level `verify` command."""
