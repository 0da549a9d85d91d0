"""Samourai Whirlpool: tx0 and the 5-input, 5-output mixes of fixed-denomination pools.

tx0: one user's input(s) pay an OP_RETURN (the encrypted fee payload), the pool fee to the
coordinator, up to 70 *premix* outputs each worth the pool denomination plus a miner-fee
allowance, and the leftover *toxic change* (the "bad bank"); outputs in BIP69 order, as
Samourai's wallet sorts them. Mix: exactly five inputs from five different wallets (one to three
premix newcomers, who pay the miner fee out of their allowance, and free remixes of earlier mix
outputs) and five outputs of exactly the pool denomination at fresh P2WPKH addresses of the same
five owners. Pools: 0.001, 0.01, 0.05 and 0.5 BTC with fees of 5 % / 3.5 % of the denomination.
Sources: Samourai Whirlpool docs and README (ZeroLink fork); Stockinger et al. 2022 (tx0 and mix
detection); Kappos et al. 2022.
"""

from __future__ import annotations

from fundtrail.chains.bitcoin import writer as w
from fundtrail.sim.actors import Actor
from fundtrail.sim.coinjoin import (
    Coordinator,
    Mixing,
    Registry,
    bip69,
    bip69_inputs,
    case_typology,
    pick_coins,
)
from fundtrail.sim.economy import DUST, Economy, TxResult
from fundtrail.sim.wallet import Address, Utxo, Wallet, vsize

#: Pool denomination -> coordinator fee per tx0 (satoshi).
POOLS: dict[int, int] = {100_000: 5_000, 1_000_000: 50_000, 5_000_000: 175_000,
                         50_000_000: 1_750_000}
MAX_PREMIX = 70
MIX_SIZE = 5
_POOL_WEIGHTS = (15, 35, 35, 15)
_QUEUE_CAP = 300  # remix candidates kept per pool (older ones' clients went offline)

Entry = tuple[Utxo, Wallet]  # a coin waiting to mix and the postmix wallet its output goes to


class Whirlpool(Coordinator):
    """The Whirlpool coordinator: takes pool fees in tx0s and runs 2 (4 with a backlog) mixes per
    pool a block, newcomers drawn at random among the waiting tx0s."""

    def __init__(self, econ: Economy, name: str, registry: Registry) -> None:
        super().__init__(econ, name, registry, fee_reuse=0.0)  # fee addresses from an xpub
        self.premix: dict[int, list[Entry]] = {d: [] for d in POOLS}
        self.postmix: dict[int, list[Entry]] = {d: [] for d in POOLS}
        self._offline: set[int] = set()  # ids of postmix wallets that stopped remixing

    def tx0(self, actor: Actor, m: Mixing, coins: list[Utxo], pool: int, *,
            n_max: int = MAX_PREMIX, typology: str = "") -> TxResult | None:
        """Split `coins` into premix outputs of `pool` for `m`; None if they do not reach one."""
        econ, rng = self.econ, self.econ.rng
        fr = econ.feerate()
        premix_value = pool + fr * rng.randint(60, 120)  # the mix's miner-fee allowance
        total = sum(u.value for u in coins)
        n = min(n_max, MAX_PREMIX)
        while n > 0 and total - POOLS[pool] - n * premix_value - fr * (
                vsize(coins, ["p2wpkh"] * (n + 2)) + 60) < 0:
            n -= 1
        if n < 1:
            return None
        change = total - POOLS[pool] - n * premix_value - fr * (vsize(coins, ["p2wpkh"] * (n + 2))
                                                               + 60)
        premix, badbank = m.wallet("premix"), m.wallet("badbank")
        outs: list[tuple[Address | bytes, int]] = [
            (w.op_return(rng.randbytes(46)), 0), (self.fee_address(), POOLS[pool])]
        outs += [(premix.new_address(), premix_value) for _ in range(n)]
        if change >= DUST:
            outs.append((badbank.new_address(), change))
        res = econ.commit(actor, bip69_inputs(coins), bip69(outs), pattern="whirlpool_tx0",
                          typology=typology, protocol="whirlpool_tx0")
        post = m.wallet("postmix")
        self.premix[pool] += [(u, post) for u in res.outputs if u.addr.wallet is premix]
        return res

    def stop_remixing(self, wallet: Wallet) -> None:
        """The owner of `wallet` takes its postmix coins out (they are not remixed any more)."""
        self._offline.add(id(wallet))

    def on_block(self) -> None:
        econ, rng = self.econ, self.econ.rng
        if econ.height < 2:
            return
        if rng.random() < 0.35:
            self._background_tx0()
        for pool in POOLS:
            busy = len(self.premix[pool]) > 40  # a backlog: the pool cycles faster
            for _ in range(4 if busy else 2):
                if not self._mix(pool):
                    break

    def _background_tx0(self) -> None:
        """A privacy-minded participant sends a deposit through tx0 into a pool."""
        rng = self.econ.rng
        parts = self.registry.participants
        if not parts:
            return
        m = parts[rng.randrange(len(parts))]
        if m.side:  # vendors' income wallets are busy with their own plans
            return
        pool = rng.choices(list(POOLS), weights=_POOL_WEIGHTS)[0]
        n = rng.choice((1, 2, 3, 4, 5, 6, 8, 10, 12, 20, 30, 70))
        need = POOLS[pool] + n * (pool + 40_000) + 40_000
        wal = m.actor.funded(need) if m.fund else None
        coins = pick_coins(wal, need, 20) if wal else []
        if not coins:
            m.request(m.actor.wallets[0] if m.actor.wallets else m.wallet("wasabi2"), need * 11 // 10)
            return
        self.tx0(m.actor, m, coins, pool, n_max=n)

    def _live(self, queue: list[Entry]) -> list[Entry]:
        return [(u, post) for u, post in queue
                if (u.txid, u.vout) in u.addr.wallet.utxos and id(post) not in self._offline]

    def _mix(self, pool: int) -> bool:
        """One mix in `pool` if five inputs of different owners (at least one newcomer) are ready."""
        rng = self.econ.rng
        pre, post = self._live(self.premix[pool]), self._live(self.postmix[pool])
        self.premix[pool], self.postmix[pool] = pre, post
        chosen: list[Entry] = []
        owners: list[int] = []
        sources: list[bytes] = []

        def take(entries: list[Entry], limit: int, newcomers: bool) -> None:
            for e in entries:
                if len(chosen) >= limit:
                    return
                u, dest = e
                if id(dest) in owners or (newcomers and u.txid in sources):
                    continue  # one coin per wallet, one premix per tx0, as the coordinator rules
                chosen.append(e)
                owners.append(id(dest))
                if newcomers:
                    sources.append(u.txid)

        by_tx0: dict[bytes, Entry] = {}  # one waiting premix per tx0, in a random order
        for e in pre:
            by_tx0.setdefault(e[0].txid, e)
        newcomers = list(by_tx0.values())
        rng.shuffle(newcomers)
        take(newcomers, rng.randint(1, 3), True)
        if not chosen:
            return False
        n_new = len(chosen)
        take(rng.sample(post, min(len(post), 40)), MIX_SIZE, False)
        take(newcomers, MIX_SIZE, True)  # not enough remixers: more newcomers
        if len(chosen) < MIX_SIZE:
            return False
        for e in chosen:
            (pre if e in pre else post).remove(e)
        inputs = bip69_inputs([u for u, _ in chosen])
        outs = bip69([(dest.new_address(), pool) for _, dest in chosen])
        res = self.econ.commit(self, inputs, outs, pattern="coinjoin",
                               typology=case_typology(inputs), protocol="whirlpool_mix")
        assert n_new >= 1 and res.fee == sum(u.value for u in inputs) - MIX_SIZE * pool
        post += [(u, u.addr.wallet) for u in res.outputs if id(u.addr.wallet) not in self._offline]
        del post[:-_QUEUE_CAP]
        return True
