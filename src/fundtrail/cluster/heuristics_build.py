"""Build a `TxView` from plain transaction descriptions, without a store.

Heuristics take a `TxView`; this builder makes one from a few hand-described transactions: unit
tests with known answers, reviewing one transaction an analyst pasted, or transactions decoded from
elsewhere. An input either spends an output of an earlier transaction of the same list (`prev`, the
value, address and script are then taken from it and the output is marked spent) or describes a
coin from outside the list; `None` values and addresses model unresolved inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fundtrail.cluster.txview import UNKNOWN, TxView
from fundtrail.errors import UsageError

P2WPKH = 4
FINAL = 0xFFFFFFFF


@dataclass(frozen=True)
class In:
    """An input: `prev` = (index of an earlier Tx in the list, output n), or a coin from outside."""

    address: int | None = None
    value: int | None = None
    script: int = P2WPKH
    sequence: int = FINAL
    prev: tuple[int, int] | None = None


@dataclass(frozen=True)
class Out:
    """An output paying `address` (None: no address, e.g. OP_RETURN with script 8)."""

    address: int | None
    value: int
    script: int = P2WPKH


@dataclass(frozen=True)
class Tx:
    """A transaction; `coinbase` ones have no inputs."""

    ins: Sequence[In] = ()
    outs: Sequence[Out] = ()
    version: int = 2
    locktime: int = 0
    coinbase: bool = False
    height: int = 0
    time: int = 0


def build_view(txs: Sequence[Tx], first_tx_id: int = 100, first_output_id: int = 1000) -> TxView:
    """A `TxView` of `txs` (tx ids from `first_tx_id`, output ids from `first_output_id`).

    An address's first appearance is the first output paying it in the list; an address seen
    first as the input of an outside coin counts as used before the list.
    """
    out_base: list[int] = []
    n_out = 0
    for t in txs:
        out_base.append(first_output_id + n_out)
        n_out += len(t.outs)
    first_seen: dict[int, int] = {}
    spent = np.full(n_out, UNKNOWN, np.int64)
    cols: dict[str, list] = {k: [] for k in ("ia", "iv", "is", "iq", "ip", "oa", "ov", "os")}
    in_ptr, out_ptr = [0], [0]
    for ti, t in enumerate(txs):
        tid = first_tx_id + ti
        for inp in t.ins:
            addr, value, script, prev_id = inp.address, inp.value, inp.script, UNKNOWN
            if inp.prev is not None:
                pt, pn = inp.prev
                if not 0 <= pt < ti or not 0 <= pn < len(txs[pt].outs):
                    raise UsageError(f"tx {ti}: input prev {inp.prev} names no earlier output")
                o = txs[pt].outs[pn]
                addr, value, script = o.address, o.value, o.script
                prev_id = out_base[pt] + pn
                spent[prev_id - first_output_id] = tid
            elif addr is not None:
                first_seen.setdefault(addr, first_tx_id - 1)
            cols["ia"].append(UNKNOWN if addr is None else addr)
            cols["iv"].append(UNKNOWN if value is None else value)
            cols["is"].append(0 if value is None and inp.prev is None and addr is None else script)
            cols["iq"].append(inp.sequence)
            cols["ip"].append(prev_id)
        for o in t.outs:
            if o.address is not None:
                first_seen.setdefault(o.address, tid)
            cols["oa"].append(UNKNOWN if o.address is None else o.address)
            cols["ov"].append(o.value)
            cols["os"].append(o.script)
        in_ptr.append(len(cols["ia"]))
        out_ptr.append(len(cols["oa"]))
    oa = np.array(cols["oa"], np.int64)
    first = np.array([first_seen.get(a, UNKNOWN) if a >= 0 else UNKNOWN for a in oa], np.int64)
    return TxView(
        tx_id=np.arange(first_tx_id, first_tx_id + len(txs), dtype=np.int64),
        height=np.array([t.height for t in txs], np.int64),
        time=np.array([t.time for t in txs], np.int64),
        version=np.array([t.version for t in txs], np.int64),
        locktime=np.array([t.locktime for t in txs], np.int64),
        is_coinbase=np.array([t.coinbase for t in txs], np.bool_),
        in_ptr=np.array(in_ptr, np.int64),
        in_address=np.array(cols["ia"], np.int64),
        in_value=np.array(cols["iv"], np.int64),
        in_script=np.array(cols["is"], np.uint8),
        in_sequence=np.array(cols["iq"], np.int64),
        in_prev_output=np.array(cols["ip"], np.int64),
        out_ptr=np.array(out_ptr, np.int64),
        out_id=np.arange(first_output_id, first_output_id + n_out, dtype=np.int64),
        out_address=oa,
        out_value=np.array(cols["ov"], np.int64),
        out_script=np.array(cols["os"], np.uint8),
        out_addr_first_tx=first,
        out_spent_by=spent,
    )
