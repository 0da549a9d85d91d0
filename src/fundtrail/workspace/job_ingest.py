"""The ingest jobs behind the service layer: Bitcoin (blocks directory, raw files, JSON-RPC) and EVM
chains (JSON-RPC or a recording), started the same way by the CLI, the API and a scheduler.

Progress is reported as `(stage, done, total)`: stage `blocks` then `transactions` (Bitcoin) or
`transfers` (EVM), with total 0 (unknown). A `should_stop` callable ends a `follow` run after its
current batch (the CLI wires SIGTERM to it). After a run the caches of changed chains are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fundtrail.chains.bitcoin.params import network as network_by_name
from fundtrail.errors import DataError, UsageError
from fundtrail.ingest.bitcoin.spill_budget import batch_bytes_for, duckdb_limit, memory_budget
from fundtrail.ingest.hooks import HookFactory, batch_hooks
from fundtrail.store.engine import configure_memory
from fundtrail.watch import items as watch_items
from fundtrail.watch.hooks import evaluator_factory
from fundtrail.workspace.follow_delivery import FollowDelivery
from fundtrail.workspace.core import Progress, WorkspaceBase, no_progress
from fundtrail.workspace.job_models import (BitcoinIngestResult, EthereumIngestResult, IngestBitcoinRequest,
                                            IngestEthereumRequest, IngestIncomplete)


def _never() -> bool:
    return False


def _counts(progress: Progress, unit: str) -> Callable[[int, int], None] | None:
    """The pipelines' (blocks, units) callback as two `(stage, done, 0)` reports."""
    if progress is no_progress:
        return None

    def update(blocks: int, done: int) -> None:
        progress("blocks", blocks, 0)
        progress(unit, done, 0)

    return update


class IngestOps(WorkspaceBase):
    """Ingest jobs; the workspace must be writable (ingest creates and fills the store)."""

    def _rpc_bounds(self, rpc_timeout: int | None) -> dict[str, Any]:
        s = self.settings
        return {"timeout": rpc_timeout or s.rpc_timeout, "deadline": s.rpc_deadline,
                "max_response_mb": s.max_rpc_response_mb, "max_json_depth": s.max_json_depth}

    def ingest_bitcoin(self, req: IngestBitcoinRequest, progress: Progress = no_progress, *,
                       should_stop: Callable[[], bool] = _never) -> BitcoinIngestResult:
        """Ingest from the request's one source. Damaged input: every good block is stored, then
        `IngestIncomplete` (a DataError) says what was left out and carries the result."""
        self.require_writable("ingest")
        s = self.settings
        net = network_by_name(req.network) if req.network else None
        # memory_limit: the state tables spill beyond their share, a batch's arrays (about 6x its
        # bytes) keep to theirs, DuckDB to its own (ingest/bitcoin/spill_budget.py, docs/scale.md)
        limit = s.memory_limit_bytes
        batching: dict[str, Any] = {"batch_bytes": batch_bytes_for(limit, s.batch_mb << 20),
                                    "batch_blocks": s.batch_blocks}
        update = _counts(progress, "transactions")
        try:
            with self._watching(req.follow) as hooks, batch_hooks(hooks), self._ingest_budget():
                report = self._run_bitcoin(req, net, update, should_stop, batching)
        except DataError as exc:
            partial = getattr(exc, "report", None)
            if partial is None:
                raise
            self.refresh()
            raise IngestIncomplete(exc, BitcoinIngestResult.model_validate(partial.as_dict())) from None
        self.refresh()
        return BitcoinIngestResult.model_validate(report.as_dict())

    @contextmanager
    def _ingest_budget(self) -> Iterator[None]:
        """An ingest within `memory_limit`: the state tables (Bitcoin's address index and unspent
        set, an account chain's address book) spill beyond their share, DuckDB keeps to its own
        (ingest/bitcoin/spill_budget.py)."""
        limit = self.settings.memory_limit_bytes
        configure_memory(duckdb_limit(limit))
        with memory_budget(limit):
            yield

    def _watch_hooks(self, *, follow: bool = False) -> HookFactory | None:
        """The watch evaluator's factory when the store has active watch items (docs/watch.md),
        else None: a one-off ingest without items costs this one query. A `--follow` run always
        gets it (items may be added while it runs; the evaluator checks once per batch)."""
        if follow:
            return evaluator_factory
        with self.store.connect(read_only=True) as con:
            if not watch_items.has_active(con):
                return None
        return evaluator_factory

    @contextmanager
    def _watching(self, follow: bool) -> Iterator[HookFactory | None]:
        """The watch hooks of an ingest run; a follow run also delivers the alerts as they are
        committed (`workspace.follow_delivery`), so the webhook hears of a block within a second."""
        factory = self._watch_hooks(follow=follow)
        if not follow:
            yield factory
            return
        with FollowDelivery(self.store, self.settings) as deliverer:
            yield deliverer.wrap(factory)

    def _run_bitcoin(self, req: IngestBitcoinRequest, net: Any, update: Callable[[int, int], None] | None,
                     should_stop: Callable[[], bool], batching: dict[str, Any]) -> Any:
        from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir, ingest_raw_files, ingest_rpc

        s = self.settings
        if req.blocks_dir is not None and req.follow:
            from fundtrail.ingest.bitcoin.follow_blk import follow_blocks_dir

            return follow_blocks_dir(self.store, req.blocks_dir, network=net, progress=update,
                                     poll_interval=req.poll_interval, should_stop=should_stop,
                                     max_block_bytes=s.max_block_bytes, **batching)
        if req.blocks_dir is not None:
            return ingest_blocks_dir(self.store, req.blocks_dir, network=net, use_undo=req.undo,
                                     progress=update, max_block_bytes=s.max_block_bytes, **batching)
        if req.raw:
            return ingest_raw_files(self.store, list(req.raw), network=net,
                                    undo_files=list(req.undo_file) or None, progress=update,
                                    max_block_bytes=s.max_block_bytes,
                                    max_decompressed_mb=s.max_decompressed_mb, **batching)
        return ingest_rpc(self.store, self._bitcoin_source(req), start=req.from_height, end=req.to_height,
                          follow=req.follow, progress=update, poll_interval=req.poll_interval,
                          should_stop=should_stop, **batching)

    def _bitcoin_source(self, req: IngestBitcoinRequest) -> Any:
        from fundtrail.ingest.bitcoin.rpc import BitcoinRpcSource, RpcClient

        assert req.rpc is not None
        password = req.rpc_password.get_secret_value() if req.rpc_password is not None else None
        client = RpcClient(req.rpc, cookie_file=req.rpc_cookie or self.settings.rpc_cookie,
                           user=req.rpc_user, password=password, **self._rpc_bounds(req.rpc_timeout))
        return BitcoinRpcSource(client)

    def ingest_ethereum(self, req: IngestEthereumRequest, progress: Progress = no_progress, *,
                        should_stop: Callable[[], bool] = _never) -> EthereumIngestResult:
        """Ingest blocks, transactions, receipts, logs, token and internal transfers of an EVM
        chain; a recording answers what it lacks as a node lacking the method would."""
        from fundtrail.ingest.ethereum.jobs import ingest_ethereum
        from fundtrail.ingest.ethereum.replay import ReplayTransport
        from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport

        self.require_writable("ingest")
        bounds = self._rpc_bounds(req.rpc_timeout)
        recorded: list[int] | None = None
        transport: Any
        if req.replay is not None:
            transport = ReplayTransport(req.replay, unrecorded_as_rpc_error=True,
                                        max_response_mb=bounds["max_response_mb"],
                                        max_json_depth=bounds["max_json_depth"])
            recorded = transport.recorded_blocks()
            if not recorded:
                raise UsageError(f"replay {req.replay}: no recorded blocks (files "
                                 "web3_response.eth_getBlockByNumber_0x<number>_true.json)", field="replay")
        else:
            assert req.rpc is not None
            transport = HttpTransport(req.rpc, max_requests_per_second=req.rate_limit, **bounds)
        client = EthRpc(transport, concurrency=req.concurrency, trace_mode=req.traces)
        with self._watching(req.follow) as hooks, batch_hooks(hooks), self._ingest_budget():
            report = ingest_ethereum(self.store, client, chain=req.chain, first=req.from_block,
                                     last=req.to_block, follow=req.follow, batch_blocks=req.batch_blocks,
                                     poll_interval=req.poll_interval, should_stop=should_stop,
                                     progress=_counts(progress, "transfers"), chain_id=req.chain_id,
                                     recorded=recorded)
        self.refresh()
        return EthereumIngestResult.model_validate(report.as_dict())
