"""Service operation `status`: what the store holds, typed.

Coverage is part of the answer because every conclusion drawn from the store ("still unspent",
"no exposure") holds only for the heights it covers; the JSON is what `fundtrail status --json`
printed before the service layer existed, so scripts reading it keep working.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from fundtrail.store.status import status as store_status
from fundtrail.workspace.core import Model, WorkspaceBase


class Coverage(Model):
    """Heights of one chain held, as closed ranges; gaps between them; blocks of unknown height."""

    chain: str
    ranges: list[tuple[int, int]]
    gaps: list[tuple[int, int]]
    tip_height: int | None
    unplaced_blocks: int
    contiguous: bool


class IngestRun(Model):
    """The last ingest run of a chain: how it ended and what it stored (ISO times, UTC-naive)."""

    run_id: int
    source: str | None
    started_at: str | None
    finished_at: str | None
    status: str
    blocks: int | None
    transactions: int | None
    message: str | None


class UtxoChainStatus(Model):
    """A Bitcoin-family chain: counts, tip, unresolved inputs, batches, coverage."""

    chain: str
    family: Literal["utxo"]
    network: str
    blocks: int
    min_height: int | None
    max_height: int | None
    tip_hash: str | None
    transactions: int
    inputs: int
    outputs: int
    addresses: int
    unresolved_inputs: int
    batches: int
    last_commit: str | None
    last_run: IngestRun | None
    coverage: Coverage
    empty: bool


class AccountChainStatus(Model):
    """An account (EVM) chain: counts of transactions, transfers, logs, traces, tokens; coverage."""

    chain: str
    family: Literal["account"]
    network: str
    blocks: int
    min_height: int | None
    max_height: int | None
    tip_hash: str | None
    transactions: int
    transfers: int
    logs: int
    traces: int
    addresses: int
    tokens: int
    last_run: IngestRun | None
    coverage: Coverage
    empty: bool


ChainStatus = Annotated[UtxoChainStatus | AccountChainStatus, Field(discriminator="family")]


class TagCounts(Model):
    """Attribution tags imported: merged tags, raw rows, tagged addresses, files, breakdowns
    (largest first)."""

    tags: int
    tag_rows: int
    addresses: int
    source_files: int
    by_currency: dict[str, int]
    by_category: dict[str, int]


class StatusResult(Model):
    """What the store holds: its schema, per chain counts and coverage, and the tags."""

    store: str
    schema_version: int
    chains: list[ChainStatus]
    tags: TagCounts


class StatusOps(WorkspaceBase):
    """The store's contents at a glance (`fundtrail status`, `GET /api/v1/status`)."""

    def status(self) -> StatusResult:
        """Per chain: coverage, counts, unresolved inputs, the last ingest run; and the tags."""
        return StatusResult.model_validate(store_status(self.store))
