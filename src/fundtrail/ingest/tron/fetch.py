"""Fetch a batch of TRON blocks with their transaction infos and turn them into `BlockBundle`s.

This is the only step of the account-chain pipeline that differs for TRON (`EthIngest(fetch=...)`):
java-tron's blocks and infos become the same bundles the EVM fetcher makes (`bundle.to_bundle`),
so tables, rollback, watch hooks and every later analysis stay as they are. What the node sent
that does not convert is the node's fault: a one-line SourceError naming the endpoint and block.
"""

from __future__ import annotations

from collections.abc import Callable

from fundtrail.errors import DataError, SourceError
from fundtrail.ingest.ethereum.rows import BlockBundle
from fundtrail.ingest.tron.bundle import to_bundle
from fundtrail.ingest.tron.replay import BLOCK, INFOS
from fundtrail.ingest.tron.rpc import TronRpc


def fetch_bundles(rpc: TronRpc, numbers: list[int]) -> list[BlockBundle]:
    """Blocks `numbers` (in order) with their transaction infos, converted and checked."""
    blocks = rpc.blocks(numbers)
    infos = rpc.infos_of(blocks)
    out = []
    for number, block, info in zip(numbers, blocks, infos, strict=True):
        try:
            bundle = to_bundle(block, info, solidified=rpc.solidified)
        except (DataError, KeyError, TypeError, ValueError, AttributeError) as exc:
            text = exc.message if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
            raise SourceError(f"{rpc.source}: {rpc.prefix}/{BLOCK} + {INFOS} (block {number}): "
                              f"cannot convert the node's answer: {text}") from None
        if bundle.block["number"] != number:
            raise SourceError(f"{rpc.source}: {rpc.prefix}/{BLOCK} (block {number}): converted to "
                              f"block {bundle.block['number']}")
        out.append(bundle)
    return out


def fetcher(rpc: TronRpc) -> Callable[[list[int]], list[BlockBundle]]:
    """The pipeline's fetch step for `rpc`."""
    def fetch(numbers: list[int]) -> list[BlockBundle]:
        return fetch_bundles(rpc, numbers)
    return fetch

