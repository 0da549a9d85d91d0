"""Request and result models of the long jobs: ingest, export, fsck, migrate.

Requests check themselves when built (before any store is opened or created), raising a
`UsageError` that names the request field, so a refused request leaves nothing behind. Results
dump to exactly the JSON `fundtrail ingest ... --json` and `fundtrail fsck --json` print.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from fundtrail.chains.bitcoin.params import network as network_by_name
from fundtrail.errors import DataError, UsageError
from fundtrail.model.chains import check_chain_name
from fundtrail.workspace.core import Model

TRACE_MODES = ("auto", "parity", "geth", "none")


def _chain_name(value: str | None) -> str | None:
    if value is not None:
        try:
            check_chain_name(value)
        except UsageError as exc:
            exc.field = exc.field or "chain"
            raise
    return value


class IngestBitcoinRequest(Model):
    """Ingest Bitcoin blocks from exactly one source: a Bitcoin Core `blocks_dir`, `raw` block
    files, or a node's JSON-RPC at `rpc`. The RPC password is a secret: never shown in a repr or
    JSON (it is given resolved; reading it from a file or stdin is the interface's business)."""

    blocks_dir: Path | None = None
    raw: list[Path] = Field(default_factory=list)
    undo: bool = False  # use the rev*.dat undo data of blocks_dir
    undo_file: list[Path] = Field(default_factory=list)  # one undo file per raw file
    rpc: str | None = None
    rpc_cookie: Path | None = None
    rpc_user: str | None = None
    rpc_password: SecretStr | None = None
    rpc_timeout: int | None = None
    from_height: int | None = None
    to_height: int | None = None
    follow: bool = False
    poll_interval: float = 10.0
    network: str | None = None

    @field_validator("network")
    @classmethod
    def _known_network(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                network_by_name(value)
            except UsageError as exc:
                exc.field = "network"
                raise
        return value

    @model_validator(mode="after")
    def _one_source(self) -> IngestBitcoinRequest:
        given = [n for n, v in (("blocks_dir", self.blocks_dir), ("raw", self.raw), ("rpc", self.rpc)) if v]
        if len(given) != 1:
            raise UsageError("give exactly one source: blocks_dir, raw or rpc"
                             + (f" (got {', '.join(given)})" if given else ""), field="source")
        if self.undo_file and len(self.undo_file) != len(self.raw):
            raise UsageError(f"undo_file needs one file per raw file ({len(self.raw)} raw, "
                             f"{len(self.undo_file)} undo)", field="undo_file")
        if self.rpc_timeout is not None and not 1 <= self.rpc_timeout <= 86_400:
            raise UsageError(f"rpc_timeout must be 1..86400 seconds (got {self.rpc_timeout})",
                             field="rpc_timeout")
        if self.poll_interval <= 0:
            raise UsageError("poll_interval must be positive", field="poll_interval")
        if self.follow and not (self.rpc or self.blocks_dir):
            raise UsageError("follow needs a node: an RPC endpoint or its blocks directory", field="follow")
        if self.follow and self.undo:
            raise UsageError("undo data (rev files) is not read by a follow run; use it in a run without follow",
                             field="undo")
        return self


class IngestEthereumRequest(Model):
    """Ingest an EVM chain from a node's JSON-RPC (`rpc`) or a directory of recorded responses
    (`replay`); `chain` defaults to the name of the source's chain id."""

    rpc: str | None = None
    replay: Path | None = None
    chain: str | None = None
    chain_id: int | None = None
    from_block: int | None = None
    to_block: int | None = None
    follow: bool = False
    poll_interval: float = 5.0
    batch_blocks: int = 100
    traces: str = "auto"
    concurrency: int = 4
    rate_limit: float | None = None  # HTTP requests per second
    rpc_timeout: int | None = None

    _chain = field_validator("chain")(_chain_name)

    @model_validator(mode="after")
    def _consistent(self) -> IngestEthereumRequest:
        if (self.rpc is None) == (self.replay is None):
            raise UsageError("give exactly one of rpc (a node's URL) and replay (a recording)",
                             field="rpc")
        if self.replay is not None and self.follow:
            raise UsageError("follow needs a node; a recording does not grow", field="follow")
        if self.traces not in TRACE_MODES:
            raise UsageError(f"traces must be auto, parity, geth or none, got {self.traces!r}",
                             field="traces")
        if self.follow and self.to_block is not None:
            raise UsageError("follow and to_block exclude each other", field="follow")
        checks = (("chain_id", self.chain_id, 1, None), ("batch_blocks", self.batch_blocks, 1, 100_000),
                  ("concurrency", self.concurrency, 1, 64), ("rpc_timeout", self.rpc_timeout, 1, 86_400))
        for name, value, low, high in checks:
            if value is not None and (value < low or (high is not None and value > high)):
                raise UsageError(f"{name} must be at least {low}" + (f" and at most {high}" if high else "")
                                 + f" (got {value})", field=name)
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise UsageError("rate_limit must be positive", field="rate_limit")
        return self


class BitcoinIngestResult(Model):
    """What one Bitcoin ingest run did (blocks stored, skipped, stale, rolled back; inputs
    resolved; warnings, notes, and the bad blocks left out, one line each)."""

    chain: str
    network: str
    blocks: int = 0
    skipped_known: int = 0
    stale: int = 0
    transactions: int = 0
    inputs: int = 0
    outputs: int = 0
    unresolved_inputs: int = 0
    linked_inputs: int = 0
    heights_filled: int = 0
    batches: int = 0
    rolled_back: int = 0
    undo_resolved: int = 0
    seconds: float = 0.0
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class EthereumIngestResult(Model):
    """What one EVM ingest run did, with the time spent waiting for the node vs processing."""

    chain: str
    chain_id: int
    blocks: int = 0
    skipped_known: int = 0
    transactions: int = 0
    transfers: int = 0
    batches: int = 0
    rolled_back: int = 0
    unverified_blocks: int = 0
    trace_mode: str | None = None
    fetch_seconds: float = 0.0
    process_seconds: float = 0.0
    seconds: float = 0.0
    warnings: list[str] = Field(default_factory=list)


#: The result of either ingest job.
IngestResult = BitcoinIngestResult | EthereumIngestResult  # TronIngestResult is an EthereumIngestResult


class IngestIncomplete(DataError):
    """Some input could not be ingested, the rest was stored: `result` says what was."""

    def __init__(self, cause: DataError, result: BitcoinIngestResult) -> None:
        super().__init__(cause.message, hint=cause.hint, field=cause.field)
        self.result = result


class ExportTransactionsRequest(Model):
    """Transactions of a UTXO chain in the export contract (docs/schema.md): one block by hash or
    a height range (both bounds inclusive, either may be open)."""

    chain: str | None = None
    format: str = "jsonl"
    block_hash: str | None = None
    from_height: int | None = None
    to_height: int | None = None

    _chain = field_validator("chain")(_chain_name)

    @model_validator(mode="after")
    def _consistent(self) -> ExportTransactionsRequest:
        _check_format(self.format)
        if self.block_hash and (self.from_height is not None or self.to_height is not None):
            raise UsageError("block_hash excludes from_height/to_height: give one or the other",
                             field="block_hash")
        return self


class ExportTransfersRequest(Model):
    """Value movements of an account chain in the export contract, blocks `from_block`..`to_block`."""

    chain: str | None = None
    format: str = "jsonl"
    from_block: int | None = None
    to_block: int | None = None

    _chain = field_validator("chain")(_chain_name)

    @model_validator(mode="after")
    def _consistent(self) -> ExportTransfersRequest:
        _check_format(self.format)
        return self


def _check_format(fmt: str) -> None:
    if fmt != "jsonl":
        raise UsageError(f"format {fmt!r} is not supported; use jsonl", field="format")


class ExportResult(Model):
    """How many rows an export wrote, and where (None: the stream the caller gave)."""

    noun: str
    rows: int
    output: str | None


class Finding(Model):
    """One problem (`error`) or remark (`warning`) fsck found."""

    severity: str
    check: str
    message: str
    chain: str | None = None
    path: str | None = None


class FsckResult(Model):
    """fsck's verdict: files and bytes checked, and every finding; `ok` when no error."""

    store: str
    chains: list[str]
    files: int
    bytes: int
    seconds: float
    ok: bool
    errors: int
    warnings: int
    findings: list[Finding]


class AppliedMigration(Model):
    """One schema step applied to the catalog, and when."""

    version: int
    description: str
    applied_at: str | None


class MigrateResult(Model):
    """The store's schema after `migrate`: the version it had when opened, the version now, and
    every step it holds (those applied now are listed in `applied_now`)."""

    store: str
    from_version: int
    schema_version: int
    latest: int
    applied_now: list[int]
    migrations: list[AppliedMigration]


class IngestTronRequest(Model):
    """Ingest TRON from a java-tron node's HTTP API (`rpc`; `solidity`: its solidity endpoint,
    preferred for block data: only final blocks) or a directory of recorded answers (`replay`);
    `record` writes the answers of an `rpc` run in the replay format."""

    rpc: str | None = None
    solidity: str | None = None
    replay: Path | None = None
    record: Path | None = None
    chain: str = "tron"
    from_block: int | None = None
    to_block: int | None = None
    follow: bool = False
    poll_interval: float = 3.0
    batch_blocks: int = 100
    concurrency: int = 4
    rate_limit: float | None = None  # HTTP requests per second
    rpc_timeout: int | None = None

    _chain = field_validator("chain")(_chain_name)

    @model_validator(mode="after")
    def _consistent(self) -> IngestTronRequest:
        if (self.rpc is None) == (self.replay is None):
            raise UsageError("give exactly one of rpc (a java-tron node's URL) and replay (a recording)",
                             field="rpc")
        if self.replay is not None:
            for option, given in (("solidity", self.solidity), ("record", self.record)):
                if given is not None:
                    raise UsageError(f"{option} needs a node (rpc), not a recording", field=option)
            if self.follow:
                raise UsageError("follow needs a node; a recording does not grow", field="follow")
        if self.follow and self.to_block is not None:
            raise UsageError("follow and to_block exclude each other", field="follow")
        checks = (("from_block", self.from_block, 0, None), ("to_block", self.to_block, 0, None),
                  ("batch_blocks", self.batch_blocks, 1, 100_000), ("concurrency", self.concurrency, 1, 64),
                  ("rpc_timeout", self.rpc_timeout, 1, 86_400))
        for name, value, low, high in checks:
            if value is not None and (value < low or (high is not None and value > high)):
                raise UsageError(f"{name} must be at least {low}" + (f" and at most {high}" if high else "")
                                 + f" (got {value})", field=name)
        if self.from_block is not None and self.to_block is not None and self.to_block < self.from_block:
            raise UsageError(f"empty block range {self.from_block}..{self.to_block}", field="to_block")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise UsageError("rate_limit must be positive", field="rate_limit")
        if self.poll_interval <= 0:
            raise UsageError("poll_interval must be positive", field="poll_interval")
        return self


class TronIngestResult(EthereumIngestResult):
    """What one TRON ingest run did: the EVM result's fields (TRON runs the same pipeline)."""
