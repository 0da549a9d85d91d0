"""`fundtrail case bundle (evidence bundles, docs/bundle.md)`: thin over the service layer (issue 16; being built)."""

from __future__ import annotations

import typer

from fundtrail.cli.commands_case import case_app

__all__ = ["case_app", "register"]


def register(app: typer.Typer) -> None:
    """Nothing to add at the top level: the commands hang on `case_app` when this module is imported."""
