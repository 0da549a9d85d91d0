"""Peel-chain following: from a seed output, hop by hop along the likely change output.

A peel chain pays a small slice out of a large coin and sends the remainder on as change, hop after
hop (Meiklejohn et al. 2013). A taint trace spreads over every output; an investigator following a
peel chain instead walks the change and notes each slice, as GraphSense's auto-follow does. Here
each hop is the transaction spending the current coin; the next coin is the output the change
heuristics agree on (`trace.marks`, the clustering layer's `change.consensus`), taken only at or
above `min_confidence`. Every other output of the hop is a *payment* (the peeled amount).

The walk stops, and says why: `unspent` (the coin is not spent: the remainder sits there),
`no_change` (no output is confidently change: the chain ends or turns into ordinary spending),
`coinjoin` (the coin entered a CoinJoin: no change is inferred there), `service` (the change lands
on a labelled service address), `hop_limit`. Each hop's change carries its confidence and the
rules that voted: a followed change is an inference, not an on-chain fact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fundtrail.chains.bitcoin.address import render_address
from fundtrail.chains.bitcoin.params import network as network_by_name
from fundtrail.errors import UsageError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store.lake import Store
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.marks import ChangeMark, CoinJoinMark, marks_for

#: Least consensus confidence for a change output to be followed. The consensus multiplies the
#: winner's support by (1 - the best rival's): a peel-chain vote (0.75-0.85) against one coincidental
#: fingerprint match (0.55) gives 0.34-0.38 and is still followed; two equal votes for different
#: outputs (0.7 x 0.3 = 0.21) are not. Following proposes a path to check, shown hop by hop with
#: its confidence; it merges nothing, hence a floor far below clustering's (0.95).
DEFAULT_MIN_CONFIDENCE = 0.3
DEFAULT_MAX_HOPS = 50
STOPS = ("unspent", "no_change", "coinjoin", "service", "hop_limit")

#: address id -> label of a service where following stops (None: keep going)
StopRule = Callable[[int], str | None]


@dataclass(frozen=True)
class Payment:
    """An output of a hop that is not the followed change: a peeled slice (or a payment)."""

    outpoint: str
    address: str | None
    value_sat: int
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"outpoint": self.outpoint, "address": self.address, "value_sat": self.value_sat,
                "label": self.label}


@dataclass(frozen=True)
class Hop:
    """One transaction of the chain: the coin it spent, its payments, the change followed on."""

    n: int
    txid: str
    height: int
    time: int
    spent: str
    inputs: int
    value_in_sat: int
    payments: list[Payment]
    change: Payment | None
    change_mark: ChangeMark | None
    coinjoin: CoinJoinMark | None

    def to_json(self) -> dict[str, Any]:
        ch = None
        if self.change is not None and self.change_mark is not None:
            ch = {**self.change.to_json(), "confidence": round(self.change_mark.confidence, 4),
                  "votes": list(self.change_mark.votes)}
        return {"hop": self.n, "txid": self.txid, "height": self.height, "time": self.time,
                "spent": self.spent, "inputs": self.inputs, "value_in_sat": self.value_in_sat,
                "payments": [p.to_json() for p in self.payments],
                "paid_sat": sum(p.value_sat for p in self.payments), "change": ch,
                "coinjoin": self.coinjoin.to_json() if self.coinjoin else None}


@dataclass
class PeelChain:
    """The walk from one seed output: hops in order, where it ended and why."""

    seed: str
    seed_value_sat: int
    hops: list[Hop] = field(default_factory=list)
    stop: str = "hop_limit"
    end: str = ""
    end_value_sat: int = 0
    end_label: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "seed_value_sat": self.seed_value_sat,
                "hops": [h.to_json() for h in self.hops],
                "paid_sat": sum(p.value_sat for h in self.hops for p in h.payments),
                "stop": self.stop, "end": self.end, "end_value_sat": self.end_value_sat,
                "end_label": self.end_label}


@dataclass
class FollowResult:
    """Peel chains from each seed output, with the limits used."""

    chain: str
    seed_input: str
    min_confidence: float
    max_hops: int
    chains: list[PeelChain]

    def to_json(self) -> dict[str, Any]:
        return {"chain": self.chain, "seed": self.seed_input, "mode": "follow_change",
                "min_confidence": self.min_confidence, "max_hops": self.max_hops,
                "chains": [c.to_json() for c in self.chains]}


_STOP_TEXT = {
    "unspent": "the remainder is unspent here (funds sit there: a freeze target)",
    "no_change": "no output is confidently change: the chain ends here",
    "coinjoin": "the coin entered a CoinJoin: no change is inferred there",
    "service": "the change reached a labelled service",
    "hop_limit": "hop limit reached",
}


def follow_change(store: Store, graph: GraphIndex, seed_outputs: Iterable[int], *,
                  seed_input: str = "", max_hops: int = DEFAULT_MAX_HOPS,
                  min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                  stop: StopRule | None = None) -> FollowResult:
    """Follow the likely change from each of `seed_outputs` (graph output ids); module docstring."""
    if max_hops < 1:
        raise UsageError("hops must be at least 1", field="hops")
    if not 0.0 <= min_confidence <= 1.0:
        raise UsageError(f"change_confidence must be between 0 and 1, not {min_confidence}",
                         field="change_confidence")
    names = _Names(graph)
    chains = []
    for o in sorted({int(x) for x in seed_outputs}):
        if not 0 <= o < graph.n_outputs:
            raise UsageError(f"seed output id {o} is not in the graph index of {graph.chain}")
        chains.append(_walk(store, graph, names, o, max_hops, min_confidence, stop))
    return FollowResult(graph.chain, seed_input, min_confidence, max_hops, chains)


def _walk(store: Store, g: GraphIndex, names: _Names, seed: int, max_hops: int, floor: float,
          stop: StopRule | None) -> PeelChain:
    pc = PeelChain(names.outpoint(seed), int(g.out_value[seed]))
    cur = seed
    for n in range(1, max_hops + 1):
        tx = int(g.out_spent_by[cur])
        if tx < 0:
            pc.stop = "unspent"
            break
        mk = marks_for(store, g.chain, [tx]).get(tx)
        cj = mk.coinjoin if mk and mk.coinjoin and mk.coinjoin.confidence >= 0.5 else None
        ch = mk.change if mk and not cj and mk.change and mk.change.confidence >= floor else None
        outs = list(g.outputs_of(tx))
        pays = [names.payment(o, stop) for o in outs if (ch is None or o != ch.output)
                and int(g.out_value[o]) > 0]
        prevs = [int(p) for p in g.inputs_of(tx)]
        pc.hops.append(Hop(n, g.txid_hex(tx), int(g.tx_height[tx]), int(g.tx_time[tx]),
                           names.outpoint(cur), len(prevs),
                           sum(int(g.out_value[p]) for p in prevs if p >= 0), pays,
                           names.payment(ch.output, stop) if ch else None, ch, cj))
        if cj is not None or ch is None:
            pc.stop = "coinjoin" if cj is not None else "no_change"
            break
        cur = ch.output
        label = stop(int(g.out_address[cur])) if stop and g.out_address[cur] >= 0 else None
        if label is not None:
            pc.stop, pc.end_label = "service", label
            break
    else:
        pc.stop = "hop_limit"
    pc.end, pc.end_value_sat = names.outpoint(cur), int(g.out_value[cur])
    return pc


class _Names:
    def __init__(self, graph: GraphIndex) -> None:
        self.g = graph
        self.net = network_by_name(bitcoin_network_of(graph.chain))

    def outpoint(self, o: int) -> str:
        tx = self.g.tx_of_output(o)
        return f"{self.g.txid_hex(tx)}:{o - int(self.g.tx_first_out[tx])}"

    def payment(self, o: int, stop: StopRule | None) -> Payment:
        a = int(self.g.out_address[o])
        text = render_address(*self.g.address_key(a), self.net) if a >= 0 else None
        return Payment(self.outpoint(o), text, int(self.g.out_value[o]),
                       stop(a) if stop is not None and a >= 0 else None)


def render_text(doc: dict[str, Any]) -> str:
    """The follower's JSON (`FollowResult.to_json`) as a report an investigator reads."""
    lines = [f"Peel-chain follow of {doc['seed']} on {doc['chain']}: change outputs with consensus "
             f"confidence >= {doc['min_confidence']:g}, up to {doc['max_hops']} hops "
             "(followed change is an inference, not a fact)."]
    for c in doc["chains"]:
        lines.append(f"\nFrom {c['seed']} ({c['seed_value_sat'] / 1e8:,.8f} BTC):")
        for h in c["hops"]:
            lines.append(f"  hop {h['hop']:>3}  {h['txid']}  block {h['height']}, "
                         f"{h['inputs']} input(s)")
            for p in h["payments"]:
                tag = f" [{p['label']}]" if p["label"] else ""
                lines.append(f"           paid   {p['value_sat'] / 1e8:>16,.8f} BTC  "
                             f"{p['address'] or '(no address)'}{tag}")
            if h["change"]:
                ch = h["change"]
                lines.append(f"           change {ch['value_sat'] / 1e8:>16,.8f} BTC  {ch['address']}"
                             f"  (confidence {ch['confidence']:.2f}: {', '.join(ch['votes'])})")
            if h["coinjoin"]:
                lines.append(f"           CoinJoin: {h['coinjoin']['protocol']} (confidence "
                             f"{h['coinjoin']['confidence']:.2f})")
        lines.append(f"  stopped: {_STOP_TEXT[c['stop']]}; at {c['end']} "
                     f"({c['end_value_sat'] / 1e8:,.8f} BTC)"
                     + (f" [{c['end_label']}]" if c["end_label"] else ""))
        lines.append(f"  paid out along the chain: {c['paid_sat'] / 1e8:,.8f} BTC in "
                     f"{sum(len(h['payments']) for h in c['hops'])} payment(s)")
    return "\n".join(lines)
