"""Ingest jobs for account chains: a block range, or following the node's tip through reorgs
(`run_job`, shared by the EVM and TRON sources)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from fundtrail.chains.ethereum.hexutil import hex_to_bytes
from fundtrail.errors import BlockMissing, DataError, SourceError, UsageError
from fundtrail.ingest.ethereum.pipeline import EthIngest, EthIngestReport, Progress
from fundtrail.ingest.ethereum.rollback import rollback_to
from fundtrail.ingest.ethereum.rpc import RpcError
from fundtrail.model.chains import EVM_CHAINS, EvmChain, evm_chain
from fundtrail.store import Store

log = logging.getLogger(__name__)
#: polls in a row a follow run tolerates a block the node announced and then lacks
FOLLOW_MISSING_RETRIES = 5


def chain_config(rpc, chain: str | None, chain_id: int | None) -> EvmChain:
    """The chain to store into: from the node's `eth_chainId`, checked against `--chain` and
    `--chain-id`; a source without `eth_chainId` (a recording made by another tool) needs one of
    them. A node that reports another chain id than `--chain-id` is refused."""
    try:
        node_id: int | None = rpc.chain_id()
    except RpcError as exc:
        if not exc.unsupported:
            raise
        node_id = None
        if chain_id is None and chain not in EVM_CHAINS:
            raise UsageError("the source does not answer eth_chainId (a recording without it?); "
                             "pass --chain NAME (eth, bsc, …) or --chain-id N") from None
    if chain_id is not None and node_id is not None and chain_id != node_id:
        raise UsageError(f"--chain-id {chain_id} but the source reports chain id {node_id}")
    return evm_chain(chain, node_id if node_id is not None else chain_id)


def ingest_ethereum(store: Store, rpc, *, chain: str | None = None, first: int | None = None,
                    last: int | None = None, follow: bool = False, batch_blocks: int = 100,
                    poll_interval: float = 5.0, should_stop: Callable[[], bool] = lambda: False,
                    progress: Progress | None = None, chain_id: int | None = None,
                    recorded: list[int] | None = None) -> EthIngestReport:
    """Ingest blocks first..last (default: after the stored tip, to the node's tip).

    `recorded` (the block numbers a recording holds) sets the default range when replaying: from
    the first recorded block (or after the stored tip) to the last recorded one.
    """
    config = chain_config(rpc, chain, chain_id)
    with EthIngest(store, config, rpc, batch_blocks=batch_blocks, progress=progress) as ing:
        return run_job(ing, head=rpc.block_number, node_hash=lambda h: _node_hash(rpc, h),
                       first=first, last=last, follow=follow, poll_interval=poll_interval,
                       should_stop=should_stop, recorded=recorded)


def run_job(ing: EthIngest, *, head: Callable[[], int], node_hash: Callable[[int], bytes],
            first: int | None, last: int | None, follow: bool, poll_interval: float,
            should_stop: Callable[[], bool], recorded: list[int] | None) -> EthIngestReport:
    """A range, or following the node's head, for any account chain: `head()` is the node's
    head block number, `node_hash(n)` the hash of its block n (to find a fork point)."""
    default_first = recorded[0] if recorded else 0
    start = first if first is not None else (ing.tip + 1 if ing.tip is not None else default_first)
    end = last if last is not None else (recorded[-1] if recorded else head())
    if recorded and first is None and last is None and start > end:
        ing.report.warnings.append(f"every recorded block ({recorded[0]}..{recorded[-1]}) is "
                                   "stored already; nothing to do")
        return ing.finish()
    if not follow:
        if end < start:
            raise UsageError(f"empty block range {start}..{end}")
        ing.ingest_range(start, end)
        return ing.finish()
    missing = 0
    while not should_stop():
        try:
            top = head()
            fork = _fork_point(ing, node_hash, top)
            if fork is not None:
                ing.report.rolled_back += rollback_to(ing, fork)
                ing.report.warnings.append(f"reorganisation: rolled back to block {fork}")
            nxt = ing.tip + 1 if ing.tip is not None else start
            if nxt <= top:
                ing.ingest_range(nxt, top)
                missing = 0
                continue
        except BlockMissing:
            # the head moved back between two requests (a reorganisation to a shorter branch, for a
            # moment): poll again; a block that stays missing is the node's fault, said as such
            missing += 1
            if missing > FOLLOW_MISSING_RETRIES:
                raise
            log.info("a block the node announced is gone; polling again (%d)", missing)
        deadline = time.monotonic() + poll_interval
        while time.monotonic() < deadline and not should_stop():
            time.sleep(min(0.2, poll_interval))
    return ing.finish()


def hash_bytes(value: object) -> bytes:
    """A 32-byte hash from node JSON; DataError otherwise."""
    raw = hex_to_bytes(value)  # type: ignore[arg-type]
    if len(raw) != 32:
        raise DataError(f"not a 32-byte hash: {str(value)[:80]!r}")
    return raw


def _node_hash(rpc, h: int) -> bytes:
    node = rpc.blocks([h], full_transactions=False)[0]
    try:
        return hash_bytes(node.get("hash"))
    except DataError as exc:
        raise SourceError(f"{rpc}: eth_getBlockByNumber {h}: field hash: {exc.message}") from None


def _fork_point(ing: EthIngest, node_hash: Callable[[int], bytes], head: int) -> int | None:
    """Highest stored block that the node still has, if the stored tip is no longer canonical."""
    tip = ing.tip
    if tip is None:
        return None
    h = min(tip, head)
    while h >= 0 and h in ing.hashes:
        if node_hash(h) == ing.hashes[h]:
            return None if h == tip else h
        h -= 1
    return h if h < tip else None
