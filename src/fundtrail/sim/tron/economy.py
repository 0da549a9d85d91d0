"""The ordinary TRON economy the case hides in: exchanges, users, an OTC desk, Tether, energy rental.

Everything is planned against the chain's ledger (`chain.Chain`), so no account ever sends more
than it holds. Exchanges give every customer a deposit address and sweep each payment to the hot
wallet one to three blocks later (for USDT the hot wallet first sends the deposit address TRX for
the fee, as exchanges on TRON do); the OTC desk buys and sells USDT for cash (its clients' USDT in
and out) and settles its inventory at its own exchange deposit addresses; an energy-rental service
delegates energy to strangers who paid it TRX (the delegation heuristic's false-positive mode).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from fundtrail.chains.tron.address import parse_tron_address, to_base58
from fundtrail.sim.evm.world import Registry
from fundtrail.sim.tron.chain import SUN, TRX, Chain, SimTx, account

#: USDT-TRC20 on TRON mainnet (a known issuer's contract: its freezes count as facts)
USDT = parse_tron_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")
USD = 10**6  # USDT base units (6 decimals)
N_EXCHANGES = 3


@dataclass
class Exchange:
    name: str
    hot: bytes
    deposits: dict[str, bytes] = field(default_factory=dict)  # customer -> deposit address


class Economy:
    """Actors, their addresses and the ordinary transactions of each block."""

    def __init__(self, seed: int, txs: int) -> None:
        self.seed, self.target = seed, txs
        self.rng = random.Random(seed)
        self.chain = Chain(seed, USDT)
        self.reg = Registry()
        self.per_block = max(8, min(1_500, txs // 150))
        self.n_users = max(30, min(20_000, txs // 20))
        self.users: list[bytes] = []
        self.user_names: dict[bytes, str] = {}
        self.exchange_of: dict[bytes, int] = {}
        self.exchanges: list[Exchange] = []
        self.sweeps: dict[int, list[tuple[bytes, Exchange, str, int]]] = {}
        self.reserved: set[bytes] = set()  # addresses the case uses (ordinary traffic leaves them alone)
        self.setup_blocks: list[list[SimTx]] = []  # the transactions of blocks 1.. mined by setup
        self.rentals: list[dict] = []  # energy rentals: (renter -> customer) delegations, not common control

    # -- actors ----------------------------------------------------------------------------
    def addr(self, actor: str, category: str, role: str, label: str, case: str = "") -> bytes:
        self.reg.actor(actor, category, case)
        a = account(self.seed, label)
        self.reg.add(to_base58(a), actor, role)
        return a

    def deposit(self, ex: Exchange, customer: str) -> bytes:
        """The deposit address of `customer` at `ex` (created on first use)."""
        if customer not in ex.deposits:
            ex.deposits[customer] = self.addr(ex.name, "exchange", "deposit", f"{ex.name}:deposit:{customer}")
        return ex.deposits[customer]

    def m(self, actor: str, pattern: str) -> dict:
        return {"actor": actor, "pattern": pattern}

    def setup(self) -> None:
        """Genesis allocation, witnesses, Tether's issue and the first distribution."""
        c = self.chain
        c.witnesses = [self.addr(f"witness-{i}", "validator", "witness", f"witness:{i}") for i in range(3)]
        self.treasury = self.addr("treasury", "treasury", "genesis", "treasury")
        c.allocate(self.treasury, 10**11 * SUN)  # stands for prior history
        self.reg.actor("tether", "issuer")
        self.reg.add(c.token_text, "tether", "token")
        self.tether = self.addr("tether", "issuer", "issuer", "tether:owner")
        self.exchanges = [Exchange(f"exchange-{i + 1}", self.addr(f"exchange-{i + 1}", "exchange", "hot",
                                                                  f"exchange-{i + 1}:hot"))
                          for i in range(N_EXCHANGES)]
        self.otc = self.addr("otc-desk", "otc_desk", "otc", "otc:desk")
        self.renter = self.addr("energy-rental", "energy_rental", "renter", "rental:provider")
        for i in range(self.n_users):
            u = self.addr(f"user-{i}", "user", "wallet", f"user:{i}")
            self.users.append(u)
            self.user_names[u] = f"user-{i}"
            self.exchange_of[u] = self.rng.randrange(N_EXCHANGES)
        t = self.m("treasury", "funding")
        for a in [self.tether, self.otc, self.renter] + [e.hot for e in self.exchanges]:
            c.send_trx(self.treasury, a, 2_000_000 * SUN, t)
        self.setup_blocks.append(c.mine())
        supply = (20_000 * self.n_users + 10_000_000) * USD
        c.issue(self.tether, supply, self.m("tether", "mint"))
        c.stake(self.renter, 1_000_000 * SUN, "ENERGY", self.m("energy-rental", "stake"))
        self.setup_blocks.append(c.mine())
        for e in self.exchanges:
            c.send_usdt(self.tether, e.hot, supply // 5, self.m("tether", "distribution"))
        c.send_usdt(self.tether, self.otc, supply // 10, self.m("tether", "distribution"))
        for u in self.users:
            c.send_trx(self.treasury, u, self.rng.randint(200, 2_000) * SUN, t)
        self.setup_blocks.append(c.mine())

    # -- ordinary traffic -----------------------------------------------------------------
    def top_up(self, a: bytes, need: int) -> None:
        if self.chain.trx(a) < need:
            self.chain.send_trx(self.treasury, a, max(need, 100 * SUN), self.m("treasury", "funding"))

    def _user(self) -> bytes:
        return self.users[self.rng.randrange(len(self.users))]

    def plan_block(self) -> None:
        """The economy's transactions of the next block (sweeps due, then users' actions)."""
        c, rng = self.chain, self.rng
        for dep, ex, asset, amount in self.sweeps.pop(c.block + 1, []):
            self._sweep(dep, ex, asset, amount)
        for _ in range(self.per_block):
            u = self._user()
            r = rng.random()
            if r < 0.22:
                self._pay_trx(u, self._user())
            elif r < 0.44:
                self._pay_usdt(u, self._user())
            elif r < 0.60:
                self._deposit(u)
            elif r < 0.76:
                self._withdraw(u)
            elif r < 0.88:
                self._otc(u)
            elif r < 0.92:
                self._rent(u)
            else:
                self._otc_settle()

    def _pay_trx(self, u: bytes, v: bytes) -> None:
        amount = self.rng.choice((1, 2, 5, 10, 20, 50, 100)) * SUN
        if u != v:
            self.top_up(u, amount + self.chain.fee_trx(u, v))
            self.chain.send_trx(u, v, amount, self.m(self.user_names[u], "payment"))

    def _pay_usdt(self, u: bytes, v: bytes) -> None:
        amount = self.rng.randint(5, 800) * USD
        if u == v or self.chain.usdt(u) < amount:
            return
        self.top_up(u, self.chain.fee_usdt(u, v))
        self.chain.send_usdt(u, v, amount, self.m(self.user_names[u], "token_payment"))

    def _deposit(self, u: bytes) -> None:
        c = self.chain
        ex = self.exchanges[self.exchange_of[u]]
        dep = self.deposit(ex, self.user_names[u])
        name = self.user_names[u]
        if c.usdt(u) >= 20 * USD and self.rng.random() < 0.6:
            amount = self.rng.randint(10, c.usdt(u) // USD) * USD
            self.top_up(u, c.fee_usdt(u, dep))
            c.send_usdt(u, dep, amount, self.m(name, "exchange_deposit"))
            self.schedule(dep, ex, c.token_text, amount)
        elif c.trx(u) >= 50 * SUN:
            amount = self.rng.randint(10, 40) * SUN
            self.top_up(u, amount + c.fee_trx(u, dep))
            c.send_trx(u, dep, amount, self.m(name, "exchange_deposit"))
            self.schedule(dep, ex, TRX, amount)

    def schedule(self, dep: bytes, ex: Exchange, asset: str, amount: int) -> None:
        """Sweep this payment to the hot wallet 1-3 blocks later (one sweep per payment)."""
        when = self.chain.block + 1 + self.rng.randint(1, 3)
        self.sweeps.setdefault(when, []).append((dep, ex, asset, amount))

    def _sweep(self, dep: bytes, ex: Exchange, asset: str, amount: int) -> None:
        c = self.chain
        meta = self.m(ex.name, "deposit_sweep")
        if asset == TRX:
            fee = c.fee_trx(dep, ex.hot)
            if c.trx(dep) >= amount and amount > fee:
                c.send_trx(dep, ex.hot, amount - fee, meta)
            return
        need = c.fee_usdt(dep, ex.hot)
        if c.trx(dep) < need:
            gas = need - c.trx(dep) + 2 * SUN
            self.top_up(ex.hot, gas + c.fee_trx(ex.hot, dep))
            c.send_trx(ex.hot, dep, gas, self.m(ex.name, "gas_topup"))
        c.send_usdt(dep, ex.hot, amount, meta)

    def _withdraw(self, u: bytes) -> None:
        c = self.chain
        ex = self.exchanges[self.exchange_of[u]]
        meta = self.m(ex.name, "withdrawal")
        if self.rng.random() < 0.6:
            amount = self.rng.randint(20, 3_000) * USD
            if c.usdt(ex.hot) >= amount:
                self.top_up(ex.hot, c.fee_usdt(ex.hot, u))
                c.send_usdt(ex.hot, u, amount, meta)
        else:
            amount = self.rng.randint(20, 500) * SUN
            self.top_up(ex.hot, amount + c.fee_trx(ex.hot, u))
            c.send_trx(ex.hot, u, amount, meta)

    def _otc(self, u: bytes) -> None:
        """A client sells USDT to the desk (for cash), or buys USDT from it."""
        c = self.chain
        if self.rng.random() < 0.5 and c.usdt(u) >= 50 * USD:
            amount = self.rng.randint(50, c.usdt(u) // USD) * USD
            self.top_up(u, c.fee_usdt(u, self.otc))
            c.send_usdt(u, self.otc, amount, self.m(self.user_names[u], "otc_sell"))
            return
        amount = self.rng.randint(50, 4_000) * USD
        if c.usdt(self.otc) >= amount:
            self.top_up(self.otc, c.fee_usdt(self.otc, u))
            c.send_usdt(self.otc, u, amount, self.m("otc-desk", "otc_buy"))

    def _otc_settle(self) -> None:
        """The desk moves part of its inventory to its own deposit address at an exchange."""
        c = self.chain
        ex = self.exchanges[self.rng.randrange(2)]
        dep = self.deposit(ex, "otc-desk")
        amount = c.usdt(self.otc) // self.rng.randint(8, 20) // USD * USD
        if amount >= 100 * USD:
            self.top_up(self.otc, c.fee_usdt(self.otc, dep))
            c.send_usdt(self.otc, dep, amount, self.m("otc-desk", "otc_settle"))
            self.schedule(dep, ex, c.token_text, amount)

    def _rent(self, u: bytes) -> None:
        """Energy rental: the customer pays TRX, the provider delegates energy to it (strangers)."""
        c = self.chain
        if u in c.delegated or c.trx(u) < 30 * SUN:
            return
        price = self.rng.randint(5, 20) * SUN
        c.send_trx(u, self.renter, price, self.m(self.user_names[u], "energy_rental_payment"))
        tx = c.delegate(self.renter, u, self.rng.randint(2_000, 9_000) * SUN, "ENERGY",
                        self.m("energy-rental", "energy_rental"))
        self.rentals.append({"tx": tx, "customer": u})
