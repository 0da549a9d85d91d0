"""TRON ingest jobs: a block range, or following the node's head through reorganisations.

The account-chain pipeline (`EthIngest`) and job loop (`run_job`) of the EVM ingest, with the
java-tron fetch step: the same tables, report, crash safety, rollback and watch hooks.
"""

from __future__ import annotations

from collections.abc import Callable

from fundtrail.errors import UsageError
from fundtrail.ingest.ethereum.jobs import run_job
from fundtrail.ingest.ethereum.pipeline import EthIngest, EthIngestReport, Progress
from fundtrail.ingest.tron.fetch import fetcher
from fundtrail.ingest.tron.rpc import TronRpc, block_id
from fundtrail.model.chains import TRON_CHAINS, AccountChain
from fundtrail.store import Store


def genesis_chain_id(rpc: TronRpc) -> int | None:
    """The chain id the TVM reports (the last 4 bytes of the genesis block's id), or None when
    the source cannot say (a recording without block 0)."""
    block = rpc.genesis()
    if block is None:
        return None
    return int.from_bytes(block_id(block, f"{rpc.source}: genesis block")[-4:], "big")


def tron_chain(name: str) -> AccountChain:
    """The configuration of TRON network `name` (`model.chains.TRON_CHAINS`)."""
    try:
        return TRON_CHAINS[name]
    except KeyError:
        raise UsageError(f"unknown TRON chain {name!r}; one of {', '.join(TRON_CHAINS)}",
                         field="chain") from None


def check_network(rpc: TronRpc, chain: AccountChain) -> None:
    """Refuse a source whose genesis says it is another TRON network than `chain`."""
    got = genesis_chain_id(rpc)
    if got is not None and got != chain.chain_id:
        raise UsageError(f"the source's genesis block is of chain id {got:#x}, but chain "
                         f"{chain.name} has chain id {chain.chain_id:#x}; pass the right --chain",
                         field="chain")


def ingest_tron(store: Store, rpc: TronRpc, *, chain: str = "tron", first: int | None = None,
                last: int | None = None, follow: bool = False, batch_blocks: int = 100,
                poll_interval: float = 3.0, should_stop: Callable[[], bool] = lambda: False,
                progress: Progress | None = None, recorded: list[int] | None = None) -> EthIngestReport:
    """Ingest TRON blocks first..last (default: after the stored tip, to the node's head; with a
    recording, its recorded blocks), or follow the head (`follow`) until `should_stop()`."""
    config = tron_chain(chain)
    check_network(rpc, config)
    with EthIngest(store, config, rpc, batch_blocks=batch_blocks, progress=progress,
                   fetch=fetcher(rpc), network=config.network) as ing:
        return run_job(ing, head=rpc.head, node_hash=rpc.block_hash, first=first, last=last,
                       follow=follow, poll_interval=poll_interval, should_stop=should_stop,
                       recorded=recorded)
