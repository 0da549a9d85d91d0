"""Wasabi Wallet CoinJoin rounds: 1.x (ZeroLink) and 2.x (WabiSabi).

Wasabi 1.x: every participant gets one output at the round's denomination (about 0.1 BTC, a
little different each round) and its change; the coordinator takes 0.003 % of the denomination
per member of the anonymity set from each participant in one fee output; P2WPKH only.

Wasabi 2.x: each participant splits its inputs into standard denominations (powers of 2 and 3,
2 x 3^n, 10^n, 2 x 10^n, 5 x 10^n satoshi, at least 5,000 sat), so outputs fall into many
equal-value groups; what cannot be decomposed becomes a change output or goes to miners. The
coordinator charges 0.3 % of fresh inputs above 0.01 BTC (remixes and small inputs are free).
Outputs are P2WPKH or P2TR. Both coordinators run a round every `period` blocks when enough
participants have coins; those that have none ask for some (an exchange withdrawal) for a later
round. Sources: ZeroLink (nopara73 2017), WabiSabi (Ficsór et al. 2021), Wasabi's standard
denomination list; detection shapes in Stockinger et al. 2022 and Schnoering & Vazirgiannis 2023.
"""

from __future__ import annotations

from fundtrail.sim.coinjoin import (
    Coordinator,
    Mixing,
    Registry,
    case_typology,
    pick_coins,
)
from fundtrail.sim.economy import DUST, Economy
from fundtrail.sim.wallet import Address, Utxo, Wallet

W1_DENOMINATION = 10_000_000
W1_COORDINATOR_RATE = 3  # per 100,000 of the denomination, per anonymity-set member
W2_MIN_OUTPUT = 5_000
W2_MAX_OUTPUT = 137_438_953_472  # 2^37 sat, about 1,374 BTC
W2_FREE_BELOW = 1_000_000  # inputs up to 0.01 BTC pay no coordinator fee
_IN_VB, _OUT_VB = {"p2wpkh": 68, "p2tr": 58}, {"p2wpkh": 31, "p2tr": 43}


def standard_denominations(lo: int = W2_MIN_OUTPUT, hi: int = W2_MAX_OUTPUT) -> list[int]:
    """Wasabi 2's output denominations between `lo` and `hi` satoshi, largest first."""
    vals: set[int] = set()
    for base, factors in ((2, (1,)), (3, (1, 2)), (10, (1, 2, 5))):
        p = 1
        while p <= hi:
            vals.update(f * p for f in factors if lo <= f * p <= hi)
            p *= base
    return sorted(vals, reverse=True)


W2_DENOMINATIONS: tuple[int, ...] = tuple(standard_denominations())
_W2_SET = frozenset(W2_DENOMINATIONS)


class WasabiCoordinator(Coordinator):
    """A Wasabi coordinator of protocol `version` 1 or 2, mixing every `period` blocks."""

    def __init__(self, econ: Economy, name: str, registry: Registry, version: int,
                 period: int, phase: int) -> None:
        super().__init__(econ, name, registry, fee_reuse=1.0 if version == 1 else 0.9)
        self.version, self.period, self.phase = version, period, phase
        self.pending: list[tuple[Mixing, list[Utxo]]] = []  # registered for the next round
        self._recent: list[bytes] = []  # txids of recent rounds (their outputs remix for free)

    def register(self, m: Mixing, coins: list[Utxo]) -> None:
        """Register coins of `m` for the next round (a case actor's plan does this)."""
        self.pending.append((m, coins))

    def unregister(self, m: Mixing) -> None:
        """Take back whatever `m` registered and was not mixed yet (it gave up waiting)."""
        self.pending = [(p, c) for p, c in self.pending if p is not m]

    def on_block(self) -> None:
        if self.econ.height % self.period == self.phase and self.econ.height >= 2:
            (self._round1 if self.version == 1 else self._round2)()

    def _live_pending(self) -> list[tuple[Mixing, list[Utxo]]]:
        out = []
        for m, coins in self.pending:
            live = [u for u in coins if (u.txid, u.vout) in u.addr.wallet.utxos]
            if live:
                out.append((m, live))
        return out

    def _candidates(self) -> list[Mixing]:
        """Clients online this round: a random sample of the participants (they may lack coins)."""
        rng, parts = self.econ.rng, self.registry.participants
        return rng.sample(parts, min(len(parts), 200))

    # -- Wasabi 1.x
    def _round1(self) -> None:
        econ, rng = self.econ, self.econ.rng
        fr = econ.feerate()
        denom = int(W1_DENOMINATION * rng.uniform(0.985, 1.005))
        want, asked = rng.randint(20, 70), 0
        max_fee = denom * W1_COORDINATOR_RATE * (want + len(self.pending)) // 100_000
        regs = [(m.wallet("wasabi1"), coins) for m, coins in self._live_pending()]
        n_in = sum(len(c) for _, c in regs)
        for m in self._candidates():
            wal = m.wallet("wasabi1")
            k = rng.randint(1, 4)
            coins = pick_coins(wal, denom + max_fee + fr * (68 * k + 62), k, ("p2wpkh",))
            if not coins:
                if asked < 10:  # a few newcomers buy coins for a later round
                    m.request(wal, rng.randint(12, 60) * 10**6)
                    asked += 1
                continue
            if n_in + len(coins) > 100 or len(regs) >= want:
                break
            regs.append((wal, coins))
            n_in += len(coins)
        if n_in < 30 or len(regs) < 10:
            return
        self.pending = []
        anon = len(regs)
        cfee = denom * W1_COORDINATOR_RATE * anon // 100_000
        inputs: list[Utxo] = []
        outs: list[tuple[Address | bytes, int]] = []
        for wal, coins in regs:
            change = sum(u.value for u in coins) - denom - cfee - fr * (68 * len(coins) + 62)
            outs.append((wal.new_address(), denom))
            if change >= DUST:
                outs.append((wal.new_address(role="change"), change))
            inputs += coins
        outs.append((self.fee_address(), cfee * anon))
        rng.shuffle(inputs)
        rng.shuffle(outs)
        econ.commit(self, inputs, outs, pattern="coinjoin", typology=case_typology(inputs),
                    protocol="wasabi1")

    # -- Wasabi 2.x
    def _round2(self) -> None:
        econ, rng = self.econ, self.econ.rng
        fr = econ.feerate()
        recent = frozenset(self._recent)
        regs = [(m.wallet("wasabi2"), coins) for m, coins in self._live_pending()]
        n_in = sum(len(c) for _, c in regs)
        want, asked = rng.randint(30, 110), 0
        for m in self._candidates():
            wal = m.wallet("wasabi2")
            coins = [u for u in sorted(wal.utxos.values(), key=lambda u: -u.value)[:10]
                     if u.value >= W2_MIN_OUTPUT + fr * 68]
            coins = coins[:rng.randint(1, 10)]
            if sum(u.value for u in coins) < 4 * W2_MIN_OUTPUT:
                if asked < 10:
                    m.request(wal, int(10 ** rng.uniform(5.5, 8.0)))
                    asked += 1
                continue
            if n_in + len(coins) > 400 or len(regs) >= want:
                break
            regs.append((wal, coins))
            n_in += len(coins)
        if n_in < 50 or len(regs) < 10:
            return
        self.pending = []
        inputs: list[Utxo] = []
        outs: list[tuple[Address | bytes, int]] = []
        fees = 0
        for wal, coins in regs:
            fee = sum(u.value * 3 // 1000 for u in coins
                      if u.value > W2_FREE_BELOW and u.txid not in recent)
            budget = sum(u.value for u in coins) - fee - fr * sum(_IN_VB.get(u.addr.kind, 91)
                                                                  for u in coins)
            mine = self._decompose(wal, budget, fr)
            if not mine:  # too little to decompose: the registration is dropped
                continue
            fees += fee
            outs += mine
            inputs += coins
        if fees >= DUST:
            outs.append((self.fee_address(), fees))
        inputs.sort(key=lambda u: (-u.value, u.txid, u.vout))
        outs.sort(key=lambda o: -o[1])
        res = econ.commit(self, inputs, outs, pattern="coinjoin", typology=case_typology(inputs),
                          protocol="wasabi2")
        self._recent = (self._recent + [res.txid])[-20:]

    def _decompose(self, wal: Wallet, budget: int, fr: int) -> list[tuple[Address | bytes, int]]:
        """Standard denominations summing to most of `budget`; the rest as change or miner fee."""
        rng = self.econ.rng
        outs: list[tuple[Address | bytes, int]] = []
        rest = budget
        for _ in range(rng.randint(2, 8)):
            kind = "p2tr" if rng.random() < 0.4 else "p2wpkh"
            fits = [d for d in W2_DENOMINATIONS if d <= rest - fr * _OUT_VB[kind]]
            if not fits:
                break
            d = fits[0] if rng.random() < 0.6 else fits[min(len(fits) - 1, rng.randint(1, 3))]
            outs.append((wal.new_address(kind), d))
            rest -= d + fr * _OUT_VB[kind]
        change = rest - fr * _OUT_VB["p2wpkh"]
        if change >= W2_MIN_OUTPUT:
            outs.append((wal.new_address("p2wpkh", role="change"), change))
        return outs


def is_standard(value: int) -> bool:
    """Whether `value` is one of Wasabi 2's standard denominations."""
    return value in _W2_SET
