"""Unsigned transactions of impersonated accounts (the EVM simulator's, mined by a real anvil) verify
on a development chain by anvil's rule, and are refused on any other chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.anvil import require_anvil

from fundtrail.cli.main import main
from fundtrail.errors import SourceError
from fundtrail.ingest.ethereum.verify import verify_block
from fundtrail.model.chains import EVM_CHAINS, EvmChain


def test_impersonated_transactions_verify_only_on_a_dev_chain(tmp_path: Path) -> None:
    require_anvil()
    sim = str(tmp_path / "sim")
    assert main(["-q", "simulate", "--chain", "eth", "--seed", "3", "--txs", "300", "--out", sim]) == 0
    block = json.loads((tmp_path / "sim" / "rpc" / "web3_response.eth_getBlockByNumber_0x1_true.json")
                       .read_text())["result"]
    unsigned = [t for t in block["transactions"] if t["r"] == "0x0" and t["s"] == "0x0"]
    assert unsigned, "the simulator impersonates accounts: its transactions carry no signature"
    assert verify_block(EVM_CHAINS["anvil"], block, None, "sim") is True
    with pytest.raises(SourceError, match=r"transaction 0 .*field hash"):
        verify_block(EvmChain("mainnet-like", 1, "ETH", verify="full"), block, None, "sim")
    # and the whole recording ingests, verified
    store = str(tmp_path / "store")
    assert main(["-q", "--store", store, "ingest", "ethereum", "--replay", str(tmp_path / "sim" / "rpc")]) == 0
