"""UTXO-chain lookups on the graph index: an address's totals and transactions, a transaction.

Everything about an address is array slices of the memory-mapped graph index (its received outputs,
their values and spenders), so a summary costs microseconds even on a busy address; a transaction's
outputs and spenders come from the index too, and only its header fields (fee, size, block hash)
and its inputs' prevouts come from the lake, by one filtered read each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fundtrail.chains.bitcoin.script import ScriptType
from fundtrail.chains.resolve import utxo_text
from fundtrail.store.lake import Store
from fundtrail.trace.graph import GraphIndex
from fundtrail.workspace.lookup_base import iso
from fundtrail.workspace.lookup_models import AddressTx, SeenAt, SpentBy, TxInput, TxOutput, TxTag


def address_text(g: GraphIndex, network: str, address_id: int) -> str:
    """Display text of an address id (`script:<type>:<hex>` when it has no address form)."""
    kind, payload = g.address_key(address_id)
    return utxo_text(kind, payload, network)


def address_activity(g: GraphIndex, address_id: int) -> dict[str, Any]:
    """Totals of an address: received/sent satoshi and counts, its transactions in chain order
    (height, then tx id), and per transaction what it received and sent."""
    outs = np.asarray(g.received_by(address_id), np.int64)
    values = np.asarray(g.out_value[outs], np.int64)
    spender = np.asarray(g.out_spent_by[outs], np.int64)
    spent = spender >= 0
    recv_tx = np.searchsorted(g.tx_first_out, outs, side="right") - 1
    txs = np.unique(np.concatenate([recv_tx, spender[spent]]))
    order = np.lexsort((txs, np.asarray(g.tx_height[txs])))
    txs = txs[order]
    got = np.zeros(txs.shape[0], np.int64)  # per transaction (in `txs` order): received, sent
    gave = np.zeros(txs.shape[0], np.int64)
    pos = np.argsort(txs)
    np.add.at(got, pos[np.searchsorted(txs[pos], recv_tx)], values)
    np.add.at(gave, pos[np.searchsorted(txs[pos], spender[spent])], values[spent])
    return {"txs": txs, "got": got, "gave": gave, "received": int(values.sum()), "sent": int(values[spent].sum()),
            "received_count": int(outs.size), "sent_count": int(spent.sum())}


def seen_at(g: GraphIndex, tx: int) -> SeenAt:
    height = int(g.tx_height[tx])
    return SeenAt(height=height if height >= 0 else None, time=iso(int(g.tx_time[tx])), txid=g.txid_hex(tx))


def page_of_txs(g: GraphIndex, act: dict[str, Any], start: int, limit: int) -> list[AddressTx]:
    """Transactions `start:start+limit` of an address's activity, with what it received and sent."""
    out: list[AddressTx] = []
    for i in range(start, min(start + limit, int(act["txs"].shape[0]))):
        tx, got, gave = int(act["txs"][i]), int(act["got"][i]), int(act["gave"][i])
        height = int(g.tx_height[tx])
        out.append(AddressTx(txid=g.txid_hex(tx), height=height if height >= 0 else None,
                             time=iso(int(g.tx_time[tx])), received=got, sent=gave))
    return out


def tx_position(g: GraphIndex, tx: int) -> tuple[int, int]:
    """The sort key of a transaction in address listings: (height, tx id)."""
    return int(g.tx_height[tx]), tx


def _hex(raw: Any) -> str | None:
    return bytes(raw)[::-1].hex() if raw is not None else None


def transaction(store: Store, g: GraphIndex, network: str, chain: str, tx: int,
                tags: Mapping[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Fields of `TransactionDetail` for transaction id `tx` of a UTXO chain."""
    p = chain.replace("-", "_")
    with store.query() as con:
        head = con.execute(
            f"""SELECT t.tx_index, t.size, t.vsize, t.weight, t.fee, t.input_value, t.output_value, b.hash
                FROM {p}_transactions t LEFT JOIN {p}_blocks b ON t.block_id = b.block_id
                WHERE t.tx_id = ?""", [tx]).fetchone()
        ins = con.execute(f"SELECT n, prev_txid, prev_vout, prev_output_id, value, address_id FROM {p}_inputs "
                          "WHERE tx_id = ? ORDER BY n", [tx]).fetchall()
        outs = con.execute(f"SELECT n, output_id, script_type, value, address_id FROM {p}_outputs "
                           "WHERE tx_id = ? ORDER BY n", [tx]).fetchall()
    names: dict[int, str] = {}

    def name(aid: int | None) -> str | None:
        if aid is None or aid < 0:
            return None
        if aid not in names:
            names[aid] = address_text(g, network, aid)
        return names[aid]

    coinbase = g.is_coinbase(tx)
    inputs: list[TxInput] = []
    for n, prev_txid, prev_vout, prev_oid, value, aid in ins:
        if coinbase:
            inputs.append(TxInput(n=int(n), coinbase=True, prevout=None, address=None, value=None,
                                  unresolved=False))
            continue
        known = prev_oid is not None and int(prev_oid) >= 0
        if known:
            aid = int(g.out_address[int(prev_oid)])
            value = int(g.out_value[int(prev_oid)])
        inputs.append(TxInput(n=int(n), coinbase=False, prevout=f"{_hex(prev_txid)}:{int(prev_vout)}",
                              address=name(int(aid)) if aid is not None else None,
                              value=int(value) if value is not None and int(value) >= 0 else None,
                              unresolved=not known and (value is None or int(value) < 0)))
    outputs: list[TxOutput] = []
    for n, oid, stype, value, aid in outs:
        spender = int(g.out_spent_by[int(oid)]) if int(oid) < g.n_outputs else -1
        spent_by = None
        if spender >= 0:
            pos = np.flatnonzero(np.asarray(g.inputs_of(spender)) == int(oid))
            spent_by = SpentBy(txid=g.txid_hex(spender), input=int(pos[0]) if pos.size else -1)
        outputs.append(TxOutput(n=int(n), address=name(int(aid)) if aid is not None else None,
                                script_type=ScriptType(int(stype)).export_name, value=int(value),
                                spent_by=spent_by))
    involved = sorted(names)
    tag_rows = [TxTag(address=names[a], category=t["category"], label=t["label"], source=t["source"],
                      confidence=t["confidence"]) for a in involved for t in tags.get(a, [])]
    height = int(g.tx_height[tx])
    tx_index, size, vsize, weight, fee, in_value, out_value, block_hash = head if head else (None,) * 8
    return {"txid": g.txid_hex(tx), "height": height if height >= 0 else None, "time": iso(int(g.tx_time[tx])),
            "block_hash": _hex(block_hash), "position": tx_index, "coinbase": coinbase,
            "fee": fee, "size": size, "vsize": vsize, "weight": weight, "input_value": in_value,
            "output_value": out_value, "inputs": inputs, "outputs": outputs, "tags": tag_rows}
