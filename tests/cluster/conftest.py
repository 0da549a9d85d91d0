"""Chains for the clustering engine tests: a hand-built one with a known answer, and the sample chain."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.address import segwit_encode
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.errors import NotFoundError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.store import Store

CHAIN = "btc-regtest"


def addr(i: int) -> str:
    """The p2wpkh address of hand-built key number i."""
    return segwit_encode(REGTEST.hrp, 0, bytes([i]) * 20)


def _out(i: int, value: int = 10 * w.COIN) -> w.TxOut:
    return w.TxOut(value, w.p2wpkh(bytes([i]) * 20))


def _spend(tx: w.Tx, vout: int = 0) -> w.TxIn:
    return w.TxIn(tx.txid(), vout)


@dataclass(frozen=True)
class HandChain:
    """Blocks and the transactions of interest, by name."""

    blocks: list[bytes]
    txs: dict[str, w.Tx]


def hand_chain() -> HandChain:
    """Six coinbases pay keys 1..6; then, in one block:
    - A spends keys 1 and 2, pays 7 and 8           -> links 1-2
    - B spends key 3 and A's output to 7, pays 9    -> links 3-7 (a same-block spend)
    - C spends key 4 alone, pays key 5 again        -> no link
    - D spends keys 5 and 6, pays 10 and 11         -> links 5-6 (unless D is taken for a CoinJoin)
    and in the next block:
    - E spends C's output (key 5), B's (key 9) and A's second (key 8), pays 12 -> links 5-9, 5-8
    Known answer (multi-input): {1, 2}, {3, 7}, {5, 6, 8, 9}; every other key alone.
    """
    cbs = [w.coinbase_tx(h, [_out(h + 1, 50 * w.COIN)]) for h in range(6)]
    blocks: list[bytes] = []
    prev = bytes(32)
    for h, cb in enumerate(cbs):
        raw = w.build_block(prev, [cb], 1_700_000_000 + 600 * h)
        blocks.append(raw)
        prev = w.block_hash(raw)
    a = w.Tx(2, [_spend(cbs[0]), _spend(cbs[1])], [_out(7), _out(8)])
    b = w.Tx(2, [_spend(cbs[2]), _spend(a, 0)], [_out(9)])
    c = w.Tx(2, [_spend(cbs[3])], [_out(5)])
    d = w.Tx(2, [_spend(cbs[4]), _spend(cbs[5])], [_out(10), _out(11)])
    raw = w.build_block(prev, [w.coinbase_tx(6, [_out(20, 50 * w.COIN)]), a, b, c, d], 1_700_004_000)
    blocks.append(raw)
    prev = w.block_hash(raw)
    e = w.Tx(2, [_spend(c, 0), _spend(b, 0), _spend(a, 1)], [_out(12)])
    blocks.append(w.build_block(prev, [w.coinbase_tx(7, [_out(21, 50 * w.COIN)]), e], 1_700_004_600))
    return HandChain(blocks, {"A": a, "B": b, "C": c, "D": d, "E": e})


#: The known answer of `hand_chain` under multi-input clustering, as groups of key numbers.
HAND_CLUSTERS = [{1, 2}, {3, 7}, {5, 6, 8, 9}, {4}, {10}, {11}, {12}, {20}, {21}]


def ingest(root: Path, blocks: list[bytes], batch_blocks: int | None = None) -> Store:
    """Write `blocks` as a blocks dir next to `root` and ingest them into the store at `root`."""
    d = root.parent / f"{root.name}-blocks-{len(blocks)}"
    w.write_blocks_dir(d, blocks, REGTEST)
    store = Store.open(root)
    ingest_blocks_dir(store, d, batch_blocks=batch_blocks)
    return store


def key_ids(store: Store) -> dict[int, int]:
    """Address id of every hand-built key number present in the store."""
    from fundtrail.cluster.query import address_id
    from fundtrail.cluster.snapshot import open_snapshot

    out = {}
    with open_snapshot(store, CHAIN) as snap:
        for k in range(1, 22):
            try:
                out[k] = address_id(snap, addr(k))
            except NotFoundError:  # keys 13..19 are never used
                continue
    return out


@dataclass
class Hand:
    store: Store
    chain: HandChain
    ids: dict[int, int]
    clusters: list[set[int]]

    def txid(self, name: str) -> str:
        return self.chain.txs[name].txid()[::-1].hex()


@pytest.fixture
def hand(tmp_path: Path) -> Hand:
    chain = hand_chain()
    store = ingest(tmp_path / "store", chain.blocks)
    return Hand(store, chain, key_ids(store), HAND_CLUSTERS)


@pytest.fixture
def ingest_blocks():
    """`ingest(root, blocks, batch_blocks=None) -> Store`."""
    return ingest


@pytest.fixture(scope="session")
def sample_blocks() -> list[bytes]:
    """The deterministic sample chain (60 blocks, multi-input spends throughout)."""
    from fundtrail.chains.bitcoin.samplechain import build_sample_chain

    return build_sample_chain(seed=31, n_blocks=60, stale_branch=False).blocks
