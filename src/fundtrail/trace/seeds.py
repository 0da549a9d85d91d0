"""Where a trace starts: an address, a transaction id or one output (`TXID:VOUT`), as output ids.

Seeds are parsed for the chain's network, so an address of another network or chain is a one-line
usage error, and a well-formed seed that the store does not hold is a not-found error. Several
seeds (arguments, or a file of them: `read_seed_file`) are traced together as one seed set, the
union of their outputs (docs/tracing.md, "Seed sets").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fundtrail.chains.resolve import parse_utxo_address
from fundtrail.errors import DataError, FundtrailError, NotFoundError, UsageError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.model.textfiles import read_table, read_text
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
    """Address id of an address string on the graph's chain; UsageError / NotFoundError.

    The one Bitcoin-family rule (`chains.resolve`: the address's fingerprint, as ingest assigned
    ids by), looked up in the loaded index as `store.addresses.utxo_address_id` does; the errors
    name no request field, so a caller can name its own (a seed, a stop list)."""
    try:
        addr = parse_utxo_address(text, bitcoin_network_of(graph.chain))
    except UsageError as exc:
        raise UsageError(exc.message, hint=exc.hint) from None
    found = graph.find_address(addr.fp1, addr.fp2)
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
    received = np.asarray(graph.received_by(addr))
    if since is not None or until is not None:
        times = graph.tx_time[[graph.tx_of_output(int(o)) for o in received]] if received.size else received
        keep = np.ones(received.shape, np.bool_)
        if since is not None:
            keep &= times >= since
        if until is not None:
            keep &= times <= until
        received = received[keep]
    return Seed(text, "address", [int(o) for o in received], address=addr)


def _tx(graph: GraphIndex, txid: str) -> int:
    tx = graph.find_tx(bytes.fromhex(txid)[::-1])
    if tx < 0:
        raise NotFoundError(f"transaction {txid} is not in the store's {graph.chain} chain")
    return tx


#: A seed as typed and the file line it came from ("seeds.csv:7"; None: a command-line argument).
SeedText = tuple[str, str | None]


def read_seed_file(path: Path | str, *, max_field_kb: int = 1024) -> list[SeedText]:
    """Seeds of a file ('-': standard input): one per line ('#' comments; text after a comma
    ignored), or a CSV sheet with a `seed` column (other columns ignored). An empty `seed` cell is
    a DataError naming `file:line`; the file is read as Excel and Windows write it (model.textfiles)."""
    where = "<stdin>" if str(path) == "-" else str(path)
    text = read_text(path)
    lines = [(n, ln.strip()) for n, ln in enumerate(text.split("\n"), 1)
             if ln.strip() and not ln.strip().startswith("#")]
    header = [c.strip().lower() for c in re.split(r"[,;\t]", lines[0][1])] if lines else []
    out: list[SeedText] = []
    if "seed" in header and len(header) > 1 and str(path) != "-":
        table = read_table(path, max_field_kb=max_field_kb)
        col = table.column("seed")
        empty = []
        for row, line in zip(table.rows, table.lines):
            cell = (row.get(col) or "").strip()
            if cell:
                out.append((cell, f"{where}:{line}"))
            else:
                empty.append(f"{where}:{line}")
        if empty:
            more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
            raise DataError(f"{empty[0]}: empty seed cell{more}")
    else:
        if header[:1] == ["seed"]:  # a one-column sheet (or one read from stdin): skip its header
            lines = lines[1:]
        out = [(re.split(r"[,;\t]", line, maxsplit=1)[0].strip(), f"{where}:{n}") for n, line in lines]
    if not out:
        raise DataError(f"{where}: no seeds in the file")
    return out


def parse_seeds(graph: GraphIndex, texts: Sequence[SeedText], *, since: int | None = None,
                until: int | None = None) -> list[Seed]:
    """Every seed parsed; bad ones are reported together, each with where it came from (one line).

    A malformed seed is a UsageError for an argument and a DataError for a file row; a seed the
    store does not hold is a NotFoundError."""
    seeds: list[Seed] = []
    bad: list[tuple[str | None, FundtrailError]] = []
    for text, where in texts:
        try:
            seeds.append(parse_seed(graph, text, since=since, until=until))
        except (UsageError, NotFoundError) as exc:
            bad.append((where, exc))
    if bad:
        where, first = bad[0]
        others = [w or "an argument" for w, _ in bad[1:4]] + (["…"] if len(bad) > 4 else [])
        more = f" (and {len(bad) - 1} more bad seed(s): {', '.join(others)})" if len(bad) > 1 else ""
        message = f"{where}: {first.message}{more}" if where else f"{first.message}{more}"
        # `seeds` is the request field of a trace (the API's body field; `_field` names another
        # for a single seed, e.g. paths' source), so an interface can point at what to correct.
        if isinstance(first, NotFoundError):
            raise NotFoundError(message, field="seeds")
        raise (DataError if where else UsageError)(message, field="seeds")
    return seeds
