"""The crime cases of the default scenario: ransomware-1, theft-1 and scam-1.

Each case is a plan (a generator yielding blocks to wait) that makes the seed transactions
(victims paying, or a wallet being drained) and launders the proceeds through the typologies of
`sim.typologies`; the case subgraph and its answer key follow from the marks (docs/simulator.md).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from fundtrail.sim import typologies as ty
from fundtrail.sim.actors import Actor, Exchange, Retail, criminal
from fundtrail.sim.coinjoin import Mixing, Registry
from fundtrail.sim.economy import CaseState, Economy
from fundtrail.sim.wallet import Address, Utxo, Wallet

RANSOMWARE, THEFT, SCAM = "ransomware-1", "theft-1", "scam-1"
WHIRLPOOL_POOL = 5_000_000  # the 0.05 BTC pool: deep enough for a handful of premixes
Plan = Generator[int, None, None]


def seq(first: Generator[int, None, Any],
        then: Callable[[Any], Generator[int, None, Any]]) -> Plan:
    """Run `first`, then `then` on what it returned."""
    out = yield from first
    yield from then(out)


def add_case_actors(econ: Economy, registry: Registry) -> dict[str, Actor]:
    """The criminals of the three cases (in a fixed order) and their CoinJoin registrations."""
    group = criminal(econ, "ransomware-group-1", "ransomware", case=RANSOMWARE)
    thief = criminal(econ, "thief-1", "theft", case=THEFT, n_wallets=2)
    scammer = criminal(econ, "scam-operation-1", "scam", case=SCAM, n_wallets=1)
    for actor in (group, thief):
        registry.add(Mixing(actor, None, side=True, jm_kind="p2wpkh"), background=False)
    econ.cases[RANSOMWARE] = CaseState(RANSOMWARE, "ransomware", group.name)
    econ.cases[THEFT] = CaseState(THEFT, "theft", thief.name)
    econ.cases[SCAM] = CaseState(SCAM, "scam", scammer.name)
    return {"group": group, "thief": thief, "scammer": scammer}


def _deposit(econ: Economy, exchanges: list[Exchange], who: str, n: int) -> Callable[[], Address]:
    return lambda: econ.rng.choice(exchanges).deposit_for(f"{who}-{econ.rng.randrange(n)}")


def ransomware(econ: Economy, cast: dict[str, Any], victims: list[Actor]) -> Plan:
    """Victims pay fresh ransom addresses; the group launders through every typology.

    Streams after the split: (1) commingled with the group's own clean coins, then a peel chain
    and cash-out; (2) Whirlpool (tx0, mixes, cash-out of the postmix coins), its toxic change
    through the custodial mixer and structured deposits; (3) layering, fan-out, pass-through.
    """
    rng, group = econ.rng, cast["group"]
    exchanges: list[Exchange] = cast["exchanges"]
    ransom, mules, cashw = group.wallets
    # Clean coins of the group's own (proceeds of other business), bought at an exchange.
    rng.choice(exchanges).withdraw(mules.new_address(), rng.randint(30, 150) * 10**6)
    for victim in victims:
        amount = rng.randint(50, 400) * 10**6
        addr = ransom.new_address(role="ransom")
        for _ in range(40):
            wal = victim.funded(amount)
            ex = rng.choice(exchanges)
            payer, pw = (victim, wal) if wal else (ex, ex.hot)  # victims often buy via a broker
            if econ.transfer(payer, pw, [(addr, amount)], pattern="ransom_payment",
                             seed_case=RANSOMWARE):
                break
            yield 1
        yield rng.randint(1, 3)
    yield 2
    merged = yield from ty.fan_in(econ, group, ransom, list(ransom.utxos.values()))
    big = merged[0]
    a, b = int(big.value * 0.35), int(big.value * 0.3)
    res = econ.transfer(group, ransom, [(mules.new_address(), a), (cashw.new_address(), b)],
                        inputs=[big], pattern="payment", typology="layering")
    if res is None:
        return
    streams = {u.addr.wallet: u for u in res.outputs}
    peel_id = f"{group.name}-peel"
    econ.spawn(seq(ty.commingle(econ, group, mules, streams[mules]),
                   lambda outs: seq(ty.peel_chain(econ, group, mules, outs[0], 8,
                                                  _deposit(econ, exchanges, peel_id, 3)),
                                    lambda rest: ty.cash_out(econ, group, mules, rest, exchanges,
                                                             peel_id))),
               RANSOMWARE)
    econ.spawn(_whirlpool_stream(econ, cast, streams[cashw]), RANSOMWARE, delay=1)
    layered = yield from ty.layering(econ, group, ransom, streams[ransom], 6)
    for coin in layered:
        smurfs = yield from ty.fan_out(econ, group, ransom, coin, rng.randint(6, 10))
        for i, s in enumerate(smurfs):
            dest = (cast["otc"].deposit_for(f"{group.name}-otc") if i % 3 == 0 else
                    rng.choice(exchanges).deposit_for(f"{group.name}-smurf-{i % 4}"))
            yield from ty.pass_through(econ, group, ransom, s, dest)
            yield rng.randint(0, 2)


def _whirlpool_stream(econ: Economy, cast: dict[str, Any], coin: Utxo) -> Plan:
    rng, group = econ.rng, cast["group"]
    m = cast["registry"].of(group)
    post, toxic = yield from ty.whirlpool(econ, group, coin, cast["whirlpool"], m,
                                          WHIRLPOOL_POOL, rng.randint(4, 8))
    exchanges = cast["exchanges"]

    def structure(wal: Wallet) -> Callable[[list[Utxo]], ty.Step]:
        """Structured deposits of the coins `wal` received."""
        return lambda outs: ty.structuring(econ, group, wal, outs,
                                           _deposit(econ, exchanges, f"{group.name}-struct", 5))

    for tox in toxic:  # the toxic change: custodial mixer, then structured deposits
        wal = tox.addr.wallet
        econ.spawn(seq(ty.mixing(econ, group, wal, tox, cast["mixer"], 4), structure(wal)), RANSOMWARE)
    if post:
        yield from ty.cash_out(econ, group, post[0].addr.wallet, post, exchanges,
                               f"{group.name}-postmix")


def theft(econ: Economy, cast: dict[str, Any]) -> Plan:
    """A hacked exchange hot wallet drained; the thief launders by peel chain, Wasabi 2, fan-out."""
    rng, thief = econ.rng, cast["thief"]
    exchanges: list[Exchange] = cast["exchanges"]
    loot, mules = thief.wallets
    victim = exchanges[rng.randrange(len(exchanges))]
    target = rng.randint(5, 25) * 10**8
    coins: list[Utxo] = []
    for _ in range(60):
        coins, total = [], 0
        for u in sorted(victim.hot.utxos.values(), key=lambda u: -u.value)[:5]:
            coins.append(u)
            total += u.value
            if total >= target:
                break
        if total >= target // 2:
            break
        yield 1
    if not coins:
        return
    res = econ.transfer(thief, victim.hot, [(loot.new_address(role="theft"), 0)], inputs=coins,
                        sweep=True, pattern="theft", seed_case=THEFT)
    if res is None:
        return
    yield rng.randint(1, 3)
    stolen = res.outputs[0]
    a, b = int(stolen.value * 0.4), int(stolen.value * 0.35)
    w2 = cast["registry"].of(thief).wallet("wasabi2")
    split = econ.transfer(thief, loot, [(mules.new_address(), a), (w2.new_address(), b)],
                          inputs=[stolen], pattern="payment", typology="layering")
    if split is None:
        return
    part = {u.addr.wallet: u for u in split.outputs}
    who = f"{thief.name}-peel"
    econ.spawn(seq(ty.peel_chain(econ, thief, mules, part[mules], rng.randint(6, 10),
                                 _deposit(econ, exchanges, who, 3)),
                   lambda rest: ty.cash_out(econ, thief, mules, rest, exchanges, who)), THEFT)
    econ.spawn(_wasabi_stream(econ, cast, part[w2]), THEFT)
    smurfs = yield from ty.fan_out(econ, thief, loot, part[loot], rng.randint(5, 8))
    for i, s in enumerate(smurfs):
        dest = (cast["otc"].deposit_for(f"{thief.name}-otc") if i % 4 == 0 else
                rng.choice(exchanges).deposit_for(f"{thief.name}-{i % 3}"))
        yield from ty.pass_through(econ, thief, loot, s, dest)
        yield rng.randint(0, 2)


def _wasabi_stream(econ: Economy, cast: dict[str, Any], coin: Utxo) -> Plan:
    """Through a Wasabi 2 round, then the classic mistake: post-mix coins merged into deposits."""
    rng, thief = econ.rng, cast["thief"]
    m: Mixing = cast["registry"].of(thief)
    mixed = yield from ty.wasabi2(econ, thief, coin.addr.wallet, coin, cast["wasabi2"], m,
                                  rng.randint(4, 7))
    w2 = m.wallet("wasabi2")
    exchanges: list[Exchange] = cast["exchanges"]
    half = (len(mixed) + 1) // 2
    for batch in (mixed[:half], mixed[half:]):
        if not batch:
            continue
        yield rng.randint(1, 4)
        ex = rng.choice(exchanges)
        econ.transfer(thief, w2, [(ex.deposit_for(f"{thief.name}-postmix"), 0)], inputs=batch,
                      sweep=True, pattern="exchange_deposit", typology="cash_out")


def scam(econ: Economy, cast: dict[str, Any]) -> Plan:
    """Victims pay a few heavily reused scam addresses; fan-in; structured deposits and OTC."""
    rng, op = econ.rng, cast["scammer"]
    wal = op.wallets[0]
    addrs = [wal.new_address() for _ in range(3)]
    users: list[Retail] = cast["users"]
    for victim in rng.sample(users, min(len(users), rng.randint(10, 20))):
        amount = rng.choice((1, 2, 5)) * 10 ** rng.randint(6, 7)
        for _ in range(10):
            pw = victim.funded(amount)
            if pw and econ.transfer(victim, pw, [(rng.choice(addrs), amount)],
                                    pattern="scam_payment", seed_case=SCAM):
                break
            if pw is None:
                victim.exchange.withdraw(victim.wallets[0].receive_address(), amount * 2)
            yield 1
        yield rng.randint(0, 2)
    yield 2
    merged = yield from ty.fan_in(econ, op, wal, list(wal.utxos.values()))
    if not merged:
        return
    big, hop = merged[0], wal.new_address()
    res = econ.transfer(op, wal, [(hop, int(big.value * 0.3))], inputs=[big], pattern="payment",
                        typology="layering")
    if res is None:
        return
    otc_part = next(u for u in res.outputs if u.addr is hop)
    rest = [u for u in res.outputs if u is not otc_part]
    yield from ty.pass_through(econ, op, wal, otc_part, cast["otc"].deposit_for(op.name))
    yield from ty.structuring(econ, op, wal, rest, _deposit(econ, cast["exchanges"], op.name, 6))
