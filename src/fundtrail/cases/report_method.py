"""The measured error rates a court report quotes for the heuristics a case relies on.

The figures are those of docs/heuristics.md ("Quality": `benchmarks/bench_cluster_quality.py
--txs 100000 --seed 3`, a simulated chain with the simulator's truth). They are kept here as data
so a report can cite them, and a test checks that every row still reads the same in
docs/heuristics.md: when the benchmark is rerun and the page updated, the test says to update this.
"""

from __future__ import annotations

from typing import Any

#: Where the figures come from (shown in the report's methodology).
SOURCE = "docs/heuristics.md, Quality: benchmarks/bench_cluster_quality.py --txs 100000 --seed 3"

#: Change rules: (rule, outputs predicted, precision, coverage).
CHANGE_RULES: tuple[tuple[str, int, str, str], ...] = (
    ("address_reuse", 18528, "1.0", "0.1889"),
    ("script_type", 52431, "0.9107", "0.5345"),
    ("optimal_change", 9144, "1.0", "0.0932"),
    ("round_payment", 27326, "0.9997", "0.2785"),
    ("fingerprint", 32122, "0.5031", "0.3274"),
    ("peel_chain", 55677, "0.9544", "0.5676"),
    ("consensus >= 0.5", 72282, "0.9659", "0.7367"),
    ("consensus >= 0.7", 64269, "0.9872", "0.6551"),
    ("consensus >= 0.9", 36232, "0.9999", "0.3693"),
    ("consensus >= 0.95", 23312, "1.0", "0.2376"),
)

#: Clustering: (heuristics, clusters, pairwise precision, pairwise recall, false merges).
CLUSTERING: tuple[tuple[str, int, str, str, int], ...] = (
    ("multi_input", 142580, "1.0", "0.0426", 0),
    ("multi_input+change@0.9", 109198, "0.9986", "0.0455", 4),
    ("multi_input+change@0.95", 121718, "1.0", "0.0442", 0),
)

#: CoinJoin detection: (protocol, true, detected, recall, protocol right, flagged, precision).
COINJOINS: tuple[tuple[str, int, int, str, str, int, str], ...] = (
    ("joinmarket", 18, 18, "1.0", "1.0", 18, "1.0"),
    ("wasabi1", 8, 8, "1.0", "1.0", 8, "1.0"),
    ("wasabi2", 8, 8, "1.0", "1.0", 8, "1.0"),
    ("whirlpool_mix", 70, 70, "1.0", "1.0", 70, "1.0"),
    ("whirlpool_tx0", 21, 21, "1.0", "1.0", 21, "1.0"),
)

POLICIES = ("poison", "haircut", "fifo", "lifo", "tiho")


def used(traces: list[dict[str, Any]]) -> dict[str, Any]:
    """The heuristics the saved traces rest on, with their measured rates: the change rules that
    voted on a traced transaction, the CoinJoin protocols detected on one, and address clustering
    when an attribution was inherited through a cluster."""
    votes: set[str] = set()
    protocols: set[str] = set()
    inherited = False
    for t in traces:
        result = t.get("result") or {}
        for node in (result.get("graph") or {}).get("nodes") or []:
            change = node.get("change") or {}
            votes.update(change.get("votes") or [])
            if node.get("coinjoin"):
                protocols.add(str(node["coinjoin"].get("protocol")))
        for e in result.get("endpoints") or []:
            inherited = inherited or any(tag.get("inherited_from") for tag in e.get("tags") or [])
    change_rows = [r for r in CHANGE_RULES if r[0] in votes or (votes and r[0].startswith("consensus"))]
    return {"change": change_rows, "coinjoin": [r for r in COINJOINS if r[0] in protocols],
            "clustering": list(CLUSTERING) if inherited else [], "source": SOURCE}
