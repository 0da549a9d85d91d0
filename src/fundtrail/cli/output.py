"""Writing command output: JSON lines to stdout or a file the user named."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import typer

from fundtrail.errors import UsageError


def write_jsonl(rows: Iterator[dict], out: IO[str]) -> int:
    """Write one compact JSON object per line; returns the count."""
    n = 0
    for row in rows:
        out.write(json.dumps(row, separators=(",", ":")))
        out.write("\n")
        n += 1
    return n


def open_output(output: Path, option: str = "--output") -> IO[str]:
    """Open a file the user named for writing, or raise a one-line UsageError saying what is wrong
    with the path (a missing directory, a directory, no permission) instead of a traceback."""
    output = Path(output)
    if output.is_dir():
        raise UsageError(f"{option} {output} is a directory; give a file name")
    parent = output.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {output}: directory {parent} does not exist",
                         hint="create it first or choose another path")
    try:
        return open(output, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{option} {output}: cannot write: {exc.strerror}") from None


def emit_jsonl(rows: Iterator[dict], output: Path | None, noun: str) -> None:
    """JSON lines to `output` (saying how many went there) or to stdout."""
    if output is None:
        write_jsonl(rows, sys.stdout)
        return
    with open_output(output) as fh:
        n = write_jsonl(rows, fh)
    typer.echo(f"wrote {n} {noun} to {output}", err=True)
