"""`fundtrail ingest tron` (issue 18; being built)."""

from __future__ import annotations

import typer


def register(ingest_app: typer.Typer) -> None:
    """Hang `tron` on the `ingest` group."""
