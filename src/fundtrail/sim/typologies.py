"""Laundering typologies as multi-block plans (generators yielding blocks to wait).

Each plan moves given unspent outputs of a criminal actor and tags every transaction it makes with
its typology in the ground truth; plans compose with ``yield from`` and return the outputs they
leave in the actor's hands. See docs/simulator.md for the behaviour and literature of each.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from fundtrail.sim.actors import Actor, Exchange, Mixer
from fundtrail.sim.coinjoin import Mixing
from fundtrail.sim.economy import DUST, Economy
from fundtrail.sim.wallet import Address, Utxo, Wallet
from fundtrail.sim.wasabi import WasabiCoordinator
from fundtrail.sim.whirlpool import Whirlpool

Step = Generator[int, None, list[Utxo]]
#: Stand-in for a reporting threshold (the 10,000-unit currency-transaction-report limit).
STRUCTURING_THRESHOLD = 10_000_000


def _mine(res_outputs: list[Utxo], wallet: Wallet) -> list[Utxo]:
    return [u for u in res_outputs if u.addr.wallet is wallet]


def fan_in(econ: Economy, actor: Actor, wallet: Wallet, coins: list[Utxo]) -> Step:
    """Smurfing, collecting side: many small outputs merged into one address."""
    yield econ.rng.randint(0, 2)
    res = econ.transfer(actor, wallet, [(wallet.new_address(), 0)], inputs=coins, sweep=True,
                        pattern="consolidation", typology="fan_in")
    return res.outputs if res else coins


def fan_out(econ: Economy, actor: Actor, wallet: Wallet, coin: Utxo, n: int) -> Step:
    """Smurfing, spreading side: one output split into many similar amounts at fresh addresses."""
    yield econ.rng.randint(0, 1)
    per = coin.value // (n + 1)
    rng = econ.rng
    pays = [(wallet.new_address(), int(per * rng.uniform(0.85, 1.0))) for _ in range(n)]
    res = econ.transfer(actor, wallet, pays, inputs=[coin], pattern="payment", typology="fan_out")
    return _mine(res.outputs, wallet) if res else [coin]


def layering(econ: Economy, actor: Actor, wallet: Wallet, coin: Utxo, hops: int) -> Step:
    """Layering: value hops through a chain of fresh addresses, sometimes splitting off a part."""
    cur = [coin]
    rng = econ.rng
    for _ in range(hops):
        yield rng.randint(0, 3)
        c = cur.pop(0)
        if rng.random() < 0.3 and c.value > 20 * DUST * 100:
            part = int(c.value * rng.uniform(0.2, 0.5))
            res = econ.transfer(actor, wallet, [(wallet.new_address(), part)], inputs=[c],
                                pattern="payment", typology="layering")
        else:
            res = econ.transfer(actor, wallet, [(wallet.new_address(), 0)], inputs=[c], sweep=True,
                                pattern="payment", typology="layering")
        if res is None:
            cur.insert(0, c)
            break
        cur.extend(_mine(res.outputs, wallet))
    return cur


def pass_through(econ: Economy, actor: Actor, wallet: Wallet, coin: Utxo, dest: Address) -> Step:
    """Pass-through: an address receives and forwards everything within minutes (same block)."""
    res = econ.transfer(actor, wallet, [(wallet.new_address(role="pass_through"), 0)],
                        inputs=[coin], sweep=True, pattern="payment", typology="pass_through")
    if res is None:
        return [coin]
    yield 0
    res2 = econ.transfer(actor, wallet, [(dest, 0)], inputs=res.outputs, sweep=True,
                         pattern="payment", typology="pass_through")
    return [] if res2 else res.outputs


def peel_chain(econ: Economy, actor: Actor, wallet: Wallet, coin: Utxo, hops: int,
               peel_to: Callable[[], Address]) -> Step:
    """Peel chain: each hop pays a small slice out and sends the remainder on as 'change'."""
    rng, cur = econ.rng, coin
    for _ in range(hops):
        yield rng.randint(0, 2)
        peel = int(cur.value * rng.uniform(0.04, 0.15))
        if peel < 100 * DUST:
            break
        res = econ.transfer(actor, wallet, [(peel_to(), peel)], inputs=[cur], pattern="payment",
                            typology="peel_chain")
        rest = _mine(res.outputs, wallet) if res else []
        if not rest:
            return []
        cur = rest[0]
    return [cur]


def structuring(econ: Economy, actor: Actor, wallet: Wallet, coins: list[Utxo],
                deposit: Callable[[], Address], threshold: int = STRUCTURING_THRESHOLD) -> Step:
    """Structuring: deposits each just below a reporting threshold, spread over blocks."""
    rng = econ.rng
    for c in coins:
        while c.value > threshold:
            yield rng.randint(0, 2)
            amount = int(threshold * rng.uniform(0.90, 0.995))
            res = econ.transfer(actor, wallet, [(deposit(), amount)], inputs=[c],
                                pattern="exchange_deposit", typology="structuring")
            rest = _mine(res.outputs, wallet) if res else []
            if not rest:
                break
            c = rest[0]
        else:
            yield rng.randint(0, 2)
            econ.transfer(actor, wallet, [(deposit(), 0)], inputs=[c], sweep=True,
                          pattern="exchange_deposit", typology="structuring")
    return []


def mixing(econ: Economy, actor: Actor, wallet: Wallet, coin: Utxo, mixer: Mixer,
           n_out: int) -> Step:
    """Mixing through a custodial mixer: deposit now, fresh outputs from its pool blocks later."""
    rng = econ.rng
    dests = [wallet.new_address() for _ in range(n_out)]
    dep = mixer.order(dests, coin.value - 5_000, rng.randint(2, 6), typology="mixing")
    econ.transfer(actor, wallet, [(dep, 0)], inputs=[coin], sweep=True, pattern="payment",
                  typology="mixing")
    for _ in range(40):
        yield 1
        got = [u for d in dests for u in d.wallet.utxos.values() if u.addr is d]
        if len(got) == n_out:
            return got
    return [u for d in dests for u in d.wallet.utxos.values() if u.addr is d]


def cash_out(econ: Economy, actor: Actor, wallet: Wallet, coins: list[Utxo],
             exchanges: list[Exchange], identity: str) -> Step:
    """Cash-out: each output to the actor's own deposit address at an exchange."""
    rng = econ.rng
    for c in coins:
        yield rng.randint(0, 2)
        ex = rng.choice(exchanges)
        econ.transfer(actor, wallet, [(ex.deposit_for(f"{identity}-{rng.randrange(4)}"), 0)],
                      inputs=[c], sweep=True, pattern="exchange_deposit", typology="cash_out")
    return []


def commingle(econ: Economy, actor: Actor, wallet: Wallet, coin: Utxo,
              wait: int = 20) -> Step:
    """Commingling: a tainted output merged with clean coins of the actor's own into one output.

    The clean coins are whatever unmarked outputs the wallet holds (other income, an exchange
    withdrawal); waits up to `wait` blocks for them. Input order is random, which is what makes
    FIFO differ from haircut downstream.
    """
    rng = econ.rng
    for _ in range(wait):
        clean = [u for u in wallet.utxos.values() if u.case is None][:3]
        if clean:
            break
        yield 1
    else:
        return [coin]
    ins = [coin, *clean]
    rng.shuffle(ins)
    res = econ.transfer(actor, wallet, [(wallet.new_address(), 0)], inputs=ins, sweep=True,
                        pattern="consolidation", typology="commingling")
    return res.outputs if res else [coin]


def whirlpool(econ: Economy, actor: Actor, coin: Utxo, coordinator: Whirlpool, m: Mixing,
              pool: int, n_premix: int) -> Generator[int, None, tuple[list[Utxo], list[Utxo]]]:
    """CoinJoin through Whirlpool: tx0 into `pool`, wait for the mixes (and a few free remixes).

    Returns (the actor's postmix outputs, its toxic change); the postmix wallet stops remixing
    before they are returned, so the caller may spend them.
    """
    rng = econ.rng
    res = coordinator.tx0(actor, m, [coin], pool, n_max=n_premix, typology="coinjoin")
    if res is None:
        return [], [coin]
    badbank, premix, post = m.wallet("badbank"), m.wallet("premix"), m.wallet("postmix")
    toxic = [u for u in res.outputs if u.addr.wallet is badbank]
    for _ in range(120):
        yield 1
        if not premix.utxos:
            break
    yield rng.randint(2, 6)  # free remixes meanwhile
    coordinator.stop_remixing(post)
    return list(post.utxos.values()), toxic


def wasabi2(econ: Economy, actor: Actor, wallet: Wallet, coin: Utxo, coordinator: WasabiCoordinator,
            m: Mixing, n: int) -> Step:
    """CoinJoin through Wasabi 2: split into the Wasabi wallet, register, wait for the round."""
    w2 = m.wallet("wasabi2")
    smurfs = yield from fan_out(econ, actor, w2, coin, n)
    coordinator.register(m, smurfs)
    for _ in range(coordinator.period * 6):
        yield 1
        if not any((u.txid, u.vout) in w2.utxos for u in smurfs):
            break
    coordinator.unregister(m)  # whatever is left is spent unmixed
    return [u for u in w2.utxos.values() if u.case]
