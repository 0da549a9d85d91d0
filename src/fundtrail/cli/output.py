"""Writing command output: a result model as JSON (`--json`), and where an export went.

The JSON lines writer lives with the export jobs (`fundtrail.workspace.jobs`); `write_jsonl` is
re-exported here for callers that write their own rows.
"""

from __future__ import annotations

import json

import typer

from fundtrail.workspace import Model
from fundtrail.workspace.jobs import ExportResult, write_jsonl

__all__ = ["echo_json", "report_export", "write_jsonl"]


def echo_json(result: Model) -> None:
    """Print a result model as `--json` prints it: indented, keys in the model's order."""
    typer.echo(json.dumps(result.model_dump(mode="json"), indent=2))


def report_export(result: ExportResult) -> None:
    """Say on stderr how many rows went to the file named (nothing when they went to stdout)."""
    if result.output is not None:
        typer.echo(f"wrote {result.rows} {result.noun} to {result.output}", err=True)
