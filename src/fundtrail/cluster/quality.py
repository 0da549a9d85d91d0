"""How good the heuristics are, measured against a simulated chain's ground truth.

The simulator (`fundtrail.sim`) writes who signed every transaction (`truth/transactions.csv`), who
owns every address (`truth/addresses.csv`) and which transactions are CoinJoins
(`truth/coinjoins.csv`, when the simulator makes them). After the chain is ingested, `measure`
runs the detectors on the store and reports:

- CoinJoin precision and recall per protocol, and false positives by ordinary pattern;
- per change rule and for the consensus: precision (the chosen output is the signer's own) and
  coverage (share of transactions that have a change output to find where the rule chose one);
- clustering by a small union-find of its own over multi-input links (CoinJoins skipped), with and
  without change links: pairwise precision and recall and the number of false merges (clusters
  holding addresses of more than one true actor). This is a measuring tool, not the product engine.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba as nb
import numpy as np

from fundtrail.chains.bitcoin.address import render_address
from fundtrail.chains.bitcoin.params import NETWORKS
from fundtrail.cluster import change, coinjoin
from fundtrail.cluster.txview import TxView, load_txview
from fundtrail.errors import DataError

Progress = Callable[[str], None]
FLOORS = (0.5, 0.7, 0.9, 0.95)


@dataclass(frozen=True)
class SimTruth:
    """Ground truth of a simulated chain, keyed by display txid and address string."""

    tx_actor: dict[str, str]
    tx_pattern: dict[str, str]
    addr_actor: dict[str, str]
    coinjoins: dict[str, str] | None  # txid -> protocol name; None when the file is absent


def _rows(path: Path, need: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path}: ground-truth file not found (is this a `fundtrail simulate` output?)")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}, line 1: missing column(s) {', '.join(missing)}")
        return list(reader)


def load_truth(sim_dir: Path) -> SimTruth:
    """Read `truth/*.csv` of a simulator output directory (or of its `instructor/` part)."""
    root = sim_dir / "truth" if (sim_dir / "truth").is_dir() else sim_dir / "instructor" / "truth"
    txs = _rows(root / "transactions.csv", ("txid", "actor", "pattern"))
    addrs = _rows(root / "addresses.csv", ("address", "actor"))
    cj_path = root / "coinjoins.csv"
    cjs = ({r["txid"]: r["protocol"] for r in _rows(cj_path, ("txid", "protocol"))}
           if cj_path.is_file() else None)
    return SimTruth({r["txid"]: r["actor"] for r in txs}, {r["txid"]: r["pattern"] for r in txs},
                    {r["address"]: r["actor"] for r in addrs}, cjs)


@dataclass(frozen=True)
class Labels:
    """Truth aligned with a `TxView`: actor codes per transaction and per address id."""

    tx_actor: np.ndarray  # int64 per view transaction, -1 unknown
    tx_pattern: list[str]
    tx_protocol: list[str]  # "" when not a CoinJoin
    addr_actor: np.ndarray  # int64 per address id, -1 unknown
    actors: list[str]


def label(con: Any, chain: str, view: TxView, truth: SimTruth, network: str = "regtest") -> Labels:
    """Align the truth with the view through txids and rendered addresses."""
    p = chain.replace("-", "_")
    net = NETWORKS[network]
    codes: dict[str, int] = {}

    def code(actor: str) -> int:
        return codes.setdefault(actor, len(codes))

    txids = con.sql(f"SELECT tx_id, txid FROM {p}_transactions ORDER BY tx_id").fetchall()
    hex_of = {int(t): bytes(h)[::-1].hex() for t, h in txids}
    tx_hex = [hex_of.get(int(t), "") for t in view.tx_id]
    tx_actor = np.array([code(truth.tx_actor[h]) if h in truth.tx_actor else -1 for h in tx_hex],
                        np.int64)
    addrs = con.sql(f"SELECT address_id, script_type, payload FROM {p}_addresses").fetchall()
    size = max((int(a) for a, _, _ in addrs), default=-1) + 1
    addr_actor = np.full(size, -1, np.int64)
    for aid, st, payload in addrs:
        text = render_address(int(st), bytes(payload), net)
        if text is not None and text in truth.addr_actor:
            addr_actor[int(aid)] = code(truth.addr_actor[text])
    cj = truth.coinjoins or {}
    return Labels(tx_actor, [truth.tx_pattern.get(h, "") for h in tx_hex],
                  [cj.get(h, "") for h in tx_hex], addr_actor, sorted(codes, key=codes.__getitem__))


def coinjoin_quality(res: coinjoin.CoinJoinResult, lab: Labels, floor: float = 0.5) -> dict[str, Any]:
    """Recall per true protocol, precision per detected protocol, false positives by pattern."""
    flagged = (res.protocol != 0) & (res.confidence >= floor)
    truth = np.array([bool(x) for x in lab.tx_protocol])
    per: dict[str, dict[str, Any]] = {}
    for name in sorted({x for x in lab.tx_protocol if x}):
        rows = np.array([x == name for x in lab.tx_protocol])
        matching = [c for c, n in coinjoin.PROTOCOL_NAMES.items() if n == name]
        same = rows & flagged & (res.protocol == (matching[0] if matching else 255))
        per[name] = {"true": int(rows.sum()), "detected": int((rows & flagged).sum()),
                     "recall": _ratio((rows & flagged).sum(), rows.sum()),
                     "protocol_right": _ratio(same.sum(), rows.sum())}
    for code, name in coinjoin.PROTOCOL_NAMES.items():
        pred = flagged & (res.protocol == code)
        if code and pred.any():
            per.setdefault(name, {})["flagged"] = int(pred.sum())
            per[name]["precision"] = _ratio((pred & truth).sum(), pred.sum())
    fp = Counter(lab.tx_pattern[i] or "?" for i in np.flatnonzero(flagged & ~truth))
    return {"floor": floor, "truth_available": bool(truth.any()) or None, "protocols": per,
            "flagged": int(flagged.sum()), "false_positives": int((flagged & ~truth).sum()),
            "false_positives_by_pattern": dict(fp.most_common()),
            "precision": _ratio((flagged & truth).sum(), flagged.sum()),
            "recall": _ratio((flagged & truth).sum(), truth.sum())}


def _ratio(a: Any, b: Any) -> float | None:
    return round(float(a) / float(b), 4) if b else None


def change_truth(view: TxView, lab: Labels, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output: owned by the signer; per tx: eligible (coin outputs of both the signer and others)."""
    n_out = view.n_outputs()
    owner_tx = np.repeat(np.arange(len(view)), n_out)
    oa = view.out_address
    coin = (oa >= 0) & (view.out_script != 8)
    actor = np.where(coin & (oa < lab.addr_actor.size), lab.addr_actor[np.clip(oa, 0, None)], -1)
    own = coin & (actor >= 0) & (actor == lab.tx_actor[owner_tx])
    foreign = coin & ~own
    has_own = np.bincount(owner_tx, own, len(view)) > 0
    has_foreign = np.bincount(owner_tx, foreign, len(view)) > 0
    eligible = has_own & has_foreign & ~view.is_coinbase & ~skip & (lab.tx_actor >= 0)
    return own, eligible


def _score(cand: np.ndarray, conf: np.ndarray, own: np.ndarray, eligible: np.ndarray,
           floor: float) -> dict[str, Any]:
    pred = (cand >= 0) & (conf >= floor)
    right = pred & own[np.clip(cand, 0, None)]
    return {"predicted": int(pred.sum()), "precision": _ratio(right.sum(), pred.sum()),
            "coverage": _ratio((pred & eligible).sum(), eligible.sum())}


def change_quality(view: TxView, lab: Labels, cj: coinjoin.CoinJoinResult) -> dict[str, Any]:
    """Precision and coverage of each change rule and of the consensus at several floors."""
    skip = (cj.protocol != 0) & (cj.confidence >= change.COINJOIN_FLOOR)
    own, eligible = change_truth(view, lab, skip)
    cand, conf = change.per_rule(view)
    cand = np.where(skip, -1, cand)
    rules = {name: _score(cand[r], conf[r], own, eligible, 0.0)
             for r, name in enumerate(change.HEURISTIC_NAMES)}
    res = change.consensus(view)
    cons = {f"{fl:g}": _score(res.out_index, res.confidence, own, eligible, fl) for fl in FLOORS}
    return {"eligible": int(eligible.sum()), "rules": rules, "consensus": cons}


@nb.njit(cache=True)
def _find(parent, x):  # pragma: no cover - numba
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@nb.njit(cache=True)
def _union_all(parent, a, b):  # pragma: no cover - numba
    for k in range(a.shape[0]):
        ra, rb = _find(parent, a[k]), _find(parent, b[k])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    for x in range(parent.shape[0]):
        parent[x] = _find(parent, x)


def cluster_links(view: TxView, cj: coinjoin.CoinJoinResult, chg: change.ChangeResult | None,
                  change_floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Address pairs to merge: every input address with the tx's first resolved one, and change with it."""
    keep = ~view.is_coinbase & ~((cj.protocol != 0) & (cj.confidence >= change.COINJOIN_FLOOR))
    in_tx = np.repeat(np.arange(len(view)), view.n_inputs())
    a = view.in_address
    first = np.full(len(view), -1, np.int64)  # each transaction's first resolved input address
    known = np.flatnonzero(a >= 0)
    txs, at = np.unique(in_tx[known], return_index=True)
    first[txs] = a[known][at]
    b = first[in_tx]
    ok = keep[in_tx] & (a >= 0) & (b >= 0)
    links_a, links_b = [a[ok]], [b[ok]]
    if chg is not None:
        has_in = view.n_inputs() > 0
        sel = keep & has_in & (chg.out_index >= 0) & (chg.confidence >= change_floor)
        ca = view.out_address[chg.out_index[sel]]
        cb = first[sel]
        good = (ca >= 0) & (cb >= 0)
        links_a.append(ca[good])
        links_b.append(cb[good])
    return np.concatenate(links_a).astype(np.int64), np.concatenate(links_b).astype(np.int64)


def cluster_quality(addr_actor: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Pairwise precision/recall and false merges of the union-find over links `a`-`b`."""
    n = addr_actor.size
    parent = np.arange(n, dtype=np.int64)
    _union_all(parent, a, b)
    known = addr_actor >= 0
    root, actor = parent[known], addr_actor[known]
    cells = np.unique(root * (int(actor.max(initial=0)) + 1) + actor, return_counts=True)[1]
    tp = int((cells * (cells - 1) // 2).sum())
    sizes = np.unique(root, return_counts=True)[1]
    pred = int((sizes * (sizes - 1) // 2).sum())
    asz = np.unique(actor, return_counts=True)[1]
    true = int((asz * (asz - 1) // 2).sum())
    pairs = np.unique(np.stack([root, actor]), axis=1)
    per_root = np.unique(pairs[0], return_counts=True)[1]
    return {"addresses": int(known.sum()), "clusters": int(sizes.size), "links": int(a.size),
            "pairwise_precision": _ratio(tp, pred), "pairwise_recall": _ratio(tp, true),
            "false_merges": int((per_root > 1).sum()),
            "actors_spread": int(asz.size)}


def measure(store: Any, chain: str, truth: SimTruth, *, network: str = "regtest",
            change_floor: float = change.RECOMMENDED_FLOOR,
            progress: Progress | None = None) -> dict[str, Any]:
    """All quality figures of the heuristics on a stored simulated chain."""
    say = progress or (lambda _msg: None)
    p = chain.replace("-", "_")
    with store.query() as con:
        hi = con.sql(f"SELECT coalesce(max(tx_id) + 1, 0) FROM {p}_transactions").fetchall()[0][0]
        say(f"loading {hi} transactions")
        view = load_txview(con, chain, 0, int(hi))
        lab = label(con, chain, view, truth, network)
    say("detecting CoinJoins")
    cj = coinjoin.detect(view)
    say("change heuristics")
    chg_q = change_quality(view, lab, cj)
    chg = change.consensus(view)
    say("clustering")
    cio = cluster_quality(lab.addr_actor, *cluster_links(view, cj, None, 1.0))
    clustering = {"multi_input": cio}
    for fl in sorted({0.9, 0.95, change_floor}):
        clustering[f"multi_input+change@{fl:g}"] = cluster_quality(
            lab.addr_actor, *cluster_links(view, cj, chg, fl))
    return {"chain": chain, "transactions": len(view), "coinjoin": coinjoin_quality(cj, lab),
            "change": chg_q, "clustering": clustering}


def markdown_table(report: dict[str, Any]) -> str:
    """The quality report as the Markdown tables of docs/heuristics.md."""
    lines = ["| change rule | predicted | precision | coverage |", "|---|---|---|---|"]
    ch = report["change"]
    for name, q in ch["rules"].items():
        lines.append(f"| {name} | {q['predicted']} | {q['precision']} | {q['coverage']} |")
    for fl, q in ch["consensus"].items():
        lines.append(f"| consensus >= {fl} | {q['predicted']} | {q['precision']} | {q['coverage']} |")
    lines += ["", "| clustering | clusters | pairwise precision | pairwise recall | false merges |",
              "|---|---|---|---|---|"]
    for name, q in report["clustering"].items():
        lines.append(f"| {name} | {q['clusters']} | {q['pairwise_precision']} | "
                     f"{q['pairwise_recall']} | {q['false_merges']} |")
    cj = report["coinjoin"]
    lines += ["", "| CoinJoin protocol | true | detected | recall | protocol right | flagged | precision |",
              "|---|---|---|---|---|---|---|"]
    for name, q in cj["protocols"].items():
        lines.append(f"| {name} | {q.get('true', 0)} | {q.get('detected', 0)} | {q.get('recall')} | "
                     f"{q.get('protocol_right')} | {q.get('flagged', 0)} | {q.get('precision')} |")
    lines.append(f"| all | | | {cj['recall']} | | {cj['flagged']} | {cj['precision']} |")
    fp = ", ".join(f"{k} {v}" for k, v in cj["false_positives_by_pattern"].items()) or "none"
    lines.append(f"\nCoinJoin false positives by ordinary pattern: {fp}.")
    return "\n".join(lines) + "\n"


def review_rows(con: Any, chain: str, view: TxView) -> list[dict[str, Any]]:
    """Every detector's verdict per transaction, for a human to review (real blocks, no truth)."""
    p = chain.replace("-", "_")
    lo, hi = (int(view.tx_id[0]), int(view.tx_id[-1]) + 1) if len(view) else (0, 0)
    hexes = {int(t): bytes(h)[::-1].hex() for t, h in con.execute(
        f"SELECT tx_id, txid FROM {p}_transactions WHERE tx_id >= ? AND tx_id < ?", [lo, hi]).fetchall()}
    cj = coinjoin.detect(view)
    chg = change.consensus(view)
    rows = []
    for i in range(len(view)):
        k = int(chg.out_index[i])
        rows.append({
            "txid": hexes.get(int(view.tx_id[i]), ""), "height": int(view.height[i]),
            "inputs": int(view.in_ptr[i + 1] - view.in_ptr[i]),
            "outputs": int(view.out_ptr[i + 1] - view.out_ptr[i]),
            "coinjoin": coinjoin.PROTOCOL_NAMES[int(cj.protocol[i])],
            "coinjoin_confidence": round(float(cj.confidence[i]), 3),
            "change_n": k - int(view.out_ptr[i]) if k >= 0 else None,
            "change_confidence": round(float(chg.confidence[i]), 3),
            "change_votes": [n for b, n in enumerate(change.HEURISTIC_NAMES) if int(chg.votes[i]) >> b & 1],
        })
    return rows
