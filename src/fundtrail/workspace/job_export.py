"""The export jobs: stored data written in the documented export contract (docs/schema.md), one
compact JSON object per line, to a file or to a stream the caller gives.

The chain and the selection are checked before the output file is opened, so a refused export
creates no file; a bad output path is a one-line `UsageError` on field `output`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from fundtrail.errors import UsageError
from fundtrail.workspace.core import WorkspaceBase
from fundtrail.workspace.job_models import ExportResult, ExportTransactionsRequest, ExportTransfersRequest


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """Write one compact JSON object per line; returns the count."""
    n = 0
    for row in rows:
        out.write(json.dumps(row, separators=(",", ":")))
        out.write("\n")
        n += 1
    return n


def open_output(output: Path, field: str = "output") -> IO[str]:
    """Open a file the caller named for writing, or a one-line UsageError saying what is wrong
    with the path (a missing directory, a directory, no permission) instead of a traceback."""
    output = Path(output)
    if output.is_dir():
        raise UsageError(f"{field} {output} is a directory; give a file name", field=field)
    parent = output.parent
    if not parent.is_dir():
        raise UsageError(f"{field} {output}: directory {parent} does not exist", field=field,
                         hint="create it first or choose another path")
    try:
        return open(output, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{field} {output}: cannot write: {exc.strerror}", field=field) from None


def _write(rows: Iterable[dict[str, Any]], noun: str, output: Path | None,
           stream: IO[str] | None) -> ExportResult:
    if output is None:
        return ExportResult(noun=noun, rows=write_jsonl(rows, stream or sys.stdout), output=None)
    with open_output(output) as fh:
        n = write_jsonl(rows, fh)
    return ExportResult(noun=noun, rows=n, output=str(output))


class ExportOps(WorkspaceBase):
    """Exports of the export contract; read-only."""

    def export_transactions(self, req: ExportTransactionsRequest, *, output: Path | None = None,
                            stream: IO[str] | None = None) -> ExportResult:
        """The transactions of a UTXO chain, in chain order, to `output` (a file) or `stream`
        (default: standard output)."""
        from fundtrail.store.bitcoin_export import iter_transactions

        chain = self.chain(req.chain, family="utxo", what="export transactions").name
        rows = iter_transactions(self.store, chain, block_hash=req.block_hash,
                                 from_height=req.from_height, to_height=req.to_height)
        return _write(rows, "transactions", output, stream)

    def export_transfers(self, req: ExportTransfersRequest, *, output: Path | None = None,
                         stream: IO[str] | None = None) -> ExportResult:
        """The transfers (native, internal, token, fee, withdrawal) of an account chain."""
        from fundtrail.store.account_export import iter_transfers

        chain = self.chain(req.chain, family="account", what="export transfers").name
        rows = iter_transfers(self.store, chain, from_block=req.from_block, to_block=req.to_block)
        return _write(rows, "transfers", output, stream)
