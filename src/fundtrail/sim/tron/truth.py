"""Ground truth of a TRON simulation and the case file with its answer key (docs/simulator-tron.md).

The taint answers come from the EVM simulator's oracle (`sim.evm.oracle`: poison, haircut and
address-level FIFO over the chain's movements in order), fed with the movements the simulator
planned, never with what the ingest decoded. The followed addresses are the thief's and the OTC
desk's (a desk mixes the thief's USDT with its clients': where the policies differ); every other
address a dirty movement reaches is a leaf (exchange deposit addresses, clients of the desk).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from fundtrail.chains.tron.address import to_base58
from fundtrail.sim.evm.oracle import POLICIES, Transfer, fraction_text, trace_policy
from fundtrail.sim.tron.case import CASE, THIEF, TheftCase
from fundtrail.sim.tron.chain import TRX, SimTx
from fundtrail.sim.tron.render import genesis_txid
from fundtrail.sim.tron.economy import Economy


def _frac(v: Fraction) -> str:
    """`fraction_text`, or hex "0xN/0xD" for a haircut share too long for decimal text (Python
    refuses int -> str beyond 4,300 digits; such shares arise only in very large simulations)."""
    try:
        return fraction_text(v)
    except ValueError:
        return f"{hex(v.numerator)}/{hex(v.denominator)}"


def _t(a: bytes | None) -> str:
    return to_base58(a) if a is not None else ""


def movements(eco: Economy) -> list[Transfer]:
    """Every movement in chain order: genesis allocations (from ""), then each transaction's fee
    first and what it moved (a failed transaction: its fee only)."""
    out: list[Transfer] = []
    for i, (to, amount) in enumerate(eco.chain.genesis.items()):
        out.append(Transfer(len(out), genesis_txid(eco.seed, i), "native", "", to_base58(to), TRX, amount))
    for tx in eco.chain.mined:
        for m in tx.all_moves():
            dest = _t(m.to) if m.to is not None else None
            out.append(Transfer(len(out), tx.txid, m.kind, _t(m.frm), dest, m.asset, m.amount))
    return out


def _csv(path: Path, header: list[str], rows: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def write_truth(out: Path, eco: Economy, case: TheftCase, transfers: list[Transfer]) -> dict:
    """truth/actors.csv, addresses.csv, transactions.csv, transfers.csv, delegations.csv and the
    case file truth/cases/usdt-theft-1.json; returns the case file."""
    truth, reg = out / "truth", eco.reg
    _csv(truth / "actors.csv", ["actor", "category", "case"], ([n, cat, c] for n, (cat, c) in reg.actors.items()))
    _csv(truth / "addresses.csv", ["address", "actor", "category", "role"],
         ([a, actor, cat, role] for a, (actor, cat, role) in reg.addresses.items()))
    _csv(truth / "transactions.csv",
         ["txid", "block", "tx_index", "contract", "from", "to", "status", "fee", "actor", "pattern",
          "typology", "case"],
         ([t.txid, t.block, t.index, t.contract, _t(t.owner), _t(t.counterparty), int(t.ok), t.fee, t.actor,
           t.pattern, t.typology, t.case] for t in eco.chain.mined))
    _csv(truth / "transfers.csv", ["seq", "txid", "kind", "from", "to", "asset", "amount"],
         ([t.seq, t.tx, t.kind, t.frm, t.to or "", t.asset, t.amount] for t in transfers))
    _csv(truth / "delegations.csv", ["txid", "block", "from", "to", "resource", "balance", "common_control"],
         ([t.txid, t.block, _t(t.owner), _t(t.counterparty), t.value.get("resource", "BANDWIDTH"),
           t.value["balance"], int(t.case == CASE)]
          for t in eco.chain.mined if t.contract == "DelegateResourceContract"))
    doc = case_file(eco, case, transfers)
    path = truth / "cases" / f"{CASE}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return doc


def case_file(eco: Economy, case: TheftCase, transfers: list[Transfer]) -> dict:
    """The case and its answers: per policy, which deposit addresses received how much stolen USDT."""
    reg, token = eco.reg, eco.chain.token_text
    seed_ids = {t.txid for t in case.seed_txs}
    seeds = {t.seq for t in transfers if t.tx in seed_ids and t.kind != "fee" and t.to == _t(case.drain)}
    controlled = sorted(a for a, (actor, _, role) in reg.addresses.items() if actor == THIEF)
    followed = sorted({*controlled, _t(eco.otc)})
    thief_deposits = sorted(_t(d) for d in case.deposits)
    answers = {}
    for policy in POLICIES:
        result = trace_policy(policy, transfers, seeds, followed)
        by_leaf: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
        for t, dirty in result.hits:
            by_leaf[(t.to or "fee", t.asset)] += dirty
        leaves = [{"address": a, "asset": asset, "actor": reg.actor_of(a),
                   "role": reg.addresses.get(a, ("", "", "fee"))[2], "thief": a in thief_deposits,
                   "amount": _frac(v)} for (a, asset), v in sorted(by_leaf.items())]
        answers[policy] = {
            "injected": {a: _frac(v) for a, v in sorted(result.injected.items())},
            "cashout": [x for x in leaves if x["role"] == "deposit"],
            "other_leaves": [x for x in leaves if x["role"] != "deposit"],
            "held": [{"address": a, "asset": asset, "amount": _frac(v),
                      "frozen": a == _t(case.frozen_mule) and asset == token}
                     for (a, asset), v in sorted(result.held.items())],
        }
    return {
        "case": CASE, "actor": THIEF, "token": token,
        "typology_order": ["funding", "delegation", "theft", "fan_out", "freeze", "cash_out", "peel_chain", "otc"],
        "victim": _t(case.victim), "seed_addresses": [_t(case.drain)], "seed_txs": sorted(seed_ids),
        "seed_transfers": [{"txid": t.tx, "from": t.frm, "to": t.to, "asset": t.asset, "amount": str(t.amount)}
                           for t in transfers if t.seq in seeds],
        "controlled": controlled, "followed": followed, "otc_desk": _t(eco.otc),
        "payer": _t(case.payer), "mules": [_t(a) for a in case.mules], "peel_hops": [_t(a) for a in case.hops],
        "thief_deposits": thief_deposits, "hot_wallets": [_t(e.hot) for e in eco.exchanges],
        "delegations": [{"txid": t.txid, "from": _t(t.owner), "to": _t(t.counterparty),
                         "resource": t.value.get("resource", "BANDWIDTH")} for t in case.delegations],
        "rental_delegations": [{"txid": r["tx"].txid, "from": _t(eco.renter), "to": _t(r["customer"])}
                               for r in eco.rentals],
        "frozen": [{"address": _t(case.frozen_mule), "token": token, "issuer": "Tether",
                    "blacklist_tx": case.freeze_txs[0].txid, "blacklist_block": case.freeze_txs[0].block,
                    "destroy_tx": case.freeze_txs[1].txid, "destroyed": str(case.destroyed)}],
        "transactions": [{"txid": t.txid, "block": t.block, "pattern": t.pattern, "typology": t.typology,
                          "status": int(t.ok)} for t in sorted(case.txs, key=_order)],
        "answers": answers,
    }


def _order(t: SimTx) -> tuple[int, int]:
    return (t.block, t.index)

