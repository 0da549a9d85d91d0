"""A small deterministic Bitcoin chain in the real on-disk format, for the demo and tests.

Real chain data is large and fixed; ingestion tests need a chain whose every quirk is known in
advance. `build_sample_chain` generates one from a seed: valid serialization, merkle roots,
witness commitments and proof of work at the regtest target, with the script-type mix, address
reuse, same-block spends and a stale fork that an ingester must get right. Scripts and witnesses
carry random placeholder keys and signatures (no elliptic curve), so the chain parses like real
data but would not pass script validation. Simplifications, on purpose: the subsidy is 50 BTC at
every height (no halving) and coinbase outputs are spendable at once (no 100-block maturity), so
a 120-block chain has plenty to spend from height 10 on. The `manifest` says what is inside.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST, Network
from fundtrail.chains.bitcoin.script import ScriptType

SUBSIDY = 50 * w.COIN
TX_START = 10  # first height with transactions besides the coinbase
BASE_TIME = 1_700_000_000
COINBASE_TAG = b"/fundtrail-sample/"
#: One output of each kind is forced into the first transaction of heights TX_START, +1, ...
RARE_SCHEDULE = ("p2pk", "multisig", "op_return", "p2tr", "p2a", "witness_v2", "nonstandard",
                 "p2sh", "p2wsh")
_KIND_WEIGHTS = {"p2pkh": 28, "p2wpkh": 30, "p2tr": 20, "p2sh": 8, "p2wsh": 6, "p2pk": 2,
                 "multisig": 2, "op_return": 1.5, "p2a": 1, "witness_v2": 0.5, "nonstandard": 1}
_KIND_TYPE = {"p2pkh": ScriptType.P2PKH, "p2wpkh": ScriptType.P2WPKH, "p2tr": ScriptType.P2TR,
              "p2sh": ScriptType.P2SH, "p2wsh": ScriptType.P2WSH, "p2pk": ScriptType.P2PK,
              "multisig": ScriptType.MULTISIG, "op_return": ScriptType.OP_RETURN,
              "p2a": ScriptType.P2A, "witness_v2": ScriptType.WITNESS_UNKNOWN,
              "nonstandard": ScriptType.NONSTANDARD}
_FACT_NAMES = {"p2pk": "p2pk_output", "multisig": "bare_multisig_output",
               "op_return": "op_return_output", "p2tr": "p2tr_output", "p2a": "p2a_output",
               "witness_v2": "witness_v2_unknown_output", "nonstandard": "nonstandard_output",
               "p2sh": "p2sh_output", "p2wsh": "p2wsh_output", "p2pkh": "p2pkh_output",
               "p2wpkh": "p2wpkh_output"}
_ANCHOR_VALUE = 240


@dataclass(frozen=True)
class SampleChain:
    """Generated blocks plus a JSON-serializable description of them."""

    network: Network
    blocks: list[bytes]  # best chain, block i at height i; block 0 is the chain's own genesis
    stale: list[bytes]  # a shorter fork off a block below the tip (less work than the best chain)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def tip_hash(self) -> str:
        """Display hex of the best block."""
        return w.display_hex(w.block_hash(self.blocks[-1]))


@dataclass
class _Utxo:
    txid: bytes
    vout: int
    value: int
    kind: str
    height: int
    alive: bool = True


class _Generator:
    """Stateful tx/block generator; one per branch so the fork cannot disturb the best chain."""

    def __init__(self, rng: random.Random, utxos: list[_Utxo], facts: dict[str, Any]) -> None:
        self.rng = rng
        self.utxos = utxos
        self.facts = facts
        self.pools: dict[str, list[bytes]] = {}
        self.type_counts: dict[str, int] = {}
        self.spent_counts: dict[str, int] = {}
        self.paid: dict[bytes, list[list[Any]]] = {}  # reusable script -> outpoints paying it

    # -- scripts and witnesses with placeholder keys
    def _pubkey(self) -> bytes:
        return bytes((self.rng.choice((2, 3)),)) + self.rng.randbytes(32)

    def _sig(self) -> bytes:
        return b"\x30" + self.rng.randbytes(self.rng.choice((69, 70))) + b"\x01"

    def _payload(self, kind: str, size: int) -> bytes:
        """A fresh random hash/key, or sometimes one used before to model address reuse."""
        pool = self.pools.setdefault(kind, [])
        if pool and self.rng.random() < 0.12:
            return self.rng.choice(pool)
        data = self.rng.randbytes(size)
        pool.append(data)
        return data

    def _script(self, kind: str) -> bytes:
        rng = self.rng
        if kind == "p2pkh":
            return w.p2pkh(self._payload(kind, 20))
        if kind == "p2wpkh":
            return w.p2wpkh(self._payload(kind, 20))
        if kind == "p2tr":
            return w.p2tr(self._payload(kind, 32))
        if kind == "p2sh":
            return w.p2sh(self._payload(kind, 20))
        if kind == "p2wsh":
            return w.p2wsh(rng.randbytes(32))
        if kind == "p2pk":
            key = b"\x04" + rng.randbytes(64) if rng.random() < 0.3 else self._pubkey()
            return w.p2pk(key)
        if kind == "multisig":
            n = rng.randint(1, 3)
            return w.multisig(rng.randint(1, n), [self._pubkey() for _ in range(n)])
        if kind == "op_return":
            return w.op_return(rng.randbytes(rng.randint(4, 40)))
        if kind == "p2a":
            return w.p2a()
        if kind == "witness_v2":
            return w.witness_unknown(2, rng.randbytes(32))
        if kind == "nonstandard":  # hash puzzle: OP_HASH256 <32> OP_EQUAL
            return b"\xaa\x20" + rng.randbytes(32) + b"\x87"
        raise ValueError(kind)

    def _spend(self, u: _Utxo) -> w.TxIn:
        """An input for `u` with the scriptSig/witness shape its script type calls for."""
        rng, sig, key = self.rng, self._sig, self._pubkey
        seq = rng.choice((0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFE))
        ss, wit = b"", []
        kind = u.kind
        if kind == "p2pkh":
            ss = w.push_data(sig()) + w.push_data(key())
        elif kind == "p2pk":
            ss = w.push_data(sig())
        elif kind == "multisig":
            ss = b"\x00" + b"".join(w.push_data(sig()) for _ in range(rng.randint(1, 2)))
        elif kind == "p2sh" and rng.random() < 0.5:  # nested P2SH-P2WPKH
            ss, wit = w.push_data(w.p2wpkh(rng.randbytes(20))), [sig(), key()]
            kind = "p2sh_p2wpkh"
        elif kind == "p2sh":  # legacy 2-of-3 P2SH multisig
            redeem = w.multisig(2, [key() for _ in range(3)])
            ss = b"\x00" + w.push_data(sig()) + w.push_data(sig()) + w.push_data(redeem)
        elif kind == "p2wpkh":
            wit = [sig(), key()]
        elif kind == "p2wsh":
            wit = [b"", sig(), sig(), w.multisig(2, [key() for _ in range(3)])]
        elif kind == "p2tr" and rng.random() < 0.2:  # script path: sig, leaf script, control block
            wit = [rng.randbytes(64), b"\x20" + rng.randbytes(32) + b"\xac",
                   b"\xc0" + rng.randbytes(32)]
            kind = "p2tr_script_path"
        elif kind == "p2tr":
            wit = [rng.randbytes(64 if rng.random() < 0.9 else 65)]
        elif kind == "nonstandard":
            ss = w.push_data(rng.randbytes(32))
        # p2a and witness_v2 are spent with an empty scriptSig and witness
        self.spent_counts[kind] = self.spent_counts.get(kind, 0) + 1
        return w.TxIn(u.txid, u.vout, ss, seq, wit)

    def _take_random(self) -> _Utxo | None:
        while self.utxos:
            i = self.rng.randrange(len(self.utxos))
            self.utxos[i], self.utxos[-1] = self.utxos[-1], self.utxos[i]
            u = self.utxos.pop()
            if u.alive:
                u.alive = False
                return u
        return None

    def _outputs(self, budget: int, forced: str | None) -> list[tuple[str, int]]:
        """Output kinds and values summing to `budget` (zero-value OP_RETURN included)."""
        rng = self.rng
        n = max(1, min(rng.randint(1, 4), budget // 20_000))
        kinds = rng.choices(list(_KIND_WEIGHTS), weights=list(_KIND_WEIGHTS.values()), k=n)
        if forced:
            kinds[0] = forced
        out: list[tuple[str, int]] = []
        for k in kinds:
            if k == "op_return" and not any(o[0] == "op_return" for o in out):
                out.append((k, 0))
            elif k == "p2a" and budget > 10 * _ANCHOR_VALUE:
                out.append((k, _ANCHOR_VALUE))
                budget -= _ANCHOR_VALUE
            elif k not in ("op_return", "p2a"):
                out.append((k, -1))  # value decided below
        slots = [i for i, o in enumerate(out) if o[1] == -1]
        if not slots:
            out.append(("p2wpkh", -1))
            slots = [len(out) - 1]
        weights = [rng.random() + 0.1 for _ in slots]
        total, left = sum(weights), budget
        for j, i in enumerate(slots):
            v = left if j == len(slots) - 1 else int(budget * weights[j] / total)
            out[i] = (out[i][0], v)
            left -= v
        return out

    def _record_outputs(self, tx: w.Tx, kinds: list[str], height: int, facts: bool) -> None:
        txid = tx.txid()
        txid_hex = w.display_hex(txid)
        for vout, (kind, o) in enumerate(zip(kinds, tx.outputs)):
            self.type_counts[kind] = self.type_counts.get(kind, 0) + 1
            name = _FACT_NAMES.get(kind)
            if facts and name and name not in self.facts:
                self.facts[name] = {"height": height, "txid": txid_hex, "vout": vout,
                                    "value": o.value, "script": o.script.hex()}
            if kind in ("p2pkh", "p2wpkh", "p2tr", "p2sh"):
                self.paid.setdefault(o.script, []).append([txid_hex, vout])
            if kind != "op_return":
                self.utxos.append(_Utxo(txid, vout, o.value, kind, height))

    def _fact(self, name: str, **info: Any) -> None:
        self.facts.setdefault(name, info)

    def make_tx(
        self, height: int, index: int, fresh: list[_Utxo], forced: str | None
    ) -> tuple[w.Tx, int] | None:
        """One non-coinbase transaction and its fee; may spend an output made earlier in the
        same block (`fresh`), which is what makes in-block ordering matter to an ingester."""
        rng = self.rng
        ins: list[_Utxo] = []
        live_fresh = [u for u in fresh if u.alive]
        if index >= 1 and live_fresh and (height == TX_START or rng.random() < 0.15):
            u = rng.choice(live_fresh)
            u.alive = False
            ins.append(u)
        for _ in range(rng.randint(1, 3) - len(ins)):
            taken = self._take_random()
            if taken is None:
                break
            ins.append(taken)
        if not ins:
            return None
        sum_in = sum(u.value for u in ins)
        fee = min(rng.randint(1_000, 9_000), sum_in // 10)
        outs = self._outputs(sum_in - fee, forced)
        locktime = height - 1 if rng.random() < 0.5 else 0
        tx = w.Tx(rng.choice((1, 2)), [self._spend(u) for u in ins],
                  [w.TxOut(v, self._script(k)) for k, v in outs], locktime)
        txid_hex = w.display_hex(tx.txid())
        for vin, u in enumerate(ins):
            if u.height == height:
                self._fact("same_block_spend", height=height, txid=txid_hex, vin=vin,
                           prev_txid=w.display_hex(u.txid), prev_vout=u.vout)
            if u.kind in ("p2pk", "multisig", "p2a", "nonstandard"):
                self._fact(f"{u.kind}_spend", height=height, txid=txid_hex, vin=vin)
        if tx.has_witness:
            self._fact("segwit_spend", height=height, txid=txid_hex)
        if len(ins) == 3:
            self._fact("three_input_tx", height=height, txid=txid_hex)
        n_before = len(self.utxos)
        self._record_outputs(tx, [k for k, _ in outs], height, facts=True)
        fresh.extend(self.utxos[n_before:])
        return tx, fee

    def make_block(
        self, height: int, prev: bytes, n_tx: int, forced: str | None
    ) -> tuple[bytes, dict[str, Any]]:
        """Build and mine one block; returns it with its manifest entry."""
        rng = self.rng
        fresh: list[_Utxo] = []
        spends: list[w.Tx] = []
        fees = 0
        for i in range(n_tx):
            made = self.make_tx(height, i, fresh, forced if i == 0 else None)
            if made is not None:
                spends.append(made[0])
                fees += made[1]
        # Early coinbases pay to P2PK like 2009-era blocks; later ones to modern types.
        kinds = ["p2pk" if height < 3 else rng.choice(("p2pkh", "p2wpkh", "p2tr"))]
        if rng.random() < 0.25:
            kinds.append("p2wpkh")
        reward = SUBSIDY + fees
        values = [reward] if len(kinds) == 1 else [reward - reward // 4, reward // 4]
        seg = any(tx.has_witness for tx in spends)
        cb = w.coinbase_tx(height, [w.TxOut(v, self._script(k)) for k, v in zip(kinds, values)],
                           COINBASE_TAG + rng.randbytes(4), witness_commitment=seg)
        txs = w.fill_witness_commitment([cb, *spends])
        if seg:
            self._fact("witness_commitment_block", height=height)
        self._record_outputs(txs[0], kinds + ["op_return"] * seg, height, facts=False)
        time = BASE_TIME + 600 * height + rng.randint(0, 299)
        raw = w.build_block(prev, txs, time)
        entry = {
            "height": height, "hash": w.display_hex(w.block_hash(raw)),
            "prev_hash": w.display_hex(prev), "time": time, "size": len(raw), "n_tx": len(txs),
            "txids": [w.display_hex(t.txid()) for t in txs],
            "coinbase_value": reward, "fees": fees,
            "value_out": sum(o.value for t in txs for o in t.outputs),
        }
        return raw, entry


def _n_tx(rng: random.Random, height: int) -> int:
    return rng.randint(3, 15) if height >= TX_START else 0


def build_sample_chain(
    seed: int = 7, n_blocks: int = 120, network: Network = REGTEST, stale_branch: bool = True
) -> SampleChain:
    """Generate the chain for `seed`; byte-identical for equal arguments.

    Heights below TX_START hold only a coinbase; from TX_START on each block has 3-15 spends.
    Every kind in RARE_SCHEDULE appears by height TX_START + 8, so n_blocks >= 20 yields all
    facts. The stale fork (1-2 blocks off height n_blocks - 4, needs n_blocks >= 5) has less
    work than the best chain; it is drawn from its own RNG so it never changes the best chain.
    """
    if n_blocks < 1:
        raise ValueError("n_blocks must be at least 1")
    rng = random.Random(seed)
    facts: dict[str, Any] = {}
    gen = _Generator(rng, [], facts)
    blocks: list[bytes] = []
    entries: list[dict[str, Any]] = []
    fork_parent = n_blocks - 4 if stale_branch and n_blocks >= 5 else None
    snapshot: list[_Utxo] = []
    prev = bytes(32)
    for height in range(n_blocks):
        k = height - TX_START
        forced = RARE_SCHEDULE[k] if 0 <= k < len(RARE_SCHEDULE) else None
        raw, entry = gen.make_block(height, prev, _n_tx(rng, height), forced)
        blocks.append(raw)
        entries.append(entry)
        prev = w.block_hash(raw)
        if height == fork_parent:
            snapshot = [_Utxo(u.txid, u.vout, u.value, u.kind, u.height) for u in gen.utxos
                        if u.alive]

    stale: list[bytes] = []
    stale_entries: list[dict[str, Any]] = []
    if fork_parent is not None:
        srng = random.Random(seed * 1_000_003 + 0x5A1E)
        sgen = _Generator(srng, snapshot, {})
        sprev = w.block_hash(blocks[fork_parent])
        for height in range(fork_parent + 1, fork_parent + 1 + srng.randint(1, 2)):
            raw, entry = sgen.make_block(height, sprev, srng.randint(1, 4), None)
            stale.append(raw)
            stale_entries.append(entry)
            sprev = w.block_hash(raw)

    live = [u for u in gen.utxos if u.alive]
    manifest: dict[str, Any] = {
        "seed": seed,
        "network": network.name,
        "n_blocks": n_blocks,
        "bits": w.REGTEST_BITS,
        "subsidy": SUBSIDY,
        "genesis_hash": entries[0]["hash"],
        "tip_hash": entries[-1]["hash"],
        "n_transactions": sum(e["n_tx"] for e in entries),
        "heights": entries,
        "facts": dict(sorted(facts.items())),
        "address_reuse": next(({"script": s.hex(), "outputs": where}
                               for s, where in gen.paid.items() if len(where) > 1), None),
        "script_type_counts": _by_type(gen.type_counts),
        "spend_counts": dict(sorted(gen.spent_counts.items())),
        "utxo_count": len(live),
        "utxo_value": sum(u.value for u in live),
        "stale": {
            "fork_parent_height": fork_parent,
            "fork_parent_hash": entries[fork_parent]["hash"] if fork_parent is not None else None,
            "blocks": stale_entries,
        },
    }
    return SampleChain(network, blocks, stale, manifest)


def _by_type(counts: dict[str, int]) -> dict[str, int]:
    """Output counts keyed by ScriptType export name."""
    out: dict[str, int] = {}
    for kind, n in counts.items():
        name = _KIND_TYPE[kind].export_name
        out[name] = out.get(name, 0) + n
    return dict(sorted(out.items()))


def sample_chain_blocks_dir(
    path: str | Path,
    seed: int = 7,
    xor_key: bytes | None = None,
    shuffle: bool = True,
    *,
    n_blocks: int = 120,
    network: Network = REGTEST,
) -> SampleChain:
    """Write the sample chain and its stale blocks as a Bitcoin Core blocks dir under `path`.

    Blocks are stored in a seed-determined shuffled order (Core stores blocks as they arrive,
    not by height) and split over at least two blk files. The manifest gains "files" (blk file
    names) and "storage_order" (display hashes in the order written).
    """
    chain = build_sample_chain(seed, n_blocks, network)
    stored = chain.blocks + chain.stale
    if shuffle:
        random.Random(seed * 7_919 + 0xB10C).shuffle(stored)
    total = sum(len(b) + 8 for b in stored)
    max_size = max(max(len(b) + 8 for b in stored), total // 3 + 1)
    files = w.write_blocks_dir(path, stored, network, max_file_size=max_size, xor_key=xor_key)
    chain.manifest["files"] = [p.name for p in files]
    chain.manifest["storage_order"] = [w.display_hex(w.block_hash(b)) for b in stored]
    return chain
