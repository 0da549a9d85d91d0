"""Keys, addresses, wallets and unspent outputs of simulated actors.

A wallet is what a real wallet program does on chain: it hands out receive addresses (fresh or
reused at the wallet's own rate), picks change addresses (usually its own script type, sometimes
not, which is what makes the change heuristics of the literature sometimes wrong), and signs inputs
in the scriptSig/witness shape its script type calls for. Keys are deterministic random 33-byte
public keys; signatures are random placeholders (the chain parses like real data but would not pass
script validation, as with the sample chain). P2TR uses the untweaked x-only key (a simplification).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.address import render_address
from fundtrail.chains.bitcoin.hashing import hash160
from fundtrail.chains.bitcoin.params import Network
from fundtrail.chains.bitcoin.script import ScriptType

if TYPE_CHECKING:
    from fundtrail.sim.actors import Actor

#: Script kinds a simulated wallet uses, with the ScriptType they are stored as.
KINDS: dict[str, ScriptType] = {"p2pkh": ScriptType.P2PKH, "p2wpkh": ScriptType.P2WPKH,
                                "p2sh-p2wpkh": ScriptType.P2SH, "p2tr": ScriptType.P2TR}
#: Rough input/output virtual sizes per kind, for fee estimation.
_IN_VSIZE = {"p2pkh": 148, "p2wpkh": 68, "p2sh-p2wpkh": 91, "p2tr": 58}
_OUT_VSIZE = {"p2pkh": 34, "p2wpkh": 31, "p2sh-p2wpkh": 32, "p2tr": 43}


class Address:
    """One address: its script, rendered string, and the wallet that holds its key."""

    __slots__ = ("kind", "pubkey", "recorded", "role", "script", "text", "wallet")

    def __init__(self, kind: str, pubkey: bytes, wallet: Wallet, role: str, network: Network) -> None:
        self.kind, self.pubkey, self.wallet, self.role = kind, pubkey, wallet, role
        self.recorded = False  # its truth row is written when it first receives an output
        if kind == "p2pkh":
            payload = hash160(pubkey)
            self.script = w.p2pkh(payload)
        elif kind == "p2wpkh":
            payload = hash160(pubkey)
            self.script = w.p2wpkh(payload)
        elif kind == "p2sh-p2wpkh":
            payload = hash160(w.p2wpkh(hash160(pubkey)))
            self.script = w.p2sh(payload)
        elif kind == "p2tr":
            payload = pubkey[1:]
            self.script = w.p2tr(payload)
        else:
            raise ValueError(f"unknown address kind {kind!r}")
        self.text: str = render_address(int(KINDS[kind]), payload, network) or ""

    @property
    def owner(self) -> Actor:
        """The actor whose wallet holds the key (the ground truth of attribution)."""
        return self.wallet.actor


class Utxo:
    """An unspent output held by a wallet; `case` marks value descending from a crime's seeds."""

    __slots__ = ("addr", "case", "txid", "value", "vout")

    def __init__(self, txid: bytes, vout: int, value: int, addr: Address, case: str | None) -> None:
        self.txid, self.vout, self.value, self.addr, self.case = txid, vout, value, addr, case


@dataclass(eq=False)
class Wallet:
    """A key store of one actor with one preferred script type and an address-reuse habit.

    Only the most recent addresses are kept for reuse, so memory stays bounded however long the
    run; `utxos` is insertion-ordered (deterministic), keyed by outpoint.
    """

    actor: Actor
    kind: str
    reuse: float  # probability that a receive address is one handed out before
    change_mismatch: float = 0.1  # probability that change gets another script type
    change_reuse: float = 0.0  # probability that change goes back to a receiving address
    role: str = "wallet"
    utxos: dict[tuple[bytes, int], Utxo] = field(default_factory=dict)
    recent: list[Address] = field(default_factory=list)

    def balance(self) -> int:
        """Sum of the wallet's unspent outputs."""
        return sum(u.value for u in self.utxos.values())

    def new_address(self, kind: str | None = None, role: str | None = None) -> Address:
        """A fresh address; its truth row is written when it is first paid (see Economy)."""
        econ = self.actor.econ
        rng = econ.rng
        pub = bytes((rng.choice((2, 3)),)) + rng.randbytes(32)
        addr = Address(kind or self.kind, pub, self, role or self.role, econ.network)
        self.recent.append(addr)
        if len(self.recent) > 8:
            del self.recent[0]
        return addr

    def receive_address(self) -> Address:
        """Where to be paid: a reused address at the wallet's reuse rate, else a fresh one."""
        rng = self.actor.econ.rng
        if self.recent and rng.random() < self.reuse:
            return self.recent[rng.randrange(len(self.recent))]
        return self.new_address()

    def change_address(self, spent: list[Utxo]) -> Address:
        """Change: usually a fresh address of the wallet's type (what change heuristics assume)."""
        rng = self.actor.econ.rng
        if spent and rng.random() < self.change_reuse:
            return spent[0].addr
        if rng.random() < self.change_mismatch:
            return self.new_address(rng.choice([k for k in KINDS if k != self.kind]), "change")
        return self.new_address(role="change")


def vsize(inputs: list[Utxo], out_kinds: list[str]) -> int:
    """Approximate virtual size of a transaction, for fees."""
    return 11 + sum(_IN_VSIZE[u.addr.kind] for u in inputs) + sum(_OUT_VSIZE[k] for k in out_kinds)


def sign_input(u: Utxo, rng: random.Random) -> w.TxIn:
    """The input spending `u` with a placeholder signature in the shape of its script type."""
    sig = b"\x30" + rng.randbytes(70) + b"\x01"
    kind, pub = u.addr.kind, u.addr.pubkey
    if kind == "p2pkh":
        return w.TxIn(u.txid, u.vout, w.push_data(sig) + w.push_data(pub), 0xFFFFFFFD)
    if kind == "p2wpkh":
        return w.TxIn(u.txid, u.vout, b"", 0xFFFFFFFD, [sig, pub])
    if kind == "p2sh-p2wpkh":
        redeem = w.p2wpkh(hash160(pub))
        return w.TxIn(u.txid, u.vout, w.push_data(redeem), 0xFFFFFFFD, [sig, pub])
    return w.TxIn(u.txid, u.vout, b"", 0xFFFFFFFD, [rng.randbytes(64)])
