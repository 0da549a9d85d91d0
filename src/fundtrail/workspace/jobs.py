"""Service operations: the long jobs (ingest, export, fsck, migrate), started the same way by the
CLI, the REST API and later a scheduler: a request model, a progress callback `(stage, done,
total)`, a typed result.

Ingest lives in `job_ingest`, exports in `job_export`, the models in `job_models`; this module
combines them with the store checks (fsck) and the schema upgrade (migrate).
"""

from __future__ import annotations

import datetime as _dt

from fundtrail.errors import UsageError
from fundtrail.model.chains import check_chain_name
from fundtrail.store import migrations
from fundtrail.store.fsck import fsck as store_fsck
from fundtrail.workspace.core import Progress, no_progress
from fundtrail.workspace.job_export import ExportOps, open_output, write_jsonl
from fundtrail.workspace.job_ingest import IngestOps
from fundtrail.workspace.job_models import (AppliedMigration, BitcoinIngestResult, EthereumIngestResult,
                                            ExportResult, ExportTransactionsRequest, ExportTransfersRequest,
                                            Finding, FsckResult, IngestBitcoinRequest, IngestEthereumRequest,
                                            IngestIncomplete, IngestResult, MigrateResult)

__all__ = ["AppliedMigration", "BitcoinIngestResult", "EthereumIngestResult", "ExportResult",
           "ExportTransactionsRequest", "ExportTransfersRequest", "Finding", "FsckResult",
           "IngestBitcoinRequest", "IngestEthereumRequest", "IngestIncomplete", "IngestResult", "JobOps",
           "MigrateResult", "open_output", "write_jsonl"]

#: Migrations applied after this moment were applied by this process (when it opened a store
#: for writing, or by `migrate`).
_LOADED_AT = _dt.datetime.now()


class JobOps(IngestOps, ExportOps):
    """Ingest, export, fsck and migrate."""

    def fsck(self, *, chain: str | None = None, progress: Progress = no_progress) -> FsckResult:
        """Check every lake file against the catalog (size, rows, SHA-256) and the store's
        invariants; read-only, repairs nothing. The caller decides what a finding means to it
        (the CLI exits 4 on any error)."""
        if chain is not None:
            try:
                check_chain_name(chain)
            except UsageError as exc:
                exc.field = exc.field or "chain"
                raise
        report = store_fsck(self.store, chain, progress=None if progress is no_progress else progress)
        return FsckResult.model_validate(report.as_dict())

    def migrate(self) -> MigrateResult:
        """Bring the store's catalog to this version's schema (the one way to upgrade an older
        store; a read-only workspace refuses one). Idempotent: on a current store it reports the
        steps it holds and applies none."""
        self.require_writable("migrate")
        self.store.migrate()
        with self.store.connect(read_only=True) as con:
            rows = con.execute("SELECT version, description, applied_at FROM schema_migrations "
                               "ORDER BY version").fetchall()
        steps = [AppliedMigration(version=int(v), description=str(d or ""),
                                  applied_at=a.isoformat() if a is not None else None) for v, d, a in rows]
        current = max((s.version for s in steps), default=0)
        # the version the store had before this workspace opened it (writers migrate on opening),
        # when the opening recorded it; else: the steps applied since this process started
        before = getattr(self, "schema_at_open", None)
        if isinstance(before, int):
            now = [v for v in (s.version for s in steps) if v > before]
        else:
            now = [int(v) for v, _d, a in rows if a is not None and a >= _LOADED_AT]
        return MigrateResult(store=str(self.store.root), from_version=min(now) - 1 if now else current,
                             schema_version=current, latest=migrations.LATEST, applied_now=now,
                             migrations=steps)
