"""Block verification against a real node (anvil, latest fork): every header field group up to
Prague, typed transactions (legacy, EIP-2930, EIP-1559) and their receipts verify; a chain
configured as unverifiable stores its blocks as unverified and says so once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundtrail.chains.ethereum.encode import header_fork
from fundtrail.cli.main import main
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport
from fundtrail.ingest.ethereum.verify import verify_block
from fundtrail.model.chains import EVM_CHAINS
from fundtrail.store import Store
from support.anvil import anvil  # noqa: F401  (module-scoped fixture)


def _send_typed(node, accounts: list[str]) -> None:
    a, b = accounts[0], accounts[1]
    node.automine(False)
    node.rpc("eth_sendTransaction", {"from": a, "to": b, "value": hex(10**18), "gasPrice": hex(3 * 10**9),
                                     "type": "0x0"})
    node.rpc("eth_sendTransaction", {"from": a, "to": b, "value": hex(7), "gasPrice": hex(3 * 10**9),
                                     "accessList": [{"address": b, "storageKeys": ["0x" + "00" * 31 + "01"]}],
                                     "type": "0x1"})
    node.rpc("eth_sendTransaction", {"from": b, "to": a, "value": hex(5), "type": "0x2",
                                     "maxFeePerGas": hex(5 * 10**9), "maxPriorityFeePerGas": hex(10**9)})
    node.mine()
    node.automine(True)


def test_anvil_blocks_verify_with_typed_transactions(anvil) -> None:  # noqa: F811
    _send_typed(anvil, anvil.accounts)
    head = anvil.block_number()
    with EthRpc(HttpTransport(anvil.url)) as rpc:
        block = rpc.blocks([head])[0]
        receipts = rpc.block_receipts(block)
        types = sorted(int(t["type"], 16) for t in block["transactions"])
        assert types == [0, 1, 2]
        assert header_fork(block) in ("Cancun", "Prague")
        assert verify_block(EVM_CHAINS["anvil"], block, receipts, "anvil") is True
        receipts[1]["status"] = "0x0"
        with pytest.raises(Exception, match="field receiptsRoot"):
            verify_block(EVM_CHAINS["anvil"], block, receipts, "anvil")


def test_unverifiable_chain_is_stored_unverified_and_said_once(anvil, tmp_path: Path,  # noqa: F811
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    head = anvil.block_number()
    store_dir = tmp_path / "store"
    code = main(["--store", str(store_dir), "--quiet", "ingest", "ethereum", "--rpc", anvil.url,
                 "--chain", "my-l2", "--from", "0", "--to", str(head), "--batch-blocks", "1",
                 "--traces", "none", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert report["unverified_blocks"] == head + 1
    assert sum("unverified" in w for w in report["warnings"]) == 1
    code = main(["--store", str(tmp_path / "store2"), "--quiet", "ingest", "ethereum", "--rpc", anvil.url,
                 "--from", "0", "--to", str(head), "--traces", "none", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["unverified_blocks"] == 0
    assert not any("unverified" in w for w in report["warnings"])
    store = Store.open(tmp_path / "store2", create=False)
    with store.query() as con:
        assert con.execute("SELECT bool_and(verified) FROM anvil_blocks").fetchone()[0] is True
    with Store(store_dir.parent / "store").query() as con:  # the unverifiable chain: stored false
        assert con.execute("SELECT count(*), bool_or(verified) FROM my_l2_blocks").fetchone() == (head + 1, False)
