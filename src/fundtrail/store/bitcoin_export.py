"""Read-side of Bitcoin chains: the transaction export contract and store status.

The export is a contract other tools rely on (docs/schema.md, "Export contract"): one JSON object
per transaction, values in satoshi, addresses rendered as strings here and only here.
"""

from __future__ import annotations

from collections.abc import Iterator

from fundtrail.chains.bitcoin.address import render_address
from fundtrail.chains.bitcoin.params import network as network_by_name
from fundtrail.chains.bitcoin.script import ScriptType
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store.lake import Store
from fundtrail.store.select import select_chain

_CHUNK_TX = 20_000


def _hex(b: bytes | None) -> str | None:
    return None if b is None else bytes(b)[::-1].hex()


def iter_transactions(store: Store, chain: str | None = None, *, block_hash: str | None = None,
                      from_height: int | None = None, to_height: int | None = None) -> Iterator[dict]:
    """Export objects for the selected transactions, in chain order.

    The chain (`store.select` rule: a named chain not stored is NotFoundError) and the block hash
    are checked before the first row is asked for, so a caller writing to a file fails before
    creating it.
    """
    chain, _ = select_chain(store, chain, family="utxo", what="export transactions")
    net = network_by_name(bitcoin_network_of(chain))
    p = chain.replace("-", "_")
    where: list[str] = []
    params: list[object] = []
    if block_hash is not None:
        try:
            raw = bytes.fromhex(block_hash)[::-1]
        except ValueError:
            raise UsageError(f"block_hash {block_hash!r} is not a hex block hash",
                             field="block_hash") from None
        if len(raw) != 32:
            raise UsageError(f"block_hash must be 64 hex characters, got {len(block_hash)}",
                             field="block_hash")
        with store.connect(read_only=True) as con:
            found = con.execute("SELECT 1 FROM block_index WHERE chain = ? AND hash = ?",
                                [chain, raw]).fetchone()
        if found is None:
            raise NotFoundError(f"block {block_hash} is not in the store (chain {chain})")
        where.append("b.hash = ?")
        params.append(raw)
    if from_height is not None:
        where.append("b.height >= ?")
        params.append(from_height)
    if to_height is not None:
        where.append("b.height <= ?")
        params.append(to_height)
    return _iter_selected(store, p, " AND ".join(where) or "TRUE", params, net)


def _iter_selected(store: Store, p: str, cond: str, params: list, net) -> Iterator[dict]:
    with store.query() as con:
        blocks = con.execute(
            f"SELECT b.block_id, b.hash, b.height, b.time FROM {p}_blocks b WHERE {cond} "
            "ORDER BY b.block_id", params).fetchall()
        addr_cache: dict[int, str | None] = {}
        for i in range(0, len(blocks), 256):
            group = blocks[i:i + 256]
            ids = [g[0] for g in group]
            meta = {g[0]: g for g in group}
            yield from _export_blocks(con, p, ids, meta, net, addr_cache)


def _render(con, p: str, ids: set[int], net, cache: dict[int, str | None]) -> None:
    missing = [i for i in ids if i is not None and i not in cache]
    if not missing:
        return
    rows = con.execute(
        f"SELECT address_id, script_type, payload FROM {p}_addresses WHERE address_id IN "
        f"(SELECT unnest(?::BIGINT[]))", [missing]).fetchall()
    for aid, st, payload in rows:
        cache[aid] = render_address(st, bytes(payload), net)
    if len(cache) > 2_000_000:
        cache.clear()


def _export_blocks(con, p, block_ids, meta, net, cache) -> Iterator[dict]:
    lo, hi = min(block_ids), max(block_ids)
    txs = con.execute(
        f"SELECT tx_id, txid, block_id, is_coinbase, fee FROM {p}_transactions "
        "WHERE block_id BETWEEN ? AND ? ORDER BY tx_id", [lo, hi]).fetchall()
    if not txs:
        return
    t_lo, t_hi = txs[0][0], txs[-1][0]
    ins = con.execute(
        f"SELECT tx_id, prev_txid, prev_vout, address_id, value FROM {p}_inputs "
        "WHERE tx_id BETWEEN ? AND ? ORDER BY tx_id, n", [t_lo, t_hi]).fetchall()
    outs = con.execute(
        f"SELECT tx_id, n, value, script_type, address_id FROM {p}_outputs "
        "WHERE tx_id BETWEEN ? AND ? ORDER BY tx_id, n", [t_lo, t_hi]).fetchall()
    _render(con, p, {r[3] for r in ins} | {r[4] for r in outs}, net, cache)
    ii = oi = 0
    for tx_id, txid, block_id, coinbase, fee in txs:
        inputs = []
        while ii < len(ins) and ins[ii][0] == tx_id:
            _, prev, vout, aid, value = ins[ii]
            inputs.append({"prev_txid": _hex(prev), "prev_vout": vout,
                           "address": cache.get(aid) if aid is not None else None, "value": value})
            ii += 1
        outputs = []
        while oi < len(outs) and outs[oi][0] == tx_id:
            _, n, value, st, aid = outs[oi]
            outputs.append({"n": n, "value": value, "script_type": ScriptType(st).export_name,
                            "address": cache.get(aid) if aid is not None else None})
            oi += 1
        _, bhash, height, btime = meta[block_id]
        yield {"txid": _hex(txid), "block_hash": _hex(bhash), "block_height": height, "time": btime,
               "coinbase": bool(coinbase), "fee": fee, "inputs": inputs, "outputs": outputs}
