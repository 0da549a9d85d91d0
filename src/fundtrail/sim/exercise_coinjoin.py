"""The `coinjoin` exercise: the victim's funds enter Whirlpool, then reach exchanges.

What the chain proves is the way *into* the CoinJoin: the tx0 spending the victim's coin, its
premix outputs, the pool fee and the toxic change (and where that change went) are facts, the
same under every taint policy. What happens after a mix is a convention: five owners' coins of
equal value go in, five equal outputs come out, and nothing on chain says which is whose. The key
therefore requires the entry (the tx0) and the exact cash-outs, and accepts without requiring
the post-mix cash-outs each policy computes (the perpetrator's real ones are ground truth for the
debrief). Formats: docs/simulator.md.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Generator
from fractions import Fraction
from pathlib import Path
from typing import Any

from fundtrail.sim import oracle
from fundtrail.sim import typologies as ty
from fundtrail.sim.actors import Exchange
from fundtrail.sim.coinjoin import pick_coins
from fundtrail.sim.economy import Economy
from fundtrail.sim.wallet import Utxo

POOL = 5_000_000  # the 0.05 BTC pool
NOTES = (" CoinJoin: the tx0 (the deposit into Whirlpool), its premix outputs, the pool fee and "
         "the toxic change are on-chain facts, identical under every policy; so is the cash-out "
         "of the toxic change, which is why those amounts are required and exact. Each mix takes "
         "five inputs of five owners and pays five equal outputs: which output is the "
         "criminal's is not on chain. Haircut gives every output a fifth of each input's taint, "
         "poison taints all five, FIFO follows positions; the key lists the cash-outs each "
         "policy reaches from the criminal's own post-mix coins as accepted, not required "
         "('perpetrator_deposits' shows the real ones). Naming the tx0 under 'coinjoin' is "
         "required; naming the mixes is accepted.")


def decoy_tx0s(econ: Economy, cast: dict[str, Any], pool: int = POOL, n: int = 4) -> None:
    """Other Whirlpool users enter the same pool now, so the criminal's premixes find partners."""
    rng, wp = econ.rng, cast["whirlpool"]
    parts = [m for m in cast["registry"].participants if not m.side]
    made = 0
    for _ in range(60):
        if made == n or not parts:
            return
        m = parts[rng.randrange(len(parts))]
        k = rng.randint(3, 6)
        wal = m.actor.funded(k * (pool + 50_000) + 300_000)
        coins = pick_coins(wal, k * (pool + 50_000) + 300_000, 20) if wal else []
        if coins and wp.tx0(m.actor, m, coins, pool, n_max=k):
            made += 1


def plan(econ: Economy, cast: dict[str, Any], coin: Utxo, actual: list[dict[str, Any]],
         sweep: Any) -> Generator[int, None, None]:
    """tx0 into the 0.05 BTC pool, mixes, then every coin swept to exchange deposits."""
    rng, group = econ.rng, cast["group"]
    decoy_tx0s(econ, cast)
    m = cast["registry"].of(group)
    post, toxic = yield from ty.whirlpool(econ, group, coin, cast["whirlpool"], m, POOL,
                                          rng.randint(5, 12))
    exchanges: list[Exchange] = cast["exchanges"]
    for t in toxic:
        yield rng.randint(0, 2)
        sweep(econ, group, t, rng.choice(exchanges).deposit_for(f"{group.name}-toxic"),
              "cash_out", actual)
    for i, u in enumerate(post):
        yield rng.randint(0, 2)
        sweep(econ, group, u, rng.choice(exchanges).deposit_for(f"{group.name}-postmix-{i % 3}"),
              "cash_out", actual)


def key_section(case: dict[str, Any], tdir: Path) -> dict[str, Any]:
    """The `coinjoin` part of the key: the entry facts, and which cash-outs are exact."""
    graph = [json.loads(x) for x in (tdir / "cases" / case["txgraph"]).read_text(
        encoding="utf-8").splitlines()]
    kinds = {c["txid"]: c["protocol"] for c in case["coinjoins"]}
    tx0 = next(g for g in graph if kinds.get(g["txid"]) == "whirlpool_tx0")
    with open(tdir / "addresses.csv", newline="", encoding="utf-8") as fh:
        paid = {o["address"] for o in tx0["outputs"]}
        role = {r["address"]: r["role"] for r in csv.DictReader(fh) if r["address"] in paid}

    def outs(r: str) -> list[dict[str, Any]]:
        return [{"outpoint": f"{tx0['txid']}:{v}", "amount_sat": o["value"]}
                for v, o in enumerate(tx0["outputs"]) if role.get(o["address"]) == r]

    premix, toxic = outs("premix"), outs("toxic_change")
    fee_value = sum(o["amount_sat"] for o in outs("coordinator_fee"))
    mixes = [g["txid"] for g in graph if kinds.get(g["txid"]) == "whirlpool_mix"]
    # Exact: what reaches cash-out points without passing through a mix.
    before = [g for g in graph if kinds.get(g["txid"]) != "whirlpool_mix"]
    seeds = [(s["txid"], s["vout"]) for s in case["seed_outputs"]]
    targets = frozenset(p["address"] for p in case["cashout_points"])
    exact = oracle.case_answers(before, seeds, targets, policies=("haircut",))["haircut"]
    return {"protocol": "whirlpool", "pool_sat": POOL, "tx0": tx0["txid"],
            "pool_fee_sat": fee_value, "premix_outputs": premix, "toxic_change": toxic,
            "mixes": mixes, "entry_required": [tx0["txid"]], "accepted": [tx0["txid"], *mixes],
            "exact_cashout": {a: int(v) for a, v in sorted(exact["by_target"].items())
                              if Fraction(v).denominator == 1}}
