"""Writing command output: JSON lines to stdout or a file."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import typer


def write_jsonl(rows: Iterator[dict], out: IO[str]) -> int:
    """Write one compact JSON object per line; returns the count."""
    n = 0
    for row in rows:
        out.write(json.dumps(row, separators=(",", ":")))
        out.write("\n")
        n += 1
    return n


def emit_jsonl(rows: Iterator[dict], output: Path | None, noun: str) -> None:
    """JSON lines to `output` (saying how many went there) or to stdout."""
    if output is None:
        write_jsonl(rows, sys.stdout)
        return
    with open(output, "w") as fh:
        n = write_jsonl(rows, fh)
    typer.echo(f"wrote {n} {noun} to {output}", err=True)
