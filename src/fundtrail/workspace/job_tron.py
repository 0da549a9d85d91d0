"""The TRON ingest job behind the service layer (`fundtrail ingest tron`, the API, a scheduler).

It mirrors `ingest_ethereum`: a java-tron node (optionally its solidity endpoint, optionally
recording what it answers) or a recording, the same progress stages (`blocks`, `transfers`), the
watch rules run on each committed batch, and a result of the EVM result's shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fundtrail.errors import UsageError
from fundtrail.ingest.hooks import batch_hooks
from fundtrail.workspace.core import Progress, no_progress
from fundtrail.workspace.job_ingest import IngestOps, _counts, _never
from fundtrail.workspace.job_models import IngestTronRequest, TronIngestResult


class IngestTronOps(IngestOps):
    """`ingest_tron`; the workspace must be writable."""

    def ingest_tron(self, req: IngestTronRequest, progress: Progress = no_progress, *,
                    should_stop: Callable[[], bool] = _never) -> TronIngestResult:
        """Ingest TRON blocks (TRX, TRC-10, TRC-20 and internal transfers, fees) into the
        account-chain tables of chain `req.chain`."""
        from fundtrail.ingest.tron.jobs import ingest_tron
        from fundtrail.ingest.tron.replay import Recorder, TronReplayTransport
        from fundtrail.ingest.tron.rpc import TronRpc
        from fundtrail.ingest.tron.transport import TronHttpTransport

        self.require_writable("ingest")
        bounds = self._rpc_bounds(req.rpc_timeout)
        recorded: list[int] | None = None
        if req.replay is not None:
            replay = TronReplayTransport(req.replay, max_response_mb=bounds["max_response_mb"],
                                         max_json_depth=bounds["max_json_depth"])
            recorded = replay.recorded_blocks()
            if not recorded:
                raise UsageError(f"replay {req.replay}: no recorded blocks (files "
                                 "web3_response.wallet.getblockbynum_<number>.json)", field="replay")
            rpc = TronRpc(replay, concurrency=req.concurrency, by_range=False)
        else:
            assert req.rpc is not None
            http: dict[str, Any] = dict(bounds, max_requests_per_second=req.rate_limit)
            node = TronHttpTransport(req.rpc, **http)
            solidity = TronHttpTransport(req.solidity, **http) if req.solidity else None
            recorder = Recorder(req.record) if req.record is not None else None
            rpc = TronRpc(node, solidity=solidity, concurrency=req.concurrency, recorder=recorder)
        with rpc, self._watching(req.follow) as hooks, batch_hooks(hooks), self._ingest_budget():
            report = ingest_tron(self.store, rpc, chain=req.chain, first=req.from_block,
                                 last=req.to_block, follow=req.follow, batch_blocks=req.batch_blocks,
                                 poll_interval=req.poll_interval, should_stop=should_stop,
                                 progress=_counts(progress, "transfers"), recorded=recorded)
        self.refresh()
        return TronIngestResult.model_validate(report.as_dict())
