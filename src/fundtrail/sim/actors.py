"""Actors of the simulated economy and their ordinary (non-laundering) behaviour.

Each actor owns wallets and may have a periodic job (`on_block`): miners pay pool members and sell
to exchanges, exchanges sweep per-customer deposit addresses into a hot wallet, move surplus to
cold storage and batch withdrawals, the mixer pays out from its pool after a delay, the darknet
market pays vendors out of escrow. Retail users act through the scenario's random events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fundtrail.sim.wallet import KINDS, Address, Wallet

if TYPE_CHECKING:
    from fundtrail.sim.economy import Economy

_KIND_WEIGHTS = {"p2wpkh": 45, "p2pkh": 20, "p2sh-p2wpkh": 20, "p2tr": 15}
#: Share of users by address-reuse habit (never, rarely, often, habitually).
_REUSE = ((0.0, 45), (0.05, 25), (0.3, 20), (0.7, 10))


class Actor:
    """A named real-world entity with a category from the taxonomy and its wallets."""

    category = "actor"

    def __init__(self, econ: Economy, name: str, case: str | None = None) -> None:
        self.econ, self.name, self.case = econ, name, case
        self.wallets: list[Wallet] = []
        self.side_wallets: list[Wallet] = []  # kept apart from ordinary spending (e.g. premix)
        econ.add(self)

    def wallet(self, kind: str, reuse: float, *, side: bool = False, **kw: object) -> Wallet:
        """Open a wallet for this actor; a `side` wallet is never picked for ordinary payments."""
        wal = Wallet(self, kind, reuse, **kw)  # type: ignore[arg-type]
        (self.side_wallets if side else self.wallets).append(wal)
        return wal

    def all_wallets(self) -> list[Wallet]:
        """Every wallet of the actor, side wallets included."""
        return self.wallets + self.side_wallets

    def follows(self, case: str) -> bool:
        """Whether value of `case` stays in the case subgraph when it reaches this actor."""
        return self.case == case

    def on_block(self) -> None:
        """Periodic job, run once at the start of every block."""

    def funded(self, amount: int) -> Wallet | None:
        """A wallet of this actor able to pay `amount` (plus room for fees), if any."""
        for wal in self.wallets:
            if wal.utxos and wal.balance() > amount + 20_000:
                return wal
        return None


def pick_kind(econ: Economy) -> str:
    """A script type drawn from a modern mix of wallet software."""
    return econ.rng.choices(list(_KIND_WEIGHTS), weights=list(_KIND_WEIGHTS.values()))[0]


class Retail(Actor):
    """A person with 1-3 wallets, an exchange account and a personal address-reuse habit."""

    category = "retail"

    def __init__(self, econ: Economy, name: str, exchange: Exchange) -> None:
        super().__init__(econ, name)
        rng = econ.rng
        reuse = rng.choices([r for r, _ in _REUSE], weights=[x for _, x in _REUSE])[0]
        for _ in range(rng.choice((1, 1, 2, 3))):
            self.wallet(pick_kind(econ), reuse, change_mismatch=rng.choice((0.0, 0.05, 0.3)),
                        change_reuse=reuse / 4)
        self.exchange = exchange


class Merchant(Actor):
    """A shop: a fresh invoice address per sale, settling to its exchange account now and then."""

    category = "merchant"

    def __init__(self, econ: Economy, name: str, exchange: Exchange) -> None:
        super().__init__(econ, name)
        self.till = self.wallet("p2wpkh", 0.0, role="invoice")
        self.exchange = exchange

    def on_block(self) -> None:
        if len(self.till.utxos) >= 8 and self.econ.rng.random() < 0.2:
            coins = list(self.till.utxos.values())[:60]
            dest = self.exchange.deposit_for(self.name)
            self.econ.transfer(self, self.till, [(dest, 0)], inputs=coins, sweep=True,
                               pattern="merchant_settlement")


class Miner(Actor):
    """A mining pool: a reused coinbase address, batched member payouts, sales to an exchange."""

    category = "miner"

    def __init__(self, econ: Economy, name: str, hashrate: float, exchange: Exchange) -> None:
        super().__init__(econ, name)
        self.hashrate = hashrate
        self.pool = self.wallet("p2wpkh", 1.0, role="coinbase")
        self.exchange = exchange
        self.members: list[Actor] = []

    def coinbase_address(self) -> Address:
        """Pools pay themselves to one long-lived address."""
        return self.pool.receive_address()

    def on_block(self) -> None:
        econ, rng = self.econ, self.econ.rng
        bal = self.pool.balance()
        if bal < 10 * 10**8 or rng.random() < 0.5:
            return
        if self.members and rng.random() < 0.6:
            n = min(len(self.members), rng.randint(5, 40))
            share = bal // 2 // n
            pays = [(rng.choice(self.members).wallets[0].receive_address(), share) for _ in range(n)]
            econ.transfer(self, self.pool, pays, pattern="pool_payout")
        else:
            dest = self.exchange.deposit_for(self.name)
            econ.transfer(self, self.pool, [(dest, bal // 2)], pattern="exchange_deposit")


def _deposit_address(known: dict[str, Address], deposits: Wallet, customer: str) -> Address:
    """`customer`'s address in `known`, else a new one of `deposits` (then remembered)."""
    addr = known.get(customer)
    if addr is None:
        addr = deposits.new_address()
        known[customer] = addr
    return addr


class Exchange(Actor):
    """Custodial exchange: per-customer deposit addresses, sweeps, hot/cold wallets, batching."""

    category = "exchange"

    def __init__(self, econ: Economy, name: str) -> None:
        super().__init__(econ, name)
        self.deposits = self.wallet(econ.rng.choice(("p2wpkh", "p2sh-p2wpkh")), 0.0, role="deposit")
        self.hot = self.wallet("p2wpkh", 0.9, role="hot", change_reuse=0.5)
        self.cold = self.wallet("p2sh-p2wpkh", 1.0, role="cold")
        self._deposit_addr: dict[str, Address] = {}
        self.queue: list[tuple[Address, int]] = []
        self.phase = len(econ.actors) % 3

    def deposit_for(self, customer: str) -> Address:
        """The customer's own deposit address (one per customer, reused for every deposit)."""
        return _deposit_address(self._deposit_addr, self.deposits, customer)

    def withdraw(self, dest: Address, amount: int) -> None:
        """Queue a customer withdrawal; it goes out in the next batch."""
        self.queue.append((dest, amount))

    def on_block(self) -> None:
        econ = self.econ
        if econ.height % 3 == self.phase and self.deposits.utxos:
            coins = list(self.deposits.utxos.values())
            for i in range(0, len(coins), 100):
                econ.transfer(self, self.deposits, [(self.hot.receive_address(), 0)],
                              inputs=coins[i:i + 100], sweep=True, pattern="deposit_sweep")
        if self.queue:
            batch, self.queue = self.queue[:150], self.queue[150:]
            if econ.transfer(self, self.hot, batch, pattern="batched_withdrawal") is None:
                self._refill()
                self.queue = batch + self.queue if len(self.queue) < 1000 else self.queue
        if econ.height % 20 == self.phase:
            hot = self.hot.balance()
            if hot > 400 * 10**8:
                econ.transfer(self, self.hot, [(self.cold.receive_address(), hot // 2)],
                              pattern="cold_storage")

    def _refill(self) -> None:
        bal = self.cold.balance()
        if bal > 10**8:
            self.econ.transfer(self, self.cold, [(self.hot.receive_address(), bal // 2)],
                               pattern="cold_refill")


class OtcDesk(Actor):
    """An OTC broker: a deposit address per client, settled in bulk on an exchange."""

    category = "otc_desk"

    def __init__(self, econ: Economy, name: str, exchange: Exchange) -> None:
        super().__init__(econ, name)
        self.deposits = self.wallet("p2wpkh", 0.0, role="deposit")
        self.book = self.wallet("p2pkh", 0.5, role="hot")
        self._deposit_addr: dict[str, Address] = {}
        self.exchange = exchange

    def deposit_for(self, customer: str) -> Address:
        """The client's own deposit address (one per client, reused for every deposit)."""
        return _deposit_address(self._deposit_addr, self.deposits, customer)

    def on_block(self) -> None:
        econ = self.econ
        if econ.height % 10 == 5 and self.deposits.utxos:
            coins = list(self.deposits.utxos.values())[:100]
            econ.transfer(self, self.deposits, [(self.exchange.deposit_for(self.name), 0)],
                          inputs=coins, sweep=True, pattern="otc_settlement")


class Mixer(Actor):
    """A custodial mixer: deposits pooled; payouts from the pool to fresh addresses after a delay.

    It follows every case: tainted deposits enter its pool and its payouts spend from the pool.
    """

    category = "mixer"

    def __init__(self, econ: Economy, name: str, fee: float = 0.02) -> None:
        super().__init__(econ, name)
        self.deposits = self.wallet("p2wpkh", 0.0, role="mixer_deposit")
        self.pool = self.wallet("p2wpkh", 0.0, role="pool")
        self.fee = fee
        self.orders: list[tuple[int, list[Address], int, str]] = []  # due, dests, amount, typology

    def follows(self, case: str) -> bool:
        return True

    def order(self, dests: list[Address], amount: int, delay: int, typology: str = "") -> Address:
        """Take an order: returns the deposit address; pays `dests` about `amount` less fee later."""
        net = int(amount * (1 - self.fee))
        self.orders.append((self.econ.height + delay, dests, net, typology))
        return self.deposits.new_address()

    def on_block(self) -> None:
        econ = self.econ
        if self.deposits.utxos:
            coins = list(self.deposits.utxos.values())[:100]
            econ.transfer(self, self.deposits, [(self.pool.new_address(), 0)], inputs=coins,
                          sweep=True, pattern="mixer_pooling")
        keep = []
        for due, dests, amount, typ in self.orders:
            if due > econ.height:
                keep.append((due, dests, amount, typ))
                continue
            parts = _split(econ, amount, len(dests))
            if econ.transfer(self, self.pool, list(zip(dests, parts)), pattern="mixer_payout",
                             typology=typ) is None:
                keep.append((due + 1, dests, amount, typ))
        self.orders = keep


class DarknetMarket(Actor):
    """A market: a fresh escrow address per order; vendor payouts out of escrow every few blocks."""

    category = "darknet_market"

    def __init__(self, econ: Economy, name: str, vendors: list[Actor]) -> None:
        super().__init__(econ, name)
        self.escrow = self.wallet("p2wpkh", 0.0, role="escrow")
        self.vendors = vendors
        self.redirect: dict[str, Wallet] = {}  # vendor -> wallet for its next payout (one-shot)

    def on_block(self) -> None:
        econ, rng = self.econ, self.econ.rng
        if econ.height % 6 == 0 and len(self.escrow.utxos) >= 3:
            bal = self.escrow.balance()
            chosen = rng.sample(self.vendors, min(len(self.vendors), rng.randint(2, 5)))
            parts = _split(econ, int(bal * 0.9), len(chosen))
            econ.transfer(self, self.escrow, [(self.redirect.pop(v.name, v.wallets[0])
                                               .receive_address(), p)
                                              for v, p in zip(chosen, parts)],
                          inputs=list(self.escrow.utxos.values())[:200], pattern="vendor_payout")


def _split(econ: Economy, amount: int, n: int) -> list[int]:
    """`amount` in `n` uneven parts."""
    weights = [econ.rng.random() + 0.3 for _ in range(n)]
    tot = sum(weights)
    parts = [int(amount * x / tot) for x in weights]
    parts[-1] += amount - sum(parts)
    return parts


def criminal(econ: Economy, name: str, category: str, case: str | None = None,
             n_wallets: int = 3) -> Actor:
    """An actor of an illicit category (ransomware, scam, darknet vendor) with mule wallets."""
    a = Actor(econ, name, case)
    a.category = category
    for i in range(n_wallets):
        a.wallet(list(KINDS)[i % 2 + (1 if i >= 2 else 0)], 0.0, role="mule", change_mismatch=0.0)
    return a
