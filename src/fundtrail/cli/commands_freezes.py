"""`fundtrail freezes` (issue 18; being built)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Hang `freezes` on the root app."""
