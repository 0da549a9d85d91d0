"""Where a trace starts: an address, a transaction id or one output (`TXID:VOUT`), as output ids.

Seeds are parsed for the chain's network, so an address of another network or chain is a one-line
usage error, and a well-formed seed that the store does not hold is a not-found error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from fundtrail.chains.bitcoin.address import parse_address
from fundtrail.chains.bitcoin.params import network as network_by_name
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.ingest.bitcoin.decode import address_key, fingerprint
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.trace.graph import GraphIndex

_TXID = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Seed:
    """A parsed seed: what the user typed, its kind, and the output ids it stands for."""

    text: str
    kind: str  # "address", "transaction" or "output"
    outputs: list[int]
    address: int = -1
    tx: int = -1


def address_id(graph: GraphIndex, text: str) -> int:
    """Address id of an address string on the graph's chain; UsageError / NotFoundError."""
    net = network_by_name(bitcoin_network_of(graph.chain))
    kind, payload = address_key(*parse_address(text, net))
    found = graph.find_address(*fingerprint(int(kind), payload))
    if found < 0:
        raise NotFoundError(f"address {text} has no activity in the store's {graph.chain} chain")
    return found


def parse_seed(graph: GraphIndex, text: str, *, since: int | None = None,
               until: int | None = None) -> Seed:
    """The outputs a seed stands for: an address's received outputs (within since/until), a
    transaction's outputs, or one output."""
    raw = text.strip()
    if ":" in raw and _TXID.match(raw.split(":", 1)[0]):
        txid, vout_text = raw.split(":", 1)
        if not vout_text.isdigit():
            raise UsageError(f"seed {text!r}: output index {vout_text!r} is not a number (TXID:VOUT)")
        tx = _tx(graph, txid)
        outs = graph.outputs_of(tx)
        vout = int(vout_text)
        if vout >= len(outs):
            raise NotFoundError(f"transaction {txid} has {len(outs)} outputs; there is no output {vout}")
        return Seed(text, "output", [outs[vout]], tx=tx)
    if _TXID.match(raw):
        tx = _tx(graph, raw)
        return Seed(text, "transaction", list(graph.outputs_of(tx)), tx=tx)
    try:
        addr = address_id(graph, raw)
    except UsageError as exc:
        raise UsageError(f"seed {text!r} is not a txid, TXID:VOUT or {graph.chain} address: "
                         f"{exc.message}") from None
    outs = np.asarray(graph.received_by(addr))
    if since is not None or until is not None:
        times = graph.tx_time[[graph.tx_of_output(int(o)) for o in outs]] if outs.size else outs
        keep = np.ones(outs.shape, bool)
        if since is not None:
            keep &= times >= since
        if until is not None:
            keep &= times <= until
        outs = outs[keep]
    return Seed(text, "address", [int(o) for o in outs], address=addr)


def _tx(graph: GraphIndex, txid: str) -> int:
    tx = graph.find_tx(bytes.fromhex(txid)[::-1])
    if tx < 0:
        raise NotFoundError(f"transaction {txid} is not in the store's {graph.chain} chain")
    return tx
