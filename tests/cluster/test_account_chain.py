"""Account chains: deposit links go through the same engine, storage and explanations.

The store is real (mainnet JSON-RPC recordings replayed through the Ethereum ingest); the deposit
heuristic is replaced by fixed links in this narrow test, so that the engine's account path is
checked against a known answer whatever the heuristic finds in two 2016 blocks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fundtrail.chains.ethereum.hexutil import eip55
from fundtrail.cluster import deposit
from fundtrail.cluster.engine import run_clustering
from fundtrail.cluster.explain import why
from fundtrail.cluster.query import load_clustering, show
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.errors import UsageError
from fundtrail.ingest.ethereum.pipeline import EthIngest
from fundtrail.ingest.ethereum.replay import ReplayTransport
from fundtrail.ingest.ethereum.rpc import EthRpc
from fundtrail.model.chains import EVM_CHAINS
from fundtrail.store import Store


@pytest.fixture
def eth_store(testdata: Path, tmp_path: Path) -> Store:
    fixture = testdata / "eth" / "ethereum-etl-fixtures" / "test_stream" / "blocks_1755634_1755635"
    if not fixture.is_dir():
        pytest.skip(f"{fixture} not found")
    store = Store.open(tmp_path / "s")
    rpc = EthRpc(ReplayTransport(fixture, unrecorded_as_rpc_error=True))
    with EthIngest(store, EVM_CHAINS["eth"], rpc, batch_blocks=10) as ing:
        ing.ingest_range(1755634, 1755635)
        ing.finish()
    return store


def test_deposit_links_cluster_an_account_chain(eth_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_snapshot(eth_store, "eth") as snap:
        txs = snap.con.execute("SELECT tx_id, from_id, to_id, hash FROM eth_transactions "
                               "WHERE to_id IS NOT NULL ORDER BY tx_id LIMIT 2").fetchall()
        addrs = dict(snap.con.execute("SELECT address_id, address FROM eth_addresses").fetchall())
    (t1, f1, d1, h1), (t2, f2, _, _) = txs
    seen = {}

    def links(con, chain, hot_wallets):
        seen["hot"] = list(hot_wallets)
        return deposit.Links(np.array([f1, f2]), np.array([d1, d1]), np.array([t1, t2]),
                             np.array([0.9, 0.8], np.float32))

    monkeypatch.setattr(deposit, "deposit_links", links)
    s = run_clustering(eth_store, "eth", hot_wallets=[7])
    assert seen["hot"] == [7] and s.mode == "full" and s.heuristics == ("deposit",)
    labels = load_clustering(eth_store, "eth").labels
    assert labels[f1] == labels[f2] == labels[d1] == min(f1, f2, d1)
    with open_snapshot(eth_store, "eth") as snap:
        r = why(eth_store, snap, eip55(bytes(addrs[f1])), eip55(bytes(addrs[d1])))
        shown = show(eth_store, snap, eip55(bytes(addrs[d1])).lower())
    assert r["linked"] and r["steps"][0]["heuristic"] == "deposit"
    assert r["steps"][0]["txid"] == "0x" + bytes(h1).hex() and r["steps"][0]["confidence"] == pytest.approx(0.9)
    assert shown["members"] == len({f1, f2, d1}) and isinstance(shown["received"], str)
    again = run_clustering(eth_store, "eth")
    assert again.mode == "full" and "account chains" in again.reason
    with pytest.raises(UsageError, match="UTXO chains only"):
        run_clustering(eth_store, "eth", heuristics=("change",), change_floor=0.9)
