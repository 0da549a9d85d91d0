"""Change-output heuristics and their consensus.

`consensus(view)` returns, per transaction, the output believed to be change (a global index into the
view's output arrays, or -1), a confidence in [0, 1], and a bit mask of the heuristics that voted for
it (bit i = `HEURISTIC_NAMES[i]`). Clustering through change links the change output's address to the
transaction's input addresses when switched on, with a confidence floor.

How votes combine: the rules (in `heuristics_change`) each vote for at most one output. Agreeing
votes combine as independent evidence (noisy-or: 1 - prod(1 - c)); a vote for another output is
evidence against, so the winner's score is multiplied by (1 - the best rival's score). CoinJoins
(`coinjoin.detect` at or above `COINJOIN_FLOOR`) get no change: their outputs belong to many people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fundtrail.cluster import coinjoin
from fundtrail.cluster.heuristics_change import ROUND_UNIT, run_all
from fundtrail.cluster.heuristics_evidence import Evidence
from fundtrail.cluster.txview import TxView

#: Bit positions (permanent, stored) of the change heuristics in `ChangeResult.votes`.
HEURISTIC_NAMES: tuple[str, ...] = (
    "address_reuse", "script_type", "optimal_change", "round_payment", "fingerprint", "peel_chain",
)
#: Transactions detected as CoinJoins with at least this confidence get no change output.
COINJOIN_FLOOR = 0.5
#: Suggested floor for clustering through change: on simulated chains the consensus is >= 0.999
#: precise from 0.9 on, and from 0.95 on no change link made a false merge (docs/heuristics.md).
RECOMMENDED_FLOOR = 0.95


@dataclass(frozen=True)
class ChangeResult:
    """Per transaction: `out_index` (int64, -1 none), `confidence` (float32), `votes` (uint32 bits)."""

    out_index: np.ndarray
    confidence: np.ndarray
    votes: np.ndarray


def combine(cand: np.ndarray, conf: np.ndarray) -> ChangeResult:
    """Consensus of per-rule votes `cand`/`conf` (shape rules x transactions)."""
    n_rules, t = cand.shape
    voted = cand >= 0
    score = np.zeros((n_rules, t), np.float64)  # noisy-or of the rules agreeing with rule r
    bits = np.zeros((n_rules, t), np.uint32)
    for r in range(n_rules):
        agree = (cand == cand[r]) & voted & voted[r]
        score[r] = 1.0 - np.prod(np.where(agree, 1.0 - conf, 1.0), axis=0)
        bits[r] = (agree.astype(np.uint32) << np.arange(n_rules, dtype=np.uint32)[:, None]).sum(
            axis=0, dtype=np.uint32)
    cols = np.arange(t)
    w = score.argmax(axis=0)
    win = np.where(voted.any(axis=0), cand[w, cols], -1)
    rival = np.where(voted & (cand != win), score, 0.0).max(axis=0, initial=0.0)
    confidence = np.where(win >= 0, score[w, cols] * (1.0 - rival), 0.0).astype(np.float32)
    votes = np.where(win >= 0, bits[w, cols], 0).astype(np.uint32)
    return ChangeResult(win.astype(np.int64), confidence, votes)


def consensus(view: TxView) -> ChangeResult:
    """The consensus change output of every transaction of `view`."""
    t = len(view)
    if t == 0:
        return ChangeResult(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.uint32))
    cand, conf = run_all(view, np.arange(t, dtype=np.int64))
    res = combine(cand, conf)
    cj = coinjoin.detect(view)
    mixed = (cj.protocol != 0) & (cj.confidence >= COINJOIN_FLOOR)
    if mixed.any():
        res.out_index[mixed] = -1
        res.confidence[mixed] = 0
        res.votes[mixed] = 0
    return res


def per_rule(view: TxView) -> tuple[np.ndarray, np.ndarray]:
    """Each rule's own verdict on every transaction (rows in `HEURISTIC_NAMES` order)."""
    return run_all(view, np.arange(len(view), dtype=np.int64))


def explain(view: TxView, i: int) -> list[Evidence]:
    """Evidence for the change verdict of transaction `i`: each rule's vote, then the consensus."""
    i = coinjoin.checked_row(view, i)
    cand, conf = run_all(view, np.array([i], np.int64))
    res = consensus_one(view, i, cand, conf)
    first = int(view.out_ptr[i])
    ev: list[Evidence] = []
    for r, name in enumerate(HEURISTIC_NAMES):
        k = int(cand[r, 0])
        if k < 0:
            continue
        details = _output_facts(view, k, first)
        details.update(_rule_facts(view, i, name, k))
        details["agrees_with_consensus"] = bool(k == res[0])
        ev.append(Evidence(name, float(conf[r, 0]), int(view.tx_id[i]), details))
    if res[0] >= 0:
        details = _output_facts(view, res[0], first)
        details["votes"] = [n for b, n in enumerate(HEURISTIC_NAMES) if res[2] >> b & 1]
        ev.append(Evidence("change_consensus", res[1], int(view.tx_id[i]), details))
    return ev


def consensus_one(view: TxView, i: int, cand: np.ndarray, conf: np.ndarray) -> tuple[int, float, int]:
    """(output index, confidence, vote bits) for one transaction whose rule votes are given."""
    cj = coinjoin.explain(view, i)
    if cj and cj[0].confidence >= COINJOIN_FLOOR:
        return -1, 0.0, 0
    r = combine(cand, conf)
    return int(r.out_index[0]), float(r.confidence[0]), int(r.votes[0])


def _output_facts(view: TxView, k: int, first: int) -> dict[str, object]:
    return {"output_n": k - first, "output_id": int(view.out_id[k]),
            "address_id": int(view.out_address[k]), "value": int(view.out_value[k])}


def _rule_facts(view: TxView, i: int, name: str, k: int) -> dict[str, object]:
    """The facts each rule looked at, for the evidence of one vote."""
    a, b = int(view.in_ptr[i]), int(view.in_ptr[i + 1])
    if name == "address_reuse":
        to_input = int(view.out_address[k]) in set(view.in_address[a:b].tolist())
        return {"case": "self_change" if to_input else "only_fresh_output",
                "address_first_tx": int(view.out_addr_first_tx[k])}
    if name == "script_type":
        return {"input_script_type": int(view.in_script[a]), "output_script_type": int(view.out_script[k])}
    if name == "optimal_change":
        return {"smallest_input": int(view.in_value[a:b].min())}
    if name == "round_payment":
        return {"round_unit": ROUND_UNIT}
    if name == "fingerprint":
        return {"version": int(view.version[i]), "locktime": int(view.locktime[i]),
                "spent_by_tx": int(view.out_spent_by[k])}
    return {"continues_in_tx": int(view.out_spent_by[k])}
