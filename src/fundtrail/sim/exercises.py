"""Investigator training exercises: a small chain, a trainee brief and a separate answer key.

Each exercise runs the default economy (smaller, a few thousand transactions so it ingests in
seconds) with one victim payment laundered by one typology of rising difficulty. The answer key
comes from the same oracle the tracer is measured against (`sim.oracle.case_answers`), per taint
policy, over the same graph `fundtrail trace` follows (`exercise_check.REACHED_RULE`), so a trainee
is scored on what the chain and the public labels show, not on hidden ownership. Layout under OUT:
``brief.md``, ``labels.csv`` (the service labels an investigator has) and ``blocks/`` for the
trainee; ``instructor/answer-key.json``, ``instructor/truth/`` and ``instructor/manifest.json`` for
the instructor only. Formats: docs/simulator.md.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.errors import UsageError
from fundtrail.sim import exercise_coinjoin
from fundtrail.sim import typologies as ty
from fundtrail.sim.actors import Actor, Exchange
from fundtrail.sim.chainout import BlkSink
from fundtrail.sim.economy import CaseState, Economy
from fundtrail.sim.exercise_check import (
    KEY_FORMAT,
    MATERIAL_SHARE,
    REACHED_RULE,
    answers_format_md,
    reach,
)
from fundtrail.sim.scenario import (  # one cast for all runs
    CASE,
    _build,
    _clamp,
    _write_case,
    check_output,
)
from fundtrail.sim.truth import TruthWriter
from fundtrail.sim.wallet import Address, Utxo

#: Truth category -> (tag category, label suffix) of the labels shipped to the trainee: what a label
#: provider publishes about services. Exchanges and the OTC desk are where a trace stops.
LABELLED = {"exchange": ("exchange", ""), "otc_desk": ("exchange", " (OTC desk)"),
            "mixer": ("mixing_service", ""),
            "coinjoin_coordinator": ("mixing_service", " (Whirlpool coordinator fee address)")}
STOP_CATEGORIES = ("exchange", "otc_desk")


@dataclass(frozen=True)
class Exercise:
    """One exercise: what it teaches and how strict its amounts are."""

    name: str
    title: str
    difficulty: int
    rel_tolerance: float
    task: str
    hint: str


EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    Exercise("direct-cashout", "Direct cash-out", 1, 0.01,
             "The criminal moved the ransom to exchange deposit addresses within one or two hops.",
             "Follow each output of the ransom address forward until it lands at an exchange."),
    Exercise("peel-chain", "Peel chain", 2, 0.02,
             "The criminal peeled small amounts off a large output, hop after hop, to several "
             "exchanges.",
             "A peel chain pays a small slice out and sends the rest on as change; follow the "
             "change, note each slice (`fundtrail trace --follow-change` walks it)."),
    Exercise("mixer", "Through a mixer", 3, 0.10,
             "The funds passed through a service that pools customers' coins before paying out.",
             "No on-chain link connects a pool's deposits to its payouts; say which taint policy you "
             "applied and explain the uncertainty of your amounts."),
    Exercise("coinjoin", "Through a CoinJoin", 4, 0.02,
             "The criminal sent the funds into a Whirlpool CoinJoin pool (a tx0 with an OP_RETURN, a "
             "pool fee, equal premix outputs and change), mixed them, and then cashed out.",
             "Name the CoinJoin transaction where the funds entered (under 'coinjoin'; a trace "
             "marks the CoinJoins it meets) and follow what did not enter it exactly; after a mix, "
             "say which policy you applied: which output is whose is not on chain."),
)}

MAX_DIFFICULTY = max(e.difficulty for e in EXERCISES.values())
Plan = Generator[int, None, None]


class _Recording(Economy):
    """The economy keeping every transaction (an exercise is small): the key follows the victim's
    funds over the whole chain, as a trace does, not only over the case subgraph."""

    ledger: list[dict[str, Any]]

    def commit(self, actor: Actor, inputs: list[Utxo], outs: list[tuple[Address | bytes, int]],
               **kw: Any) -> Any:
        res = super().commit(actor, inputs, outs, **kw)
        self.ledger.append({
            "txid": w.display_hex(res.txid), "time": self.time,
            "inputs": [{"txid": w.display_hex(u.txid), "vout": u.vout, "value": u.value}
                       for u in inputs],
            "outputs": [{"value": v, "address": None if isinstance(a, bytes) else a.text}
                        for a, v in outs]})
        return res


def _victim_pays(econ: Economy, group: Actor, victim: Actor, exchanges: list[Exchange],
                 amount: int) -> Generator[int, None, Utxo | None]:
    """The victim (or a broker paying for it) pays a fresh ransom address: the case's seed."""
    addr = group.wallets[0].new_address(role="ransom")
    for _ in range(40):
        wal = victim.funded(amount)
        ex = econ.rng.choice(exchanges)
        payer, pw = (victim, wal) if wal else (ex, ex.hot)
        res = econ.transfer(payer, pw, [(addr, amount)], pattern="ransom_payment", seed_case=CASE)
        if res:
            return next(u for u in res.outputs if u.addr is addr)
        yield 1
    return None


def _sweep(econ: Economy, group: Actor, coin: Utxo, dest: Any, typology: str,
           actual: list[dict[str, Any]]) -> list[Utxo]:
    """Send all of `coin` to `dest`; record it when `dest` is an exchange deposit (ground truth)."""
    pattern = "exchange_deposit" if dest.role == "deposit" else "payment"
    res = econ.transfer(group, coin.addr.wallet, [(dest, 0)], inputs=[coin], sweep=True,
                        pattern=pattern, typology=typology)
    if res is None:
        return [coin]
    if dest.role == "deposit":
        actual.append({"address": dest.text, "exchange": dest.owner.name,
                       "amount_sat": res.outputs[0].value, "txid": w.display_hex(res.txid)})
    return [u for u in res.outputs if u.addr.owner is group]


def _decoy_mixes(econ: Economy, cast: dict[str, Any]) -> None:
    """Other customers deposit in the same block, so the criminal's coins share a pool coin.

    A small economy rarely has concurrent mixer users; without them the pool coin would be the
    criminal's alone and haircut would show no uncertainty at all.
    """
    rng, mixer, made = econ.rng, cast["mixer"], 0
    for _ in range(40):
        if made == 4:
            break
        user: Actor = rng.choice(cast["users"])
        amount = rng.randint(20, 150) * 10**6
        wal = user.funded(amount)
        if wal is None:
            continue
        dests = [wal.new_address() for _ in range(rng.randint(1, 3))]
        dep = mixer.order(dests, amount, rng.randint(1, 6))
        made += econ.transfer(user, wal, [(dep, amount)], pattern="mixer_deposit") is not None


def _plan(name: str, econ: Economy, cast: dict[str, Any],
          actual: list[dict[str, Any]]) -> Plan:
    """The victim payment and the laundering of exercise `name`."""
    rng, group = econ.rng, cast["group"]
    exchanges: list[Exchange] = cast["exchanges"]
    ransom, mules, cashw = group.wallets
    victim = rng.choice(cast["merchants"])
    amount = rng.randint(*{"direct-cashout": (50, 300), "peel-chain": (100, 400),
                           "coinjoin": (60, 120)}.get(name, (200, 500))) * 10**6
    coin = yield from _victim_pays(econ, group, victim, exchanges, amount)
    if coin is None:
        return
    yield rng.randint(1, 3)
    if name == "direct-cashout":
        ex1, ex2 = rng.sample(exchanges, 2)
        d1 = ex1.deposit_for(f"{group.name}-direct-0")
        res = econ.transfer(group, ransom, [(d1, int(coin.value * rng.uniform(0.3, 0.6)))],
                            inputs=[coin], pattern="exchange_deposit", typology="cash_out")
        if res is None:
            return
        out = res.outputs[[u.addr for u in res.outputs].index(d1)]
        actual.append({"address": d1.text, "exchange": ex1.name, "amount_sat": out.value,
                       "txid": w.display_hex(res.txid)})
        for rest in [u for u in res.outputs if u.addr.wallet is ransom]:
            yield rng.randint(1, 2)
            for hop in _sweep(econ, group, rest, mules.new_address(), "layering", actual):
                yield rng.randint(0, 2)
                _sweep(econ, group, hop, ex2.deposit_for(f"{group.name}-direct-1"), "cash_out",
                       actual)
    elif name == "peel-chain":
        def peel_to() -> Any:
            ex = rng.choice(exchanges)
            return ex.deposit_for(f"{group.name}-peel-{rng.randrange(3)}")

        # The remainder stays unspent: the "still unspent" part of the question.
        yield from ty.peel_chain(econ, group, mules, coin, rng.randint(10, 14), peel_to)
    elif name == "coinjoin":
        yield from exercise_coinjoin.plan(econ, cast, coin, actual, _sweep)
    else:
        _decoy_mixes(econ, cast)
        outs = yield from ty.mixing(econ, group, cashw, coin, cast["mixer"], 3)
        for u in outs[:-1]:  # the last payout is kept: unspent
            yield rng.randint(0, 2)
            ex = rng.choice(exchanges)
            _sweep(econ, group, u, ex.deposit_for(f"{group.name}-mix-{u.vout}"), "cash_out", actual)


def make_exercise(out: Path, name: str, *, seed: int, txs: int = 3_000) -> dict[str, Any]:
    """Write exercise `name` under `out`; returns the answer key (also written to the instructor dir)."""
    ex = EXERCISES.get(name)
    if ex is None:
        raise UsageError(f"unknown exercise {name!r}; known: {', '.join(EXERCISES)}")
    out = check_output(out, txs, "an exercise")
    inst = out / "instructor"
    truth = TruthWriter(inst)
    sink = BlkSink(out / "blocks", REGTEST)
    econ = _Recording(seed, REGTEST, truth, sink)
    econ.ledger = []
    cast = _build(econ, txs)
    per_block = _clamp(txs // 100, 20, 2500)
    case_height = max(8, (txs // per_block) // 5)
    econ.cases[CASE] = CaseState(CASE, "ransomware", cast["group"].name)
    actual: list[dict[str, Any]] = []
    while True:
        if econ.height == case_height:
            econ.spawn(_plan(name, econ, cast, actual), CASE)
        econ.step_block(per_block)
        done = econ.n_txs >= txs and econ.height > case_height + 2 and not econ.busy_cases()
        if done or econ.n_txs >= 3 * txs + 20_000:
            break
    sink.close()
    truth.close()
    truth.actors(econ.actors)
    _write_case(truth, econ.cases[CASE])
    case = json.loads((truth.dir / "cases" / f"{CASE}.json").read_text(encoding="utf-8"))
    live = {(w.display_hex(t), v) for a in econ.actors for wal in a.all_wallets()
            for t, v in wal.utxos}
    held = {(w.display_hex(t), v) for wal in cast["group"].all_wallets() for t, v in wal.utxos}
    services = _write_labels(out / "labels.csv", truth.dir / "addresses.csv")
    key = _key(ex, seed, case, live, held, actual, truth.dir, econ.ledger, services)
    (inst / "answer-key.json").write_text(json.dumps(key, indent=1, sort_keys=True) + "\n",
                                          encoding="utf-8")
    (out / "brief.md").write_text(_brief(ex, seed, key), encoding="utf-8")
    manifest = {"generator": "fundtrail.sim", "exercise": name, "seed": seed, "chain": "btc-regtest",
                "blocks": econ.n_blocks, "transactions": econ.n_txs + econ.n_blocks,
                "tip_hash": w.display_hex(econ.prev),
                "files": {"trainee": ["brief.md", "labels.csv"]
                          + [f"blocks/{p.name}" for p in sink.files],
                          "instructor": ["instructor/answer-key.json", "instructor/truth/"]}}
    (inst / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                        encoding="utf-8")
    return key


def _write_labels(path: Path, addresses: Path) -> dict[str, str]:
    """The trainee's labels: every address of the services (a provider's view, nothing about the
    criminal) as a CSV for `fundtrail tags import`; returns the stop addresses -> their service."""
    stops: dict[str, str] = {}
    with open(addresses, newline="", encoding="utf-8") as fh, \
            open(path, "w", newline="", encoding="utf-8") as out:
        wr = csv.writer(out, lineterminator="\n")
        wr.writerow(["address", "label", "category", "source", "currency"])
        for r in csv.DictReader(fh):
            cat = LABELLED.get(r["category"])
            if cat is None:
                continue
            wr.writerow([r["address"], r["actor"] + cat[1], cat[0], "exercise label provider",
                         "BTC-REGTEST"])
            if r["category"] in STOP_CATEGORIES:
                stops[r["address"]] = r["actor"]
    return stops


def _key(ex: Exercise, seed: int, case: dict[str, Any], live: set[tuple[str, int]],
         held: set[tuple[str, int]], actual: list[dict[str, Any]], tdir: Path,
         ledger: list[dict[str, Any]], services: dict[str, str]) -> dict[str, Any]:
    """The answer key: per policy, what reached each service (`exercise_check.REACHED_RULE`), the
    material cash-outs required, and the perpetrator's unspent tainted outputs."""
    if not case["seed_outputs"]:
        raise UsageError(f"seed {seed}: the victim could not pay in this run",
                         hint="try another --seed")
    s = case["seed_outputs"][0]
    first = json.loads((tdir / "cases" / f"{CASE}.txgraph.jsonl").read_text(
        encoding="utf-8").splitlines()[0])
    cj = exercise_coinjoin.key_section(case, tdir) if ex.name == "coinjoin" else None
    reached = reach(ledger, [(s["txid"], s["vout"])], frozenset(services))
    policies: dict[str, Any] = {}
    for pol, ans in reached.items():
        floor = Fraction(ans["injected"]) * MATERIAL_SHARE
        rows = [{"address": a, "exchange": services[a], "amount_sat": int(v), "exact": str(v)}
                for a, v in sorted(ans["by_target"].items())]
        unsp = [{"outpoint": f"{op[0]}:{op[1]}", "amount_sat": v, "held_by_perpetrator": op in held}
                for op, v in sorted(ans["unspent_sat"].items()) if op in live]
        def required(r: dict[str, Any], floor: Fraction = floor) -> bool:
            exact_ok = cj is None or r["address"] in cj["exact_cashout"]  # not via a mix
            return exact_ok and Fraction(r["exact"]) >= floor

        policies[pol] = {
            "cashout": [r for r in rows if required(r)],
            "minor_cashout": [r for r in rows if not required(r)],
            "unspent": [u for u in unsp if u["held_by_perpetrator"] and u["amount_sat"] >= floor],
            "unspent_accepted": [u["outpoint"] for u in unsp],
            "total_arrived_sat": ans["total_arrived_sat"], "injected": str(ans["injected"]),
        }
    extra = {"coinjoin": cj} if cj else {}
    return {
        **extra,
        "format": KEY_FORMAT, "exercise": ex.name, "title": ex.title, "difficulty": ex.difficulty,
        "seed": seed, "case": CASE,
        "victim_payment": {"txid": s["txid"], "vout": s["vout"], "address": s["address"],
                           "amount_sat": s["value"], "time": first["time"],
                           "height": first["height"]},
        "default_policy": "haircut",
        "tolerance": {"relative": ex.rel_tolerance, "absolute_sat": 1_000},
        "material_share": str(MATERIAL_SHARE),
        "threshold_sat": int(Fraction(s["value"]) * MATERIAL_SHARE),
        "reached_rule": REACHED_RULE,
        "policies": policies,
        "perpetrator_deposits": actual or [
            {"address": c["address"], "exchange": c["actor"], "amount_sat": c["received_direct"],
             "txid": c["first_txid"]} for c in case["cashout_points"]],
        "typologies": case["typologies"],
        "notes": _notes(ex),
    }


def _notes(ex: Exercise) -> str:
    base = ("Amounts per policy are the oracle's (sim.oracle.case_answers) over everything the "
            "victim's funds reach on chain until an exchange or OTC address or an unspent output "
            "(the 'reached_rule'; what `fundtrail trace` shows with labels.csv imported), rounded "
            "down to whole satoshi; 'cashout' lists the places reached with at least "
            "'threshold_sat', 'minor_cashout' the rest (neither required nor wrong). "
            "'perpetrator_deposits' is the ground truth of which deposit addresses the criminal "
            "itself paid (for the debrief).")
    if ex.name == "coinjoin":
        return base + exercise_coinjoin.NOTES
    if ex.name != "mixer":
        return base
    return base + (" Mixer: the pool pays every customer from the same coins, and which payout "
                   "belongs to which deposit is recorded only in the mixer's books, off-chain. "
                   "Haircut therefore spreads the victim's share of the pool over payouts, "
                   "poison over all of them, FIFO by position: none gives the criminal's real "
                   "withdrawal, so exact attribution is impossible and amounts are accepted within "
                   f"{ex.rel_tolerance:.0%}. Compare the policy answer with "
                   "'perpetrator_deposits' in the debrief.")


def _brief(ex: Exercise, seed: int, key: dict[str, Any]) -> str:
    """The trainee's brief (no answers in it)."""
    v = key["victim_payment"]
    when = datetime.fromtimestamp(v["time"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    btc = f"{v['amount_sat'] / 1e8:.8f}"
    return "\n".join([
        f"# Exercise: {ex.title} (difficulty {ex.difficulty}/{MAX_DIFFICULTY}, seed {seed})",
        "",
        (f"A victim paid `{v['address']}` **{btc} BTC** ({v['amount_sat']:,} sat) on {when}, in "
        f"transaction `{v['txid']}` (output {v['vout']}, block {v['height']})."),
        "",
        ("Where did the money go? Name the exchange deposit addresses where it was cashed out and "
        "how much of the victim's money reached each (haircut policy unless you say otherwise), "
        "and whether any of it is still unspent."),
        "",
        f"Background: {ex.task} Hint: {ex.hint}",
        "",
        "## Data",
        "",
        "`blocks/` holds the chain in Bitcoin Core's on-disk format (regtest). Ingest it with",
        "`fundtrail --store STORE ingest bitcoin --blocks-dir blocks`.",
        "",
        ("`labels.csv` holds the labels an investigator has from a label provider: the addresses "
         "of the exchanges and the OTC desk (category `exchange`), the custodial mixer and the "
         "Whirlpool coordinator (`mixing_service`). Nothing in it is about the criminal. Import "
         "it with `fundtrail --store STORE tags import labels.csv`: a trace then stops where the "
         "funds reach an exchange."),
        "",
        "## What counts",
        "",
        REACHED_RULE,
        (f"Here 1/100 of the victim's payment is {key['threshold_sat']:,} sat. Amounts are "
         "accepted within " + f"{ex.rel_tolerance:.0%}" + " (or 1,000 sat)."),
        "",
        answers_format_md(coinjoin=ex.name == "coinjoin"),
        "",
    ])

