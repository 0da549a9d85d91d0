"""Scoring a trainee's answers against an exercise's answer key (`fundtrail exercise check`).

**Reached** is defined once, here (`REACHED_RULE`), and the key, the checker and the brief use it:
an address is *reached* under a taint policy when the victim's funds arrive there with a non-zero
amount, following every transaction forward from the victim's output until a labelled service (an
exchange or OTC address of the exercise's ``labels.csv``, where `fundtrail trace` stops) or an
unspent output: exactly the endpoints `fundtrail trace` shows under that policy with the labels
imported. `reach` computes it with the simulator's oracle (`sim.oracle`, exact arithmetic) over the
forward closure of the whole chain, not over the case subgraph, so funds that a pool or a CoinJoin
passes to other people are followed as far as the trace follows them. A reached cash-out holding at
least the key's threshold (1/100 of the victim's payment) is *required*; below it, *minor*.

Answers are checked against the key's amounts for the policy the trainee names (haircut by
default), within the exercise's tolerance. Score, 0-100: each required cash-out address is worth
one share (half for naming it, half for the amount within tolerance), each address not reached
costs half a share; required unspent outputs weigh 20 and, in the CoinJoin exercise, the required
CoinJoin entry transaction 20 (one share each, half a share off per wrong one); cash-outs weigh the
rest. Reached addresses and outpoints under the threshold (or after a mix), CoinJoins the funds
passed, and the perpetrator's real deposits are neither required nor wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from fundtrail.errors import UsageError
from fundtrail.sim import oracle

KEY_FORMAT = "fundtrail-exercise-key/1"
POLICIES = ("haircut", "fifo", "poison")
#: Taint below this share of the victim's payment at one place is "minor": not required, not wrong.
MATERIAL_SHARE = Fraction(1, 100)
REACHED_RULE = (
    "An address is reached under a taint policy when the victim's funds arrive there with a "
    "non-zero amount, following every transaction forward from the victim's output until an "
    "address of labels.csv in a category where `fundtrail trace` stops (an exchange or the OTC "
    "desk) or an unspent output: what `fundtrail trace` shows as its endpoints under that policy "
    "once labels.csv is imported. A reached cash-out (exchange or OTC address) holding at least "
    "1/100 of the victim's payment is required; a smaller one is neither required nor wrong; an "
    "address the funds did not reach is wrong. Unspent: every outpoint still holding a non-zero "
    "amount is accepted; those the criminal holds with at least 1/100 are required.")

Outpoint = tuple[str, int]


def forward_closure(ledger: Iterable[Mapping[str, Any]], seeds: Iterable[Outpoint],
                    services: frozenset[str]) -> list[Mapping[str, Any]]:
    """The transactions of `ledger` (chain order, `sim.oracle` shape) that value from `seeds` can
    reach, stopping at outputs paid to `services` (as a trace stops there): the largest graph any
    policy propagates over, and the one poison taints entirely."""
    reach = set(seeds)
    seed_txs = {t for t, _ in reach}
    out: list[Mapping[str, Any]] = []
    for tx in ledger:
        if tx["txid"] not in seed_txs and not any((i["txid"], i["vout"]) in reach
                                                  for i in tx["inputs"]):
            continue
        out.append(tx)
        reach.update((tx["txid"], v) for v, o in enumerate(tx["outputs"])
                     if o["address"] is not None and o["address"] not in services)
    return out


def reach(ledger: Iterable[Mapping[str, Any]], seeds: Sequence[Outpoint], services: frozenset[str],
          policies: Sequence[str] = POLICIES) -> dict[str, dict[str, Any]]:
    """Per policy, what reached each service address and what is left unspent (`REACHED_RULE`);
    the `sim.oracle.case_answers` result over the forward closure of the whole chain."""
    graph = forward_closure(ledger, seeds, services)
    return oracle.case_answers(graph, seeds, services, policies=policies)


def answers_format_md(coinjoin: bool = False) -> str:
    """The ANSWERS.json format, for the brief (docs/simulator.md has the same text)."""
    cj = ([",", ' "coinjoin": [{"txid": "..."}]}'] if coinjoin else ["}"])
    return "\n".join([
        "## What to hand in",
        "",
        "A JSON file; your instructor scores it with `fundtrail exercise check ANSWERS.json`:",
        "",
        "```json",
        '{"policy": "haircut",',
        ' "cashout": [{"address": "bcrt1q...", "amount_sat": 12345678}],',
        ' "unspent": [{"outpoint": "txid:vout"}]' + cj[0],
        *cj[1:],
        "```",
        "",
        ("`cashout` is required (a list, may be empty); `unspent` is optional; `policy` is `haircut`"
        " (default), `fifo` or `poison` and says which taint policy your amounts follow."
         + (" `coinjoin` lists the CoinJoin transaction(s) where the funds entered a CoinJoin."
            if coinjoin else "")),
    ])


def _fail(where: str, msg: str) -> UsageError:
    return UsageError(f"{where}: {msg}", hint="see the answers format in brief.md")


def load_answers(path: Path) -> dict[str, Any]:
    """Parse and validate ANSWERS.json; a `UsageError` names the line or field that is wrong."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{name}: cannot read ({exc.strerror})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(name, f"line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise _fail(name, "expected a JSON object with 'cashout'")
    unknown = sorted(set(data) - {"cashout", "unspent", "policy", "coinjoin"})
    if unknown:
        raise _fail(name, f"unknown field {unknown[0]!r}")
    policy = data.get("policy", "haircut")
    if policy not in POLICIES:
        raise _fail(name, f"field 'policy' must be one of {', '.join(POLICIES)}, not {policy!r}")
    if not isinstance(data.get("cashout"), list):
        raise _fail(name, "field 'cashout' must be a list of {\"address\", \"amount_sat\"}")
    cashout: dict[str, int] = {}
    for i, row in enumerate(data["cashout"]):
        f = f"cashout[{i}]"
        if not isinstance(row, dict) or not isinstance(row.get("address"), str) or not row["address"]:
            raise _fail(name, f"field '{f}.address' must be a non-empty string")
        amt = row.get("amount_sat")
        if isinstance(amt, bool) or not isinstance(amt, int) or amt < 0:
            raise _fail(name, f"field '{f}.amount_sat' must be a non-negative integer (satoshi)")
        cashout[row["address"]] = cashout.get(row["address"], 0) + amt
    unspent: list[str] = []
    raw = data.get("unspent", [])
    if not isinstance(raw, list):
        raise _fail(name, "field 'unspent' must be a list of {\"outpoint\": \"txid:vout\"}")
    for i, row in enumerate(raw):
        op = row.get("outpoint") if isinstance(row, dict) else None
        if not isinstance(op, str):
            op = ""  # refused below: no ':'
        txid, sep, vout = op.partition(":")
        if not sep or len(txid) != 64 or not vout.isdigit():
            raise _fail(name, f"field 'unspent[{i}].outpoint' must be \"txid:vout\"")
        if op.lower() not in unspent:
            unspent.append(op.lower())
    coinjoin: list[str] = []
    raw = data.get("coinjoin", [])
    if not isinstance(raw, list):
        raise _fail(name, "field 'coinjoin' must be a list of {\"txid\": \"...\"}")
    for i, row in enumerate(raw):
        cj_txid = row.get("txid") if isinstance(row, dict) else None
        if not isinstance(cj_txid, str) or len(cj_txid) != 64 or any(
                c not in "0123456789abcdef" for c in cj_txid.lower()):
            raise _fail(name, f"field 'coinjoin[{i}].txid' must be a 64-digit hex txid")
        if cj_txid.lower() not in coinjoin:
            coinjoin.append(cj_txid.lower())
    return {"policy": policy, "cashout": cashout, "unspent": unspent, "coinjoin": coinjoin}


def load_key(path: Path) -> dict[str, Any]:
    """Read an answer key written by `fundtrail simulate --exercise`."""
    try:
        key = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a readable answer key ({exc})") from exc
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT:
        raise UsageError(f"{path}: not an exercise answer key (format {KEY_FORMAT} expected)")
    return key


def score(answers: dict[str, Any], key: dict[str, Any]) -> dict[str, Any]:
    """Score parsed answers against a key: the total 0-100 and one feedback item per point."""
    pol = key["policies"][answers["policy"]]
    tol = key["tolerance"]
    want = {r["address"]: r for r in pol["cashout"]}
    neutral = ({r["address"] for r in pol["minor_cashout"]}
               | {r["address"] for r in key.get("perpetrator_deposits", [])})
    items: list[dict[str, Any]] = []
    points = 0.0
    for addr, row in want.items():
        if addr not in answers["cashout"]:
            items.append({"kind": "cashout", "address": addr, "status": "missed",
                          "expected_sat": row["amount_sat"]})
            continue
        got, exp = answers["cashout"][addr], row["amount_sat"]
        ok = abs(got - exp) <= max(tol["absolute_sat"], tol["relative"] * exp)
        points += 1.0 if ok else 0.5
        items.append({"kind": "cashout", "address": addr, "status": "found",
                      "amount": "within tolerance" if ok else "off", "answered_sat": got,
                      "expected_sat": exp, "off_by_sat": got - exp})
    wrong = 0
    for addr, got in answers["cashout"].items():
        if addr in want:
            continue
        if addr in neutral:
            items.append({"kind": "cashout", "address": addr, "status": "accepted",
                          "note": "reached below the threshold (or after a mix), or the "
                                  "perpetrator's real deposit; not scored"})
        else:
            wrong += 1
            items.append({"kind": "cashout", "address": addr, "status": "wrong",
                          "answered_sat": got})
    cash = max(0.0, points - 0.5 * wrong) / len(want) if want else (0.0 if wrong else 1.0)
    need = [u["outpoint"] for u in pol["unspent"]]
    ok_ops = set(pol["unspent_accepted"]) | set(need)
    hits = sum(1 for op in need if op in answers["unspent"])
    items += [{"kind": "unspent", "outpoint": op,
               "status": "found" if op in answers["unspent"] else "missed"} for op in need]
    bad = [op for op in answers["unspent"] if op not in ok_ops]
    items += [{"kind": "unspent", "outpoint": op, "status": "wrong"} for op in bad]
    items += [{"kind": "unspent", "outpoint": op, "status": "accepted"}
              for op in answers["unspent"] if op in ok_ops and op not in need]
    cj = key.get("coinjoin") or {}
    cj_need, cj_ok = cj.get("entry_required", []), set(cj.get("accepted", []))
    got_cj = answers.get("coinjoin", [])
    cj_hits = sum(1 for t in cj_need if t in got_cj)
    cj_bad = [t for t in got_cj if t not in cj_ok and t not in cj_need]
    items += [{"kind": "coinjoin", "txid": t, "status": "found" if t in got_cj else "missed"}
              for t in cj_need]
    items += [{"kind": "coinjoin", "txid": t, "status": "wrong"} for t in cj_bad]
    items += [{"kind": "coinjoin", "txid": t, "status": "accepted"}
              for t in got_cj if t in cj_ok and t not in cj_need]
    total = 0.0
    cash_weight = 100.0
    if need:
        total += 20 * max(0.0, hits - 0.5 * len(bad)) / len(need)
        cash_weight -= 20
    if cj_need:
        total += 20 * max(0.0, cj_hits - 0.5 * len(cj_bad)) / len(cj_need)
        cash_weight -= 20
    total += cash_weight * cash
    if not need:
        total -= 5 * len(bad)
    return {"exercise": key["exercise"], "policy": answers["policy"],
            "score": max(0, min(100, round(total))), "tolerance": tol, "items": items,
            "required_cashouts": len(want), "required_unspent": len(need),
            "required_coinjoin": len(cj_need)}


def render(result: dict[str, Any]) -> str:
    """The result as text lines for a terminal."""
    lines = [(f"score {result['score']}/100 ({result['exercise']}, policy {result['policy']}, "
             f"tolerance {result['tolerance']['relative']:.0%})")]
    for it in result["items"]:
        what = it.get("address") or it.get("outpoint") or it.get("txid")
        line = f"  {it['kind']:<8} {it['status']:<8} {what}"
        if it["status"] == "found" and it["kind"] == "cashout":
            line += ("  amount within tolerance" if it["amount"] == "within tolerance" else
                     f"  amount off by {it['off_by_sat']:+,} sat (expected {it['expected_sat']:,})")
        elif it["status"] == "missed" and it["kind"] == "cashout":
            line += "  (not in your answer)"
        elif it["status"] == "wrong":
            line += f"  (not reached under {result['policy']})"
        lines.append(line)
    return "\n".join(lines)
