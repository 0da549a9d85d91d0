"""Fetch a batch of blocks with receipts and traces from a node and decode them into bundles.

Receipts and traces come from separate calls; they are checked against the block's transactions
so that a node returning a partial or mismatched answer stops the batch before anything is stored.
"""

from __future__ import annotations

from fundtrail.chains.ethereum.decode import block_row, receipt_row, transaction_rows
from fundtrail.chains.ethereum.tokens import token_moves
from fundtrail.chains.ethereum.traces import geth_trace_rows, parity_trace_rows
from fundtrail.errors import DataError
from fundtrail.ingest.ethereum.rows import BlockBundle


def fetch_bundles(rpc, numbers: list[int], wrapped_native: frozenset[bytes] | None = None) -> list[BlockBundle]:
    """Blocks `numbers` with transactions, receipts, logs, token moves and traces, decoded.

    `wrapped_native`: the chain's WETH-style contracts, whose Deposit/Withdrawal events are mints and
    burns; None accepts those events from any contract (test chains, unknown chains)."""
    blocks = rpc.blocks(numbers, full_transactions=True)
    bundles = []
    for number, bj in zip(numbers, blocks):
        blk = block_row(bj)
        if blk["number"] != number:
            raise DataError(f"asked the node for block {number}, got block {blk['number']}")
        txs = transaction_rows(bj)
        receipts = [receipt_row(r) for r in rpc.block_receipts(bj)] if txs else []
        if [r["transaction_hash"] for r in receipts] != [t["hash"] for t in txs]:
            raise DataError(f"block {number}: receipts do not match the block's transactions")
        mode, result = rpc.traces(number, ["0x" + t["hash"].hex() for t in txs])
        if mode == "parity":
            traces = parity_trace_rows(result)
        elif mode == "geth":
            traces = geth_trace_rows(number, [t["hash"] for t in txs], result)
        else:
            traces = []
        moves = [mv for r in receipts for log in r["logs"]
                 for mv in token_moves(log, wrapped_native=wrapped_native)]
        bundles.append(BlockBundle(blk, txs, receipts, mode, traces, moves))
    return bundles
