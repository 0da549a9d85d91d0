"""Random everyday events of the default economy, and background crime outside the case.

Events are drawn by weight until a block is full: retail payments to merchants (fiat-priced, so
non-round amounts), person-to-person payments (round amounts), exchange deposits and withdrawals,
consolidations, darknet purchases, scam payments, mixer use by privacy-minded users and OTC sales.
Background crime (vendors' peel chains, scammers' fan-in and structuring) gives detectors more
than one instance of each typology, none of them part of the case.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from fundtrail.sim import typologies as ty
from fundtrail.sim.actors import (
    Actor,
    DarknetMarket,
    Exchange,
    Merchant,
    Mixer,
    OtcDesk,
    Retail,
)
from fundtrail.sim.economy import Economy
from fundtrail.sim.wallet import Address

Event = tuple[Callable[[], object], float]


def retail_events(econ: Economy, users: list[Retail], merchants: list[Merchant],
                  exchanges: list[Exchange], market: DarknetMarket, scammers: list[Actor],
                  mixer: Mixer, otc: OtcDesk) -> list[Event]:
    """The weighted event table of retail life."""
    rng = econ.rng

    def user() -> Retail:
        return users[rng.randrange(len(users))]

    def fiat_amount() -> int:
        return int(10 ** rng.uniform(4.5, 7.0))

    def round_amount() -> int:
        return rng.choice((1, 2, 5)) * 10 ** rng.randint(5, 7)

    def pay(payee: Callable[[], object], amount: int, pattern: str = "payment") -> None:
        u = user()
        wal = u.funded(amount)
        if wal is None:  # buy coins first: a withdrawal from the user's exchange
            u.exchange.withdraw(u.wallets[0].receive_address(), max(amount * 3, round_amount()))
            return
        econ.transfer(u, wal, [(payee(), amount)], pattern=pattern)  # type: ignore[list-item]

    def shop() -> None:
        m = merchants[rng.randrange(len(merchants))]
        pay(lambda: m.till.new_address(), fiat_amount())

    def p2p() -> None:
        other = user()
        pay(lambda: other.wallets[rng.randrange(len(other.wallets))].receive_address(),
            round_amount())

    def deposit() -> None:
        u = user()
        wal = u.funded(200_000)
        if wal:
            econ.transfer(u, wal, [(u.exchange.deposit_for(u.name), wal.balance() // 2)],
                          pattern="exchange_deposit")

    def withdraw() -> None:
        u = user()
        u.exchange.withdraw(u.wallets[rng.randrange(len(u.wallets))].receive_address(),
                            round_amount())

    def consolidate() -> None:
        u = user()
        for wal in u.wallets:
            if len(wal.utxos) >= 8:
                econ.transfer(u, wal, [(wal.new_address(), 0)],
                              inputs=list(wal.utxos.values())[:50], sweep=True,
                              pattern="consolidation")
                return

    def dnm() -> None:
        pay(lambda: market.escrow.new_address(), fiat_amount())

    def scam() -> None:
        s = scammers[rng.randrange(len(scammers))]
        pay(lambda: s.wallets[0].receive_address(), round_amount())

    def mix() -> None:
        u = user()
        amount = round_amount()
        wal = u.funded(amount)
        if wal:
            dests = [wal.new_address() for _ in range(rng.randint(1, 3))]
            dep = mixer.order(dests, amount, rng.randint(1, 8))
            econ.transfer(u, wal, [(dep, amount)], pattern="mixer_deposit")

    def otc_sale() -> None:
        u = user()
        wal = u.funded(10**8)
        if wal:
            econ.transfer(u, wal, [(otc.deposit_for(u.name), wal.balance() * 3 // 4)],
                          pattern="otc_sale")

    return [(shop, 30), (p2p, 15), (deposit, 8), (withdraw, 10), (consolidate, 2), (dnm, 4),
            (scam, 2), (mix, 2), (otc_sale, 1)]


def background_crime(econ: Economy, vendors: list[Actor], scammers: list[Actor],
                     exchanges: list[Exchange]) -> None:
    """Register the periodic job that starts vendors' and scammers' laundering plans."""
    rng = econ.rng
    busy: list[Actor] = []

    def guarded(actor: Actor, plan: Generator[int, None, object]) -> Generator[int, None, None]:
        yield from plan
        busy.remove(actor)

    def deposit_of(who: Actor) -> Callable[[], Address]:
        """Where `who` deposits, at an exchange picked anew on each call."""
        return lambda: rng.choice(exchanges).deposit_for(who.name)

    def job() -> None:
        if econ.height % 7:
            return
        for v in vendors:
            wal = v.wallets[0]
            coins = list(wal.utxos.values())
            if v in busy or not coins or wal.balance() < 2 * 10**8:
                continue
            busy.append(v)
            big = max(coins, key=lambda u: u.value)
            econ.spawn(guarded(v, ty.peel_chain(econ, v, wal, big, rng.randint(4, 12), deposit_of(v))))
        for s in scammers:
            wal = s.wallets[0]
            coins = list(wal.utxos.values())[:80]
            if s in busy or len(coins) < 5:
                continue
            busy.append(s)
            econ.spawn(guarded(s, _scam_cashout(econ, s, coins, exchanges)))

    econ.jobs.append(job)


def _scam_cashout(econ: Economy, s: Actor, coins: list, exchanges: list[Exchange]
                  ) -> Generator[int, None, None]:
    wal = s.wallets[0]
    merged = yield from ty.fan_in(econ, s, wal, coins)
    ex = exchanges[econ.rng.randrange(len(exchanges))]
    yield from ty.structuring(econ, s, wal, merged,
                              lambda: ex.deposit_for(f"{s.name}-{econ.rng.randrange(6)}"))
