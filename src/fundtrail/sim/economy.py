"""The economy engine: one deterministic random stream, actors' wallets, transactions and blocks.

Everything that happens is drawn from one `random.Random(seed)` in a fixed order (lists and
insertion-ordered dicts only, never hash-ordered sets), so a seed gives byte-identical blocks and
ground truth. Blocks are mined and streamed to blk files as soon as they are full; what stays in
memory is the actors' unspent outputs and the pending plans (multi-block behaviours written as
generators that yield how many blocks to wait).

Simplifications, on purpose: a flat 50 BTC subsidy (no halving), coinbase outputs spendable in the
next block (no 100-block maturity), block times exactly 600 s apart, no mempool (a transaction
is mined in the block during which it is made), exchanges do not keep customer ledgers (withdrawals
are paid from the hot wallet while it has funds).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import Network
from fundtrail.sim.chainout import BlkSink, SimTx, assemble_block
from fundtrail.sim.truth import TruthWriter
from fundtrail.sim.wallet import Address, Utxo, Wallet, sign_input, vsize

if TYPE_CHECKING:
    from fundtrail.sim.actors import Actor, Miner

SUBSIDY = 50 * w.COIN
BASE_TIME = 1_700_000_000
DUST = 546
COINBASE_TAG = b"/fundtrail-sim/"
#: Service categories where a trace ends because funds can be frozen there (cash-out points).
CASHOUT_CATEGORIES = ("exchange", "otc_desk")

Plan = Generator[int, None, None]


@dataclass
class CaseState:
    """A crime event being simulated: its seeds and where its funds reached services."""

    name: str
    kind: str
    actor: str
    seed_outputs: list[dict[str, Any]] = field(default_factory=list)
    cashouts: dict[str, dict[str, Any]] = field(default_factory=dict)  # address -> info
    typologies: list[str] = field(default_factory=list)
    coinjoins: list[dict[str, str]] = field(default_factory=list)  # {txid, protocol}
    plans_active: int = 0
    n_txs: int = 0


@dataclass
class TxResult:
    """What `Economy.transfer` made: the txid, the new outputs in order, and the fee."""

    txid: bytes
    outputs: list[Utxo]
    fee: int


class Economy:
    """Holds the chain being built; actors call `transfer`, scenarios call `run`."""

    def __init__(self, seed: int, network: Network, truth: TruthWriter, sink: BlkSink) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.network, self.truth, self.sink = network, truth, sink
        self.actors: list[Actor] = []
        self.cases: dict[str, CaseState] = {}
        self.height = 0
        self.time = BASE_TIME
        self.prev = bytes(32)
        self.block: list[SimTx] = []
        self.block_fees = 0
        self.n_txs = 0  # non-coinbase transactions so far
        self.n_blocks = 0
        self.value_created = 0
        self._plans: list[tuple[int, int, Plan, str | None]] = []
        self._seq = itertools.count()
        self.miners: list[Miner] = []
        self.events: list[tuple[Callable[[], object], float]] = []
        self.jobs: list[Callable[[], object]] = []  # periodic jobs not tied to one actor

    # -- actors and plans
    def add(self, actor: Actor) -> Actor:
        """Register an actor (its order in the list is part of the determinism)."""
        self.actors.append(actor)
        return actor

    def spawn(self, plan: Plan, case: str | None = None, delay: int = 0) -> None:
        """Start a multi-block behaviour; a case's run is not over until its plans finish."""
        if case:
            self.cases[case].plans_active += 1
        heapq.heappush(self._plans, (self.height + delay, next(self._seq), plan, case))

    def _run_plans(self) -> None:
        while self._plans and self._plans[0][0] <= self.height:
            _, seq, plan, case = heapq.heappop(self._plans)
            try:
                wait = next(plan)
            except StopIteration:
                if case:
                    self.cases[case].plans_active -= 1
                continue
            heapq.heappush(self._plans, (self.height + max(wait, 0), seq, plan, case))

    def feerate(self) -> int:
        """Sat/vB drawn from a skewed distribution (most transactions pay little)."""
        return 1 + int(self.rng.paretovariate(1.5) * 2) % 60

    # -- transactions
    def transfer(self, actor: Actor, wallet: Wallet, payments: list[tuple[Address, int]], *,
                 pattern: str, typology: str = "", inputs: list[Utxo] | None = None,
                 sweep: bool = False, change_wallet: Wallet | None = None,
                 seed_case: str | None = None) -> TxResult | None:
        """Make, record and mine one transaction; None if the wallet cannot pay (nothing changes).

        With `sweep` every selected input goes to the single payee less the fee (no change).
        Outputs held by an actor that follows a case inherit the case mark of the inputs.
        """
        rng = self.rng
        fr = self.feerate()
        kinds = [a.kind for a, _ in payments]
        pay = sum(v for _, v in payments)
        if any(v < DUST for _, v in payments) and not sweep:
            return None
        if inputs is None:
            coins = sorted(itertools.islice(wallet.utxos.values(), 300), key=lambda u: -u.value)
            inputs, total = [], 0
            for u in coins:
                inputs.append(u)
                total += u.value
                if not sweep and total >= pay + fr * vsize(inputs, kinds + [wallet.kind]):
                    break
        total = sum(u.value for u in inputs)
        if not inputs:
            return None
        outs: list[tuple[Address | bytes, int]]
        if sweep:
            value = total - fr * vsize(inputs, kinds)
            if value < DUST:
                return None
            outs = [(payments[0][0], value)]
        else:
            fee = fr * vsize(inputs, kinds + [wallet.kind])
            change = total - pay - fee
            if change < 0:
                fee = fr * vsize(inputs, kinds)
                if total - pay - fee < 0:
                    return None
                change = 0
            outs = list(payments)
            if change >= DUST:
                cw = change_wallet or wallet
                outs.insert(rng.randrange(len(outs) + 1), (cw.change_address(inputs), change))
        return self.commit(actor, inputs, outs, pattern=pattern, typology=typology,
                           seed_case=seed_case)

    def commit(self, actor: Actor, inputs: list[Utxo], outs: list[tuple[Address | bytes, int]], *,
               pattern: str, typology: str = "", seed_case: str | None = None,
               protocol: str = "") -> TxResult:
        """Sign, record and mine a transaction whose inputs and outputs are already decided.

        `outs` pairs an address (or a raw null-data script: an OP_RETURN output) with its value;
        inputs may belong to several actors (a CoinJoin), `actor` is who built it. An output
        carries the mark of the first case among the inputs that its holder follows (the case
        boundary, docs/simulator.md); a transaction spending marks of several cases goes into
        each case's subgraph. `protocol` records the transaction in truth/coinjoins.csv.
        """
        rng = self.rng
        fee = sum(u.value for u in inputs) - sum(v for _, v in outs)
        assert fee >= 0, "a transaction cannot create value"
        cases = [seed_case] if seed_case else list(dict.fromkeys(u.case for u in inputs if u.case))
        locktime = self.height if rng.random() < 0.6 else 0
        tx = w.Tx(2, [sign_input(u, rng) for u in inputs],
                  [w.TxOut(v, a if isinstance(a, bytes) else a.script) for a, v in outs], locktime)
        sx = SimTx.of(tx)
        for u in inputs:
            del u.addr.wallet.utxos[(u.txid, u.vout)]
        made: list[Utxo | None] = []
        for vout, (a, v) in enumerate(outs):
            if isinstance(a, bytes):  # null data: no address, nothing to spend
                made.append(None)
                continue
            if not a.recorded:
                a.recorded = True
                self.truth.address(a)
            owner = a.owner
            mark = next((c for c in cases if owner.follows(c)), None)
            u = Utxo(sx.txid, vout, v, a, mark)
            a.wallet.utxos[(sx.txid, vout)] = u
            made.append(u)
        for case in cases:
            self._case_tx(case, sx.txid, inputs, made, outs, typology, seed_case is not None,
                          protocol)
        self.truth.tx(sx.txid, self.height, actor, pattern, typology, ";".join(cases))
        if protocol:
            owners = len({id(u.addr.owner) for u in inputs})
            self.truth.coinjoin(sx.txid, self.height, protocol, len(inputs), len(outs), owners)
        self.block.append(sx)
        self.block_fees += fee
        self.n_txs += 1
        return TxResult(sx.txid, [u for u in made if u is not None], fee)

    def _case_tx(self, case: str, txid: bytes, inputs: list[Utxo], made: list[Utxo | None],
                 outs: list[tuple[Address | bytes, int]], typology: str, seed: bool,
                 protocol: str) -> None:
        st = self.cases[case]
        st.n_txs += 1
        if typology and typology not in st.typologies:
            st.typologies.append(typology)
        h = w.display_hex(txid)
        if protocol:
            st.coinjoins.append({"txid": h, "protocol": protocol})
        for u in made:
            if u is None:
                continue
            cat = u.addr.owner.category
            if seed and u.case:
                st.seed_outputs.append({"txid": h, "vout": u.vout, "value": u.value,
                                        "address": u.addr.text})
            if not seed and u.addr.role == "deposit" and cat in CASHOUT_CATEGORIES:
                info = st.cashouts.setdefault(u.addr.text, {
                    "address": u.addr.text, "actor": u.addr.owner.name, "category": cat,
                    "received_direct": 0, "first_txid": h})
                info["received_direct"] += u.value
        self.truth.case_tx(case, {
            "txid": h, "time": self.time, "height": self.height,
            "inputs": [{"txid": w.display_hex(u.txid), "vout": u.vout, "value": u.value}
                       for u in inputs],
            "outputs": [{"value": v, "address": None if isinstance(a, bytes) else a.text}
                        for a, v in outs]})

    # -- blocks
    def _coinbase(self) -> None:
        rng = self.rng
        miner = rng.choices(self.miners, weights=[m.hashrate for m in self.miners])[0]
        addr = miner.coinbase_address()
        if not addr.recorded:
            addr.recorded = True
            self.truth.address(addr)
        reward = SUBSIDY + self.block_fees
        self.value_created += SUBSIDY
        tag = COINBASE_TAG + miner.name.encode() + rng.randbytes(4)
        raw, cbx = assemble_block(self.prev, [w.TxOut(reward, addr.script)], self.height,
                                  self.block, self.time, tag)
        self.sink.write(raw)
        self.prev = w.block_hash(raw)
        addr.wallet.utxos[(cbx.txid, 0)] = Utxo(cbx.txid, 0, reward, addr, None)
        self.truth.tx(cbx.txid, self.height, miner, "coinbase", "", "")
        self.n_blocks += 1

    def step_block(self, per_block: int) -> None:
        """Build one block: due plans, actors' periodic jobs, random events, then mine it."""
        self.time = BASE_TIME + 600 * self.height
        self.block, self.block_fees = [], 0
        self._run_plans()
        for actor in self.actors:
            actor.on_block()
        for job in self.jobs:
            job()
        if self.height >= 2 and self.events:
            funcs = [f for f, _ in self.events]
            weights = [x for _, x in self.events]
            attempts = 0
            while len(self.block) < per_block and attempts < 4 * per_block:
                attempts += 1
                self.rng.choices(funcs, weights=weights)[0]()
        self._coinbase()
        self.height += 1

    def busy_cases(self) -> bool:
        """Whether some case still has laundering plans running."""
        return any(c.plans_active > 0 for c in self.cases.values())
