"""Fetch a batch of blocks with receipts and traces from a node, verify and decode them into bundles.

Receipts and traces come from separate calls; they are checked against the block's transactions,
and blocks against their own hashes and roots (`verify.py`), so that a node returning a partial,
mismatched or falsified answer stops the batch before anything is stored. Whatever the node sent
that does not decode is the node's fault: a one-line SourceError naming the method, the block
and the field.
"""

from __future__ import annotations

from typing import Any

from fundtrail.chains.ethereum.decode import block_row, receipt_row, transaction_rows
from fundtrail.chains.ethereum.tokens import token_moves
from fundtrail.chains.ethereum.traces import geth_trace_rows, parity_trace_rows
from fundtrail.errors import DataError, SourceError
from fundtrail.ingest.ethereum.rows import BlockBundle
from fundtrail.ingest.ethereum.verify import verify_block
from fundtrail.model.chains import EvmChain


def _source(rpc: Any) -> str:
    return str(getattr(rpc, "source", None) or rpc)


def fetch_bundles(rpc: Any, numbers: list[int], chain: EvmChain) -> list[BlockBundle]:
    """Blocks `numbers` with transactions, receipts, logs, token moves and traces, verified as far
    as `chain.verify` allows and decoded.

    The chain's WETH-style contracts (`chain.wrapped_native`) make Deposit/Withdrawal events mints
    and burns; None accepts those events from any contract (test chains, unknown chains)."""
    blocks = rpc.blocks(numbers, full_transactions=True)
    bundles = []
    for number, bj in zip(numbers, blocks, strict=True):
        method = f"eth_getBlockByNumber {number}"
        try:
            blk = block_row(bj)
            if blk["number"] != number:
                raise DataError(f"asked the node for block {number}, got block {blk['number']}")
            txs = transaction_rows(bj)
        except DataError as exc:
            raise SourceError(f"{_source(rpc)}: {method}: {exc.message}") from None
        receipts_json = rpc.block_receipts(bj) if txs else []
        verified = verify_block(chain, bj, receipts_json, _source(rpc))
        try:
            receipts = [receipt_row(r) for r in receipts_json]
        except DataError as exc:
            raise SourceError(f"{_source(rpc)}: receipts of block {number}: {exc.message}") from None
        if [r["transaction_hash"] for r in receipts] != [t["hash"] for t in txs]:
            raise SourceError(f"{_source(rpc)}: block {number}: receipts do not match the block's "
                              "transactions")
        mode, result = rpc.traces(number, ["0x" + t["hash"].hex() for t in txs])
        try:
            if mode == "parity":
                traces = parity_trace_rows(result)
            elif mode == "geth":
                traces = geth_trace_rows(number, [t["hash"] for t in txs], result)
            else:
                traces = []
        except DataError as exc:
            raise SourceError(f"{_source(rpc)}: traces of block {number}: {exc.message}") from None
        moves = [mv for r in receipts for log in r["logs"]
                 for mv in token_moves(log, wrapped_native=chain.wrapped_native)]
        bundles.append(BlockBundle(blk, txs, receipts, mode, traces, moves, verified=verified))
    return bundles
