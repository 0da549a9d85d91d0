"""JoinMarket: a taker pays makers a small fee to join its transaction.

The taker picks the amount and 2-9 makers whose wallets use the same script type (P2WPKH or
P2SH-P2WPKH: a JoinMarket wallet is one or the other, and makers only join transactions of their
own type). Outputs: one output of exactly the taker's amount per participant, each maker's change
(its inputs less the amount plus its fee), and the taker's change unless it sweeps; the taker
pays the miner fee. Inputs and outputs are in random order. No coordinator. Sources: JoinMarket
documentation (orderbook, yield generator, sweeps); Möser & Böhme 2017 ("Anonymous alone?");
Schnoering & Vazirgiannis 2023 (detection).
"""

from __future__ import annotations

from fundtrail.sim.coinjoin import Mixing, Registry, case_typology, pick_coins
from fundtrail.sim.economy import DUST, Economy, TxResult
from fundtrail.sim.wallet import Address, Utxo, vsize

MIN_AMOUNT = 100_000


def join(econ: Economy, registry: Registry, taker: Mixing, coins: list[Utxo] | None = None,
         *, sweep: bool = False) -> TxResult | None:
    """One JoinMarket transaction of `taker`; None if too few makers can match it (nothing made)."""
    rng = econ.rng
    twal = taker.wallet("joinmarket")
    kind = taker.jm_kind
    coins = coins or sorted(twal.utxos.values(), key=lambda u: -u.value)[:8]
    total = sum(u.value for u in coins)
    if total < 4 * MIN_AMOUNT:
        taker.request(twal, rng.randint(5, 80) * 10**6)
        return None
    makers = [m for m in registry.makers if m is not taker and m.jm_kind == kind]
    rich = [m for m in makers if m.wallet("joinmarket").balance() >= 2 * MIN_AMOUNT]
    poor = [m for m in makers if m not in rich]
    for m in rng.sample(poor, min(3, len(poor))):
        m.request(m.wallet("joinmarket"), rng.randint(5, 100) * 10**6)
    if len(rich) < 2:
        return None
    chosen = rng.sample(rich, min(len(rich), rng.randint(2, 9)))
    cap = min(m.wallet("joinmarket").balance() for m in chosen) - DUST
    fr = econ.feerate()
    amount = total if sweep else int(total * rng.uniform(0.2, 0.8))
    amount = min(amount, cap)
    fees = [rng.randint(100, 3000) + amount * rng.randint(0, 30) // 1_000_000 for _ in chosen]
    maker_coins = [pick_coins(m.wallet("joinmarket"), amount + DUST, 6) for m in chosen]
    if any(not c for c in maker_coins):
        return None
    n_in = len(coins) + sum(len(c) for c in maker_coins)
    n_out = 2 * (len(chosen) + 1)
    miner = fr * (vsize(coins, []) + 68 * (n_in - len(coins)) + 32 * n_out)
    if sweep:
        amount = min(total - sum(fees) - miner, cap)
        if amount < MIN_AMOUNT:
            return None
        fees = [min(f, amount) for f in fees]
    change = total - amount - sum(fees) - miner
    if amount < MIN_AMOUNT or change < 0:
        return None
    outs: list[tuple[Address | bytes, int]] = [(twal.new_address(), amount)]
    if change >= DUST:
        outs.append((twal.new_address(role="change"), change))
    else:
        change = 0
    inputs = list(coins)
    for m, mc, fee in zip(chosen, maker_coins, fees, strict=True):
        mw = m.wallet("joinmarket")
        outs.append((mw.new_address(), amount))
        outs.append((mw.new_address(role="change"), sum(u.value for u in mc) - amount + fee))
        inputs += mc
    rng.shuffle(inputs)
    rng.shuffle(outs)
    return econ.commit(taker.actor, inputs, outs, pattern="coinjoin",
                       typology=case_typology(inputs), protocol="joinmarket")


def background_job(econ: Economy, registry: Registry) -> None:
    """Register the per-block chance that some participant takes a JoinMarket CoinJoin."""
    rng = econ.rng

    def job() -> None:
        parts = registry.participants
        if econ.height < 2 or not parts or rng.random() >= 0.35:
            return
        online = rng.sample(parts, min(len(parts), 10))
        taker = next((m for m in online
                      if m.wallet("joinmarket").balance() >= 4 * MIN_AMOUNT), online[0])
        join(econ, registry, taker, sweep=rng.random() < 0.15)

    econ.jobs.append(job)
