"""CoinJoin participants and coordinators: what the protocol simulations share.

A CoinJoin is one transaction whose inputs belong to many actors, each of whom gets its outputs
back at fresh addresses of its own wallets, so the ground truth can score clustering against the
true owners. The protocol modules (`wasabi`, `whirlpool`, `joinmarket`) build the shapes; this
module holds the participant registry (who mixes, with which wallets, how they get coins into
them) and the coordinator actor (category `coinjoin_coordinator`, fee addresses with role
`coordinator_fee`). Shapes and sources: docs/simulator.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from fundtrail.sim.actors import Actor
from fundtrail.sim.economy import Economy
from fundtrail.sim.wallet import Address, Utxo, Wallet

#: Wallets a participant may open, with their script type and the role of their addresses.
_WALLETS = {"wasabi1": ("p2wpkh", "wallet"), "wasabi2": ("p2wpkh", "wallet"),
            "premix": ("p2wpkh", "premix"), "postmix": ("p2wpkh", "postmix"),
            "badbank": ("p2wpkh", "toxic_change"), "joinmarket": ("", "wallet")}
#: Wallets that ordinary payments never draw from (a Whirlpool client keeps premix apart).
_ALWAYS_SIDE = ("premix",)

Funding = Callable[[Wallet, int], None]


class Mixing:
    """One participant: its CoinJoin wallets (opened when first used) and how it funds them.

    Retail users buy coins at their exchange (a withdrawal to the CoinJoin wallet); vendors move
    coins from their income wallet; case actors (`fund=None`) are driven by their case plans.
    Case actors keep every CoinJoin wallet apart from their ordinary wallets (`side`).
    """

    def __init__(self, actor: Actor, fund: Funding | None, *, side: bool, jm_kind: str) -> None:
        self.actor, self.fund, self.side, self.jm_kind = actor, fund, side, jm_kind
        self._wallets: dict[str, Wallet] = {}

    def wallet(self, name: str) -> Wallet:
        """The participant's wallet `name` (see `_WALLETS`), opened on first use."""
        wal = self._wallets.get(name)
        if wal is None:
            kind, role = _WALLETS[name]
            side = self.side or name in _ALWAYS_SIDE
            wal = self.actor.wallet(kind or self.jm_kind, 0.0, side=side, role=role,
                                    change_mismatch=0.0)
            self._wallets[name] = wal
        return wal

    def request(self, wallet: Wallet, amount: int) -> None:
        """Ask for coins in `wallet` (they arrive in a later block, if at all)."""
        if self.fund is not None:
            self.fund(wallet, amount)


class Registry:
    """Every actor that takes part in CoinJoins, in a fixed order (part of the determinism)."""

    def __init__(self) -> None:
        self.participants: list[Mixing] = []
        self.makers: list[Mixing] = []  # JoinMarket market makers (yield generators)
        self._by_actor: dict[str, Mixing] = {}

    def add(self, m: Mixing, *, background: bool = True, maker: bool = False) -> Mixing:
        """Register `m`; background participants are drawn into rounds at random."""
        self._by_actor[m.actor.name] = m
        if background:
            self.participants.append(m)
        if maker:
            self.makers.append(m)
        return m

    def of(self, actor: Actor) -> Mixing:
        """The registration of `actor` (a KeyError if it never mixes)."""
        return self._by_actor[actor.name]


class Coordinator(Actor):
    """A CoinJoin coordinator: builds rounds and collects its fee at `fee_address()`."""

    category = "coinjoin_coordinator"

    def __init__(self, econ: Economy, name: str, registry: Registry, fee_reuse: float) -> None:
        super().__init__(econ, name)
        self.registry = registry
        self.fees = self.wallet("p2wpkh", fee_reuse, role="coordinator_fee")

    def fee_address(self) -> Address:
        """Where the coordinator fee goes (reused or fresh, by the coordinator's habit)."""
        return self.fees.receive_address()


def pick_coins(wallet: Wallet, need: int, max_n: int, kinds: tuple[str, ...] = ()) -> list[Utxo]:
    """Largest-first coins of `wallet` (of `kinds`, if given) covering `need`; [] if they cannot."""
    coins = sorted(itertools.islice(wallet.utxos.values(), 200), key=lambda u: -u.value)
    chosen: list[Utxo] = []
    total = 0
    for u in coins:
        if kinds and u.addr.kind not in kinds:
            continue
        chosen.append(u)
        total += u.value
        if total >= need:
            return chosen
        if len(chosen) == max_n:
            break
    return []


def bip69(outs: list[tuple[Address | bytes, int]]) -> list[tuple[Address | bytes, int]]:
    """Outputs in BIP69 order (value, then script), as Samourai's wallet orders them."""
    return sorted(outs, key=lambda o: (o[1], o[0] if isinstance(o[0], bytes) else o[0].script))


def bip69_inputs(coins: list[Utxo]) -> list[Utxo]:
    """Inputs in BIP69 order (previous txid as displayed, then output index)."""
    return sorted(coins, key=lambda u: (u.txid[::-1], u.vout))


def case_typology(coins: list[Utxo]) -> str:
    """`coinjoin` when a case's coins take part (the typology column), else ''."""
    return "coinjoin" if any(u.case for u in coins) else ""

