"""One-line definitions of the taint policies and heuristics an evidence bundle names.

The manifest states the convention behind every amount and the rule behind every inference, so a
reader of the bundle alone knows what was assumed. The wording condenses docs/taint-policies.md and
docs/heuristics.md (the full definitions, sources and measured error rates live there).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

POLICIES: dict[str, str] = {
    "poison": "any tainted input taints every output in full, and the whole fee (reachability; amounts are "
              "not conserved)",
    "haircut": "each output and the fee get the transaction's tainted share of its inputs, pro rata "
               "(value x tainted / total inputs)",
    "fifo": "inputs laid end to end in input order, outputs in output order from the same origin, fee last; "
            "an output's taint is its overlap with the tainted input segments (Clayton's rule)",
    "lifo": "as fifo, but the inputs are laid end to end in reverse order (the last coin spent is paid out "
            "first)",
    "tiho": "the tainted amount fills the largest outputs first, then the fee (tainted in, highest out)",
}

HEURISTICS: dict[str, str] = {
    # clustering links
    "multi_input": "common-input ownership: the addresses spending the inputs of one transaction (not a "
                   "CoinJoin) belong to one wallet",
    "change": "the consensus change output's address belongs to the wallet of the transaction's inputs",
    "deposit": "an account paying an exchange deposit address that forwards to the exchange's hot wallet is "
               "linked with that deposit address",
    "delegation": "a TRON account delegating energy or bandwidth (DelegateResource) to another is linked with it "
                  "(opt-in: energy-rental services delegate to strangers)",
    "manual_merge": "an analyst's override joining two addresses' clusters, with its stated reason",
    "manual_split": "an analyst's override taking addresses out into a cluster of their own, with its reason",
    # change rules (votes on a trace's nodes)
    "address_reuse": "change: the output paid back to an input address, or the only output to a new address",
    "script_type": "change: the one output whose script type equals that of all inputs",
    "optimal_change": "change: the one output smaller than every input",
    "round_payment": "change: the one non-round output when all others are round",
    "fingerprint": "change: the one output spent by a transaction with the same wallet fingerprint",
    "peel_chain": "change: the larger output of a 1-input, 2-output peel step that continues the chain",
    # CoinJoin detectors (a trace node's `coinjoin.protocol`)
    "wasabi2": "CoinJoin: a WabiSabi (Wasabi 2.x) round (many segwit inputs and outputs at its denominations)",
    "wasabi1": "CoinJoin: a ZeroLink (Wasabi 1.x) round (>= 10 equal outputs of about 0.1 BTC)",
    "whirlpool_mix": "CoinJoin: a Whirlpool mix (5-10 equal pool-sized outputs)",
    "whirlpool_tx0": "Whirlpool tx0: one user's premix transaction (not collaborative)",
    "joinmarket": "CoinJoin: a JoinMarket round (>= 3 equal outputs plus change, bounded inputs)",
    "generic": "CoinJoin: equal-value outputs from at least as many distinct input addresses (BlockSci rule)",
}


def policy_terms(policies: Iterable[str | None]) -> dict[str, str]:
    """The definitions of the named policies (an unknown name says so rather than vanishing)."""
    return {p: POLICIES.get(p, "no definition on record (see docs/taint-policies.md)")
            for p in sorted({p for p in policies if p})}


def trace_heuristics(result: dict[str, Any]) -> set[str]:
    """Heuristic names a saved trace's graph shows: change votes and CoinJoin protocols of its nodes."""
    names: set[str] = set()
    for node in (result.get("graph") or {}).get("nodes") or []:
        change = node.get("change") or {}
        names.update(str(v) for v in change.get("votes") or [])
        coinjoin = node.get("coinjoin") or {}
        if coinjoin.get("protocol"):
            names.add(str(coinjoin["protocol"]))
    return names


def heuristic_terms(names: Iterable[str]) -> dict[str, str]:
    """The definitions of the named heuristics (an unknown one says where to look)."""
    return {h: HEURISTICS.get(h, "no definition on record (see docs/heuristics.md)") for h in sorted(set(names))}
