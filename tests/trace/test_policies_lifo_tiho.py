"""LIFO and TIHO (optional policies): worked examples by hand, and conservation on a simulated chain."""

from __future__ import annotations

from fractions import Fraction

import pytest

from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.trace.engine import trace
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.policies import Fifo, Lifo, Tiho, policy

# The worked example of docs/taint-policies.md: inputs 60 tainted + 40 clean, outputs X 50, Y 40, fee 10.
INS_SEG = [(60, ((0, 60),)), (40, None)]
INS_AMT = [(60, 60), (40, None)]
OUTS = [50, 40]


def test_fifo_lifo_tiho_forward_by_hand() -> None:
    f = Fifo()
    outs, fee = f.forward(INS_SEG, OUTS)
    assert [f.amount(s) if s else 0 for s in outs] == [50, 10] and fee is None
    lifo = Lifo()
    outs, fee = lifo.forward(INS_SEG, OUTS)  # clean 40 first, then the tainted 60 at [40, 100)
    assert [lifo.amount(s) if s else 0 for s in outs] == [10, 40] and lifo.amount(fee) == 10
    t = Tiho()
    outs, fee = t.forward(INS_AMT, OUTS)  # the 60 tainted fill the largest output (50), then 40
    assert outs == [50, 10] and fee is None
    outs, fee = t.forward(INS_AMT, [30, 20])  # outputs 30 + 20, fee 50: taint overflows into the fee
    assert outs == [30, 20] and fee == 10


def test_lifo_tiho_backward_by_hand() -> None:
    lifo = Lifo()
    # 50 traced on X (the first output): reversed inputs are [40, 60]; X's [0, 50) covers all of
    # the 40-input and [0, 10) of the 60-input
    states = lifo.backward([60, 40], [(50, ((0, 50),)), (40, None)])
    assert [lifo.amount(s) for s in states] == [10, 40]
    t = Tiho()
    assert t.backward([60, 40], [(50, 50), (40, None)]) == [50, None]
    assert t.backward([30, 70], [(90, 90)]) == [20, 70]


def test_policy_names() -> None:
    assert policy("lifo").name == "lifo" and policy("tiho").name == "tiho"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> GraphIndex:
    base = tmp_path_factory.mktemp("lt")
    simulate(base / "sim", seed=23, txs=3000)
    store = Store.open(base / "store")
    ingest_blocks_dir(store, base / "sim" / "blocks")
    return GraphIndex.ensure(store, "btc-regtest")


@pytest.mark.parametrize("name", ["lifo", "tiho"])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_conservation_on_a_simulated_chain(chain: GraphIndex, name: str, direction: str) -> None:
    import numpy as np

    spent = np.flatnonzero(np.asarray(chain.out_spent_by) >= 0)[:: max(1, len(chain.out_spent_by) // 40)]
    for o in spent[:20]:
        r = trace(chain, [int(o)], direction=direction, policy=name)
        assert r.truncated is None
        total = sum((Fraction(e.amount) for e in r.endpoints), Fraction(0))
        if direction == "forward":
            total += r.fees
        assert total == r.seed_value, (name, direction, int(o))
