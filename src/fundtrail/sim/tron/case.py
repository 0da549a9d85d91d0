"""The case `usdt-theft-1`: stolen USDT through energy-delegated mules, an OTC peel, an issuer freeze.

The shape of the TRON cases police units bring (issue 18): the thief's drain address receives the
victim's USDT and splits it to fresh mule addresses that hold no TRX at all: one payer stakes TRX
and delegates energy and bandwidth to every mule, so the mules' transfers burn nothing. Most mules
pay the thief's own deposit addresses at the three exchanges; one starts a peel chain whose hops
each peel a slice to an OTC desk and pass the rest on, the desk later paying the thief's deposit at
exchange 3 out of its mixed inventory; one mule is blacklisted by Tether (`AddedBlackList`) before
it moves, its transfer reverts, and Tether destroys its funds (`DestroyedBlackFunds`). About a
tenth of the loot stays at the drain.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from fundtrail.sim.tron.chain import SUN, SimTx
from fundtrail.sim.tron.economy import USD, Economy

CASE = "usdt-theft-1"
THIEF = "thief"
N_MULES = 6
N_HOPS = 4


class TheftCase:
    """Plans the case's transactions block by block alongside the economy."""

    def __init__(self, eco: Economy) -> None:
        self.eco = eco
        c = eco.chain
        rng = eco.rng
        self.victim = eco.addr("victim", "user", "wallet", "victim:whale")
        c.send_usdt(eco.tether, self.victim, rng.randint(400_000, 900_000) * USD, eco.m("tether", "distribution"))
        c.send_trx(eco.treasury, self.victim, 500 * SUN, eco.m("treasury", "funding"))
        self.drain = self.addr("drain", "seed")
        self.payer = self.addr("payer", "energy_payer")
        self.mules = [self.addr(f"mule-{i}", "mule") for i in range(N_MULES)]
        self.hops = [self.addr(f"hop-{i}", "peel_hop") for i in range(N_HOPS)]
        self.frozen_mule, self.peel_mule = self.mules[0], self.mules[1]
        self.deposits = [eco.deposit(ex, THIEF) for ex in eco.exchanges]
        eco.reserved.update([self.drain, self.payer, *self.mules, *self.hops, *self.deposits])
        self.start = -1
        self.steps: dict[int, list[Callable[[], object]]] = {}
        self.txs: list[SimTx] = []
        self.seed_txs: list[SimTx] = []
        self.delegations: list[SimTx] = []
        self.freeze_txs: list[SimTx] = []
        self.finished = False

    def addr(self, label: str, role: str) -> bytes:
        return self.eco.addr(THIEF, "criminal", role, f"thief:{label}", case=CASE)

    def m(self, pattern: str, typology: str, actor: str = THIEF) -> dict:
        return {"actor": actor, "pattern": pattern, "typology": typology, "case": CASE}

    def _keep(self, tx: SimTx) -> SimTx:
        self.txs.append(tx)
        return tx

    @property
    def done(self) -> bool:
        return self.finished

    def at(self, offset: int, step: Callable[[], object]) -> None:
        self.steps.setdefault(self.start + offset, []).append(step)

    def plan_block(self) -> None:
        """Start the case (first call), then run the steps due in the block being planned."""
        block = self.eco.chain.block + 1
        if self.start < 0:
            self.start = block
            plan: tuple[tuple[int, Callable[[], object]], ...] = (
                (0, self._funding), (1, self._stake), (2, self._theft), (3, self._delegate), (4, self._fan_out),
                (5, self._freeze), (6, self._cash_out), (7, self._frozen_attempt), (8, self._peel_start),
                (20, self._otc_payout), (24, self._destroy), (26, self._finish))
            for off, first in plan:
                self.at(off, first)
        for step in self.steps.pop(block, []):
            step()

    # -- steps -----------------------------------------------------------------------------
    def _funding(self) -> None:
        """TRX for the drain's fees and the payer's stake: withdrawals the thief asks of exchanges."""
        eco, c = self.eco, self.eco.chain
        for ex, to, amount in ((eco.exchanges[0], self.drain, 300 * SUN), (eco.exchanges[1], self.payer, 40_000 * SUN)):
            eco.top_up(ex.hot, amount + c.fee_trx(ex.hot, to))
            self._keep(c.send_trx(ex.hot, to, amount, self.m("withdrawal", "funding", ex.name)))

    def _stake(self) -> None:
        c = self.eco.chain
        self._keep(c.stake(self.payer, 30_000 * SUN, "ENERGY", self.m("stake", "delegation")))
        self._keep(c.stake(self.payer, 5_000 * SUN, "BANDWIDTH", self.m("stake", "delegation")))

    def _theft(self) -> None:
        c = self.eco.chain
        self.loot = c.usdt(self.victim) * self.eco.rng.randint(70, 90) // 100
        self.seed_txs.append(self._keep(c.send_usdt(self.victim, self.drain, self.loot,
                                                    self.m("theft", "theft", "victim"))))

    def _delegate(self) -> None:
        """The payer's staked TRX pays every mule's and hop's energy and bandwidth."""
        c, rng = self.eco.chain, self.eco.rng
        for a in self.mules + self.hops:
            for resource in ("ENERGY", "BANDWIDTH"):
                tx = c.delegate(self.payer, a, rng.randint(1_000, 3_000) * SUN, resource,
                                self.m("delegate_resource", "delegation"))
                self.delegations.append(self._keep(tx))

    def _fan_out(self) -> None:
        c, rng = self.eco.chain, self.eco.rng
        total = self.loot * rng.randint(85, 92) // 100
        weights = [rng.randint(10, 30) for _ in self.mules]
        self.shares = [total * w // sum(weights) for w in weights]
        for mule, share in zip(self.mules, self.shares):
            self._keep(c.send_usdt(self.drain, mule, share, self.m("fan_out", "fan_out")))

    def _freeze(self) -> None:
        eco = self.eco
        self.freeze_txs.append(self._keep(eco.chain.blacklist(eco.tether, self.frozen_mule,
                                                               self.m("freeze", "freeze", "tether"))))

    def _cash_out(self) -> None:
        """Mules 2.. pay the thief's deposit addresses (one or two payments each)."""
        c, eco, rng = self.eco.chain, self.eco, self.eco.rng
        for i, mule in enumerate(self.mules[2:]):
            k = i % len(self.deposits)
            left = c.usdt(mule)
            parts = [left] if rng.random() < 0.5 else [left // 2, left - left // 2]
            for part in parts:
                self._keep(c.send_usdt(mule, self.deposits[k], part, self.m("cash_out", "cash_out")))
                eco.schedule(self.deposits[k], eco.exchanges[k], c.token_text, part)

    def _frozen_attempt(self) -> None:
        c = self.eco.chain
        self._keep(c.send_usdt(self.frozen_mule, self.hops[0], c.usdt(self.frozen_mule),
                               self.m("transfer", "freeze")))

    def _peel_start(self) -> None:
        c = self.eco.chain
        self._keep(c.send_usdt(self.peel_mule, self.hops[0], c.usdt(self.peel_mule), self.m("peel", "peel_chain")))
        for i in range(len(self.hops)):
            self.at(9 + 2 * i, functools.partial(self._peel, i))

    def _peel(self, i: int) -> None:
        """Hop i peels 5-15 % to the OTC desk and passes the rest on; the last hop pays it all."""
        c, eco = self.eco.chain, self.eco
        hop, held = self.hops[i], c.usdt(self.hops[i])
        if i == len(self.hops) - 1:
            self._keep(c.send_usdt(hop, eco.otc, held, self.m("peel", "peel_chain")))
            return
        part = held * eco.rng.randint(5, 15) // 100
        self._keep(c.send_usdt(hop, eco.otc, part, self.m("peel", "peel_chain")))
        self._keep(c.send_usdt(hop, self.hops[i + 1], held - part, self.m("peel", "peel_chain")))

    def _otc_payout(self) -> None:
        """The desk pays the thief's deposit at exchange 3 out of its (mixed) inventory."""
        c, eco = self.eco.chain, self.eco
        amount = min(self.shares[1] * 6 // 10, c.usdt(eco.otc))
        if not amount:
            return
        eco.top_up(eco.otc, c.fee_usdt(eco.otc, self.deposits[2]))
        self._keep(c.send_usdt(eco.otc, self.deposits[2], amount, self.m("otc_payout", "otc", "otc-desk")))
        eco.schedule(self.deposits[2], eco.exchanges[2], c.token_text, amount)

    def _destroy(self) -> None:
        eco = self.eco
        self.destroyed = eco.chain.usdt(self.frozen_mule)
        self.freeze_txs.append(self._keep(eco.chain.destroy(eco.tether, self.frozen_mule,
                                                            self.m("destroy", "freeze", "tether"))))

    def _finish(self) -> None:
        self.finished = True
