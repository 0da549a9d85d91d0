"""The ordinary economy of the EVM scenario: users, exchanges, the stablecoin issuer, relayers.

Exchanges follow the deposit pattern that Victor (FC 2020) uses for Ethereum address clustering:
one deposit address per customer that forwards what it receives to the exchange's hot wallet
(ETH swept in the next block; for tokens the hot wallet first pays the deposit address its gas),
withdrawals paid from the hot wallet, singly or batched through a disperse contract.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from fundtrail.sim.evm.abi import note_secret, sim_address
from fundtrail.sim.evm.chain import ETH, GWEI, Chain, SimTx
from fundtrail.sim.evm.world import GAS_TOKEN, GAS_TRANSFER, Registry, World

ETHER = 10**18
USD = 10**6  # sUSD base units per dollar
DENOMINATIONS = (ETHER // 10, ETHER, 10 * ETHER)  # Tornado's 0.1, 1 and 10 ETH instances
DEST_CHAINS = (56, 137, 42161, 10)  # BNB Chain, Polygon, Arbitrum, Optimism
PRICE = 3_000  # sUSD per ETH in the pool at the start
WEALTH = (1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89)  # starting ETH of users, halved


def _created(tx: SimTx) -> str:
    """The address of the contract a mined deploy created."""
    assert tx.created is not None, "a mined deploy has a contract address"
    return tx.created


@dataclass
class Exchange:
    name: str
    hot: str
    deposits: dict[str, str] = field(default_factory=dict)  # customer -> deposit address
    withdrawals: list[tuple[str, str, int]] = field(default_factory=list)  # to, asset, amount
    topped_up: set[str] = field(default_factory=set)


@dataclass
class User:
    name: str
    address: str
    exchange: int
    approved: set[str] = field(default_factory=set)  # spenders approved for sUSD
    wallets: int = 0


class Economy:
    """Sets the economy up and plans each block's ordinary activity."""

    def __init__(self, chain: Chain, seed: int, txs: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.registry = Registry()
        self.world = World(chain, self.registry)
        self.chain = chain
        self.target = txs
        self.per_block = max(8, min(200, txs // 60))
        n_users = max(20, min(400, txs // 12))
        r = self.registry
        for name, cat in (("treasury", "genesis"), ("stable-issuer", "stablecoin_issuer"),
                          ("protocol", "defi"), ("pool", "mixer"), ("dex", "dex"),
                          ("bridge", "bridge"), ("batcher", "service")):
            r.actor(name, cat)
        self.treasury = r.add(self.addr("treasury"), "treasury", "genesis")
        self.issuer = r.add(self.addr("issuer"), "stable-issuer", "issuer")
        self.protocol = r.add(self.addr("protocol"), "protocol", "deployer")
        self.exchanges = []
        for i in range(3):
            name = f"exchange-{i + 1}"
            r.actor(name, "exchange")
            self.exchanges.append(Exchange(name, r.add(self.addr(f"{name}/hot"), name, "hot")))
        self.relayers = []
        for i in range(3):
            r.actor(f"relayer-{i + 1}", "relayer")
            self.relayers.append(r.add(self.addr(f"relayer-{i + 1}"), f"relayer-{i + 1}", "relayer"))
        self.users = []
        for i in range(n_users):
            name = f"user-{i + 1}"
            r.actor(name, "retail")
            self.users.append(User(name, r.add(self.addr(name), name, "wallet"),
                                   self.rng.randrange(3)))
        self.later: dict[int, list] = {}  # block -> planned callables (pool withdrawals)

    def addr(self, label: str) -> str:
        return sim_address(self.seed, label)

    def gp(self) -> int:
        return GWEI * self.rng.randint(1, 4)

    @staticmethod
    def meta(actor: str, pattern: str, typology: str = "", case: str = "") -> dict:
        return {"actor": actor, "pattern": pattern, "typology": typology, "case": case}

    def deposit_address(self, ex: Exchange, customer: str) -> str:
        if customer not in ex.deposits:
            ex.deposits[customer] = self.registry.add(
                self.addr(f"{ex.name}/deposit/{customer}"), ex.name, "deposit")
        return ex.deposits[customer]

    # -- setup ---------------------------------------------------------------------------------

    def setup(self) -> None:
        """Genesis allocation, funding, deployments, the stablecoin supply and the DEX pool."""
        w, ch, m = self.world, self.chain, self.meta
        ch.allocate(self.treasury, 10_000_000 * ETHER)
        w.pay(self.treasury, self.issuer, 10 * ETHER, GWEI, m("treasury", "funding"))
        w.pay(self.treasury, self.protocol, 5_000 * ETHER, GWEI, m("treasury", "funding"))
        for ex in self.exchanges:
            w.pay(self.treasury, ex.hot, 4_000 * ETHER, GWEI, m("treasury", "funding"))
        for relayer in self.relayers:
            w.pay(self.treasury, relayer, 5 * ETHER, GWEI, m("treasury", "funding"))
        for u in self.users:
            # a skewed spread of wealth in integers (floats could round differently elsewhere)
            amount = self.rng.choice(WEALTH) * ETHER // 2 + self.rng.randrange(10_000) * 10**14
            w.pay(self.treasury, u.address, amount, GWEI, m("treasury", "funding"))
        ch.mine()
        deploys = {"stable": w.deploy(self.issuer, "SimStable", GWEI, m("stable-issuer", "deploy")),
                   "bridge": w.deploy(self.protocol, "SimBridge", GWEI, m("protocol", "deploy")),
                   "batcher": w.deploy(self.protocol, "SimBatcher", GWEI, m("protocol", "deploy"))}
        pools = {d: w.deploy(self.protocol, "SimPool", GWEI, m("protocol", "deploy"), d)
                 for d in DENOMINATIONS}
        ch.mine()
        w.c.stable, w.c.bridge = _created(deploys["stable"]), _created(deploys["bridge"])
        w.c.batcher = _created(deploys["batcher"])
        w.c.pools = {d: _created(tx) for d, tx in pools.items()}
        r = self.registry
        r.add(w.c.stable, "stable-issuer", "token")
        r.add(w.c.bridge, "bridge", "bridge")
        r.add(w.c.batcher, "batcher", "contract")
        for pool in w.c.pools.values():
            r.add(pool, "pool", "pool")
        pair = w.deploy(self.protocol, "SimPair", GWEI, m("protocol", "deploy"), w.c.stable)
        liquidity = 2_000 * ETHER
        w.mint(self.issuer, self.protocol, liquidity * PRICE // ETHER * USD, GWEI,
               m("stable-issuer", "mint"))
        for ex in self.exchanges:
            w.mint(self.issuer, ex.hot, 5_000_000 * USD, GWEI, m("stable-issuer", "mint"))
        for u in self.users[::3]:
            w.mint(self.issuer, u.address, self.rng.randint(100, 20_000) * USD, GWEI,
                   m("stable-issuer", "mint"))
        ch.mine()
        w.c.pair = r.add(_created(pair), "dex", "pair")
        w.approve(self.protocol, w.c.pair, GWEI, m("protocol", "approve"))
        ch.mine()
        w.add_liquidity(self.protocol, liquidity, liquidity * PRICE // ETHER * USD, GWEI,
                        m("protocol", "add_liquidity"))
        ch.mine()

    # -- each block ----------------------------------------------------------------------------

    def plan_block(self) -> None:
        """The services' routine (sweeps, withdrawals, relayed pool withdrawals) and user activity."""
        for job in self.later.pop(self.chain.block + 1, []):
            job()
        for ex in self.exchanges:
            self._service_exchange(ex)
        for _ in range(self.per_block):
            self._user_action(self.rng.choice(self.users))

    def _service_exchange(self, ex: Exchange) -> None:
        w, ch, stable = self.world, self.chain, self.world.c.stable
        for dep in ex.deposits.values():
            gp = 2 * GWEI
            if ch.balance(dep, stable) > 0 and ch.available(dep, stable) == ch.balance(dep, stable):
                if ch.available(dep) >= GAS_TOKEN * gp:
                    w.token_pay(dep, ex.hot, ch.balance(dep, stable), gp,
                                self.meta(ex.name, "deposit_sweep"))
                    ex.topped_up.discard(dep)
                elif dep not in ex.topped_up:
                    w.pay(ex.hot, dep, GAS_TOKEN * gp, gp, self.meta(ex.name, "gas_topup"))
                    ex.topped_up.add(dep)
            elif ch.available(dep) > 50 * GAS_TRANSFER * gp and dep not in ex.topped_up:
                w.sweep_all(dep, ex.hot, gp, self.meta(ex.name, "deposit_sweep"))
        eth = [q for q in ex.withdrawals if q[1] == ETH]
        tokens = [q for q in ex.withdrawals if q[1] != ETH]
        ex.withdrawals = []
        budget = ch.available(ex.hot) - 10 * ETHER  # keeps gas for sweeps and top-ups
        paid: list[tuple[str, str, int]] = []
        for q in eth:
            if q[2] <= budget - sum(v for _, _, v in paid):
                paid.append(q)
            else:
                ex.withdrawals.append(q)  # waits for deposits to come in
        if len(paid) >= 3 and self.rng.random() < 0.7:
            w.disperse(ex.hot, [(to, v) for to, _, v in paid], 2 * GWEI,
                       self.meta(ex.name, "batched_withdrawal"))
        else:
            for to, _, v in paid:
                w.pay(ex.hot, to, v, 2 * GWEI, self.meta(ex.name, "withdrawal"))
        for q in tokens:
            if q[2] <= ch.available(ex.hot, stable):
                w.token_pay(ex.hot, q[0], q[2], 2 * GWEI, self.meta(ex.name, "withdrawal"))
            else:
                ex.withdrawals.append(q)

    def _user_action(self, u: User) -> None:
        w, ch, rng = self.world, self.chain, self.rng
        stable, gp = w.c.stable, self.gp()
        eth = ch.available(u.address) - 400_000 * gp
        usd = ch.available(u.address, stable)
        ex = self.exchanges[u.exchange]
        roll = rng.random()
        m = self.meta
        if eth < ETHER // 50:
            if rng.random() < 0.5:  # out of ETH: withdraw some from the exchange
                ex.withdrawals.append((u.address, ETH, rng.randint(5, 50) * ETHER // 10))
            return
        if roll < 0.22:
            other = rng.choice(self.users).address
            amount = min(eth // 3, rng.randint(1, 200) * ETHER // 100)
            w.pay(u.address, other, amount, gp, m(u.name, "payment"))
        elif roll < 0.34 and usd > 10 * USD:
            other = rng.choice(self.users).address
            w.token_pay(u.address, other, rng.randint(1, usd // USD // 2 + 1) * USD, gp,
                        m(u.name, "token_payment"))
        elif roll < 0.50:
            dep = self.deposit_address(ex, u.name)
            w.pay(u.address, dep, eth // rng.randint(2, 5), gp, m(u.name, "exchange_deposit"))
        elif roll < 0.56 and usd > 10 * USD:
            dep = self.deposit_address(ex, u.name)
            w.token_pay(u.address, dep, usd // 2, gp, m(u.name, "exchange_deposit"))
        elif roll < 0.70:
            asset = ETH if rng.random() < 0.75 else stable
            amount = (rng.randint(1, 80) * ETHER // 10 if asset == ETH
                      else rng.randint(50, 5_000) * USD)
            ex.withdrawals.append((u.address, asset, amount))
        elif roll < 0.80:
            w.swap_eth(u.address, min(eth // 4, rng.randint(1, 30) * ETHER // 10), u.address, gp,
                       m(u.name, "swap"))
        elif roll < 0.86 and usd > 10 * USD:
            if w.c.pair not in u.approved:
                w.approve(u.address, w.c.pair, gp, m(u.name, "approve"))
                u.approved.add(w.c.pair)
            else:
                w.swap_tokens(u.address, usd // 2, u.address, gp, m(u.name, "swap"))
        elif roll < 0.93:
            fitting = [d for d in DENOMINATIONS if d <= eth // 2]
            if fitting:
                self.private_transfer(u, rng.choice(fitting), gp)
        else:
            dest = rng.choice(DEST_CHAINS)
            w.bridge_eth(u.address, min(eth // 4, rng.randint(1, 40) * ETHER // 10), dest,
                         u.address, gp, m(u.name, "bridge_out"))

    def private_transfer(self, u: User, denomination: int, gp: int) -> None:
        """Deposit into a pool now; a relayer withdraws to a fresh wallet of the user later."""
        u.wallets += 1
        label = f"{u.name}/note/{u.wallets}"
        note = (note_secret(self.seed, label + "/n"), note_secret(self.seed, label + "/s"))
        self.world.pool_deposit(u.address, denomination, note, gp, self.meta(u.name, "pool_deposit"))
        fresh = self.registry.add(self.addr(f"{u.name}/wallet/{u.wallets}"), u.name, "wallet")
        self.relay(denomination, note, fresh, self.meta(u.name, "pool_withdrawal"),
                   self.chain.block + 1 + self.rng.randint(3, 15))

    def relay(self, denomination: int, note: tuple[str, str], recipient: str, meta: dict,
              block: int) -> None:
        """Schedule a relayer's withdrawal of `note` to `recipient` for `block`."""
        relayer = self.rng.choice(self.relayers)
        fee = denomination * self.rng.choice((10, 25, 40)) // 10_000
        actor = self.registry.actor_of(relayer)
        relayed = {**meta, "actor": actor}

        def job() -> None:
            self.world.pool_withdraw(relayer, denomination, note, recipient, fee, GWEI, relayed)

        self.later.setdefault(block, []).append(job)
