"""What every Bitcoin source yields: serialized blocks, plus prevouts where the source knows them.

Sources differ (blk files, raw files, a node's JSON-RPC) but the pipeline sees one shape, so that
parsing, txid computation and decoding run through the same fast code whatever the origin.
"""

from __future__ import annotations

from dataclasses import dataclass

from fundtrail.chains.bitcoin.prevout import Prevout

__all__ = ["Prevout", "Rollback", "SourceBlock"]


@dataclass(frozen=True)
class SourceBlock:
    """One serialized block from a source.

    `prevouts`, when known, has one entry per non-coinbase input of the block, in block order
    (transaction by transaction, input by input). It resolves inputs whose spent output is not in
    the store (an isolated block, a range that starts mid-chain).
    """

    raw: bytes  # the serialized block: 80-byte header, CompactSize tx count, transactions
    origin: str  # where it came from, for error messages: "blk00003.dat@1234", "rpc height 5"
    height: int | None = None  # height if the source knows it (RPC, header chain)
    prevouts: tuple[Prevout, ...] | None = None


@dataclass(frozen=True)
class Rollback:
    """A follow-mode event: the node reorganised; keep blocks up to `keep_height`, drop the rest."""

    keep_height: int
    reason: str
