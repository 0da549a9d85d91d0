"""The criminal case of the EVM scenario: an exchange hot-wallet theft, laundered.

`theft-1`: a thief drains part of exchange-3's hot wallet (ETH and sUSD), then
- fans the ETH out to seven fresh addresses and the sUSD to two (`fan_out`);
- two run peel chains, a slice to an exchange deposit at each hop (`peel_chain`, `cash_out`);
- three deposit 1 ETH notes into the Tornado-shaped pool; relayers withdraw each note to a fresh
  address some blocks later (`mixing`); those swap to sUSD and bridge out, or cash out, or fan in
  to a collector that cashes out;
- one swaps ETH for sUSD on the DEX (`swap`: a chain hop inside the chain) and deposits it at an
  exchange; one locks ETH in the bridge (`bridge`: a chain hop out, destination in the truth);
- the stolen sUSD is split: half bridged out, half left at an address the issuer freezes
  (`freeze`); the thief's later attempt to move it reverts.
The sources for each behaviour are in docs/simulator-evm.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from fundtrail.sim.evm.abi import note_secret
from fundtrail.sim.evm.chain import ETH, GWEI, SimTx
from fundtrail.sim.evm.economy import DEST_CHAINS, ETHER, Economy
from fundtrail.sim.evm.world import GAS_TRANSFER

CASE = "theft-1"
THIEF = "thief-1"


class TheftCase:
    """Plans the case's transactions block by block once it has started."""

    def __init__(self, eco: Economy) -> None:
        self.eco = eco
        self.w = eco.world
        self.ch = eco.chain
        self.rng = eco.rng
        eco.registry.actor(THIEF, "theft", CASE)
        self.victim = eco.exchanges[2]
        self.n = 0
        self.start = -1
        self.steps: dict[int, list[Callable[[], object]]] = {}
        self.seed_txs: list[SimTx] = []
        self.frozen: list[str] = []
        self.gp = 3 * GWEI

    def addr(self, label: str, role: str) -> str:
        return self.eco.registry.add(self.eco.addr(f"{THIEF}/{label}"), THIEF, role)

    def fresh(self, role: str) -> str:
        self.n += 1
        return self.addr(f"a{self.n}", role)

    def m(self, pattern: str, typology: str) -> dict:
        return self.eco.meta(THIEF, pattern, typology, CASE)

    @property
    def done(self) -> bool:
        return self.start >= 0 and not self.steps

    def at(self, offset: int, step: Callable[[], object]) -> None:
        """Run `step` `offset` blocks after the next one (0: in the block after this one)."""
        self.steps.setdefault(self.ch.block + 2 + offset, []).append(step)

    def plan_block(self) -> None:
        if self.start < 0:
            self.start = self.ch.block + 1
            self._theft()
            return
        for step in self.steps.pop(self.ch.block + 1, []):
            step()

    # -- the steps -----------------------------------------------------------------------------

    def _theft(self) -> None:
        hot, stable = self.victim.hot, self.w.c.stable
        self.thief = self.addr("drain", "seed")
        eth = self.ch.available(hot) * self.rng.randint(45, 60) // 100 // ETHER * ETHER
        usd = self.ch.available(hot, stable) * 4 // 10
        # the compromised hot-wallet key signs: the thief is the actor
        t1 = self.w.pay(hot, self.thief, eth, self.gp, self.m("theft", "theft"))
        t2 = self.w.token_pay(hot, self.thief, usd, self.gp, self.m("theft", "theft"))
        self.seed_txs = [t1, t2]
        self.stolen = {"ETH": eth, stable: usd}
        self.at(0, self._fan_out)

    def _fan_out(self) -> None:
        stolen = self.stolen[ETH]
        plan = [("peel", stolen * 12 // 100), ("peel", stolen * 10 // 100)]
        for _ in range(3):
            plan.append(("mix", self.rng.randint(5, 9) * ETHER + ETHER // 10))
        plan += [("swap", stolen * 8 // 100), ("bridge", stolen * 7 // 100)]
        fm = self.m("fan_out", "fan_out")
        for purpose, amount in plan:
            to = self.fresh("smurf")
            self.w.pay(self.thief, to, amount, self.gp, fm)
            step = {"peel": self._peel, "mix": self._mix, "swap": self._swap_out,
                    "bridge": self._bridge_eth}[purpose]
            self.at(1 + self.rng.randint(0, 1), functools.partial(step, to))
        stable = self.w.c.stable
        half = self.stolen[stable] // 2
        self.frozen_at = self.fresh("frozen")
        bridge_from = self.fresh("bridge_sender")
        for to, amount in ((self.frozen_at, half), (bridge_from, self.stolen[stable] - half)):
            self.w.pay(self.thief, to, ETHER // 20, self.gp, fm)  # gas money
            self.w.token_pay(self.thief, to, amount, self.gp, fm)
        self.at(1, lambda: self.w.freeze(self.eco.issuer, self.frozen_at, GWEI,
                                         self.eco.meta("stable-issuer", "freeze", "", CASE)))
        self.at(3, self._try_frozen)
        self.at(1, lambda: self.w.approve(bridge_from, self.w.c.bridge, self.gp,
                                          self.m("approve", "bridge")))
        self.at(2, lambda: self._bridge_token(bridge_from, 42161))

    def _try_frozen(self) -> None:
        stable = self.w.c.stable
        self.w.token_pay(self.frozen_at, self.fresh("smurf"), self.ch.balance(self.frozen_at, stable),
                         self.gp, self.m("transfer", "freeze"), expect_status=0)
        self.frozen.append(self.frozen_at)

    def _bridge_token(self, sender: str, dest_chain: int) -> None:
        amount = self.ch.available(sender, self.w.c.stable)
        dest = self.eco.addr(f"{THIEF}/chain-{dest_chain}")
        self.w.bridge_token(sender, amount, dest_chain, dest, self.gp, self.m("bridge_out", "bridge"))

    def _bridge_eth(self, sender: str) -> None:
        amount = self.ch.available(sender) - 200_000 * self.gp
        dest_chain = DEST_CHAINS[0]
        dest = self.eco.addr(f"{THIEF}/chain-{dest_chain}")
        self.w.bridge_eth(sender, amount, dest_chain, dest, self.gp, self.m("bridge_out", "bridge"))

    def _peel(self, holder: str, hops: int = 0) -> None:
        exchanges = self.eco.exchanges[:2]
        ex = self.rng.choice(exchanges)
        dep = self.eco.deposit_address(ex, f"{THIEF}/{self.rng.randrange(4)}")
        left = self.ch.available(holder) - 2 * GAS_TRANSFER * self.gp
        if hops >= 5:
            self.w.sweep_all(holder, dep, self.gp, self.m("cash_out", "cash_out"))
            return
        pm = self.m("peel", "peel_chain")
        slice_ = left * self.rng.randint(4, 15) // 100
        self.w.pay(holder, dep, slice_, self.gp, pm)
        nxt = self.fresh("peel_hop")
        self.w.pay(holder, nxt, left - slice_, self.gp, pm)
        self.at(0, lambda: self._peel(nxt, hops + 1))

    def _mix(self, holder: str) -> None:
        """1 ETH notes, the pool that ordinary users share most (so the policies differ)."""
        one = ETHER
        notes = (self.ch.available(holder) - ETHER // 20) // one
        for i in range(notes):
            label = f"{THIEF}/{holder}/note/{i}"
            note = (note_secret(self.eco.seed, label + "/n"), note_secret(self.eco.seed, label + "/s"))
            self.w.pool_deposit(holder, one, note, self.gp, self.m("pool_deposit", "mixing"))
            out = self.fresh("mixer_out")
            when = self.ch.block + 1 + self.rng.randint(4, 14)
            self.eco.relay(one, note, out, self.m("pool_withdrawal", "mixing"), when)
            after = when - self.ch.block - 2 + self.rng.randint(1, 3)
            self.at(after, functools.partial(self._after_mix, out))

    def _after_mix(self, holder: str) -> None:
        choice = self.rng.random()
        if choice < 0.35:
            self._swap_out(holder, bridge=True)
        elif choice < 0.7:
            ex = self.rng.choice(self.eco.exchanges[:2])
            dep = self.eco.deposit_address(ex, f"{THIEF}/{self.rng.randrange(4)}")
            self.w.sweep_all(holder, dep, self.gp, self.m("cash_out", "cash_out"))
        else:
            if not hasattr(self, "collector"):
                self.collector = self.fresh("collector")
                self.at(6, self._collector_out)
            self.w.sweep_all(holder, self.collector, self.gp, self.m("fan_in", "fan_in"))

    def _collector_out(self) -> None:
        dep = self.eco.deposit_address(self.eco.exchanges[1], f"{THIEF}/collector")
        self.w.sweep_all(self.collector, dep, self.gp, self.m("cash_out", "cash_out"))

    def _swap_out(self, holder: str, bridge: bool = False) -> None:
        eth = self.ch.available(holder) - ETHER // 50
        self.w.swap_eth(holder, eth, holder, self.gp, self.m("swap", "swap"))
        if bridge:
            self.w.approve(holder, self.w.c.bridge, self.gp, self.m("approve", "bridge"))
            self.at(0, lambda: self._bridge_token(holder, self.rng.choice(DEST_CHAINS[1:])))
        else:
            ex = self.eco.exchanges[0]
            dep = self.eco.deposit_address(ex, f"{THIEF}/usd")
            self.at(0, lambda: self.w.token_pay(
                holder, dep, self.ch.available(holder, self.w.c.stable), self.gp,
                self.m("cash_out", "cash_out")))
