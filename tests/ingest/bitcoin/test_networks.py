"""Every network's blk magic and address prefixes, end to end: write, ingest, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin.params import MAINNET, REGTEST, SIGNET, TESTNET, TESTNET4, Network
from fundtrail.chains.bitcoin.samplechain import sample_chain_blocks_dir
from fundtrail.cli.main import main
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin import validate
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.model.chains import bitcoin_chain_name
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions

PREFIXES = {"mainnet": ("1", "3", "bc1"), "testnet": ("m", "2", "tb1"), "testnet4": ("m", "2", "tb1"),
            "signet": ("m", "2", "tb1"), "regtest": ("m", "2", "bcrt1")}


@pytest.mark.parametrize("net", [MAINNET, TESTNET, TESTNET4, SIGNET, REGTEST], ids=lambda n: n.name)
def test_network_from_blk_magic(tmp_path: Path, net: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    chain = sample_chain_blocks_dir(tmp_path / "blocks", seed=11, n_blocks=30, network=net)
    if net is not REGTEST:
        # The sample chain is mined at the regtest limit: no test can mine mainnet, testnet or
        # signet difficulty. This test is about magic and address prefixes, so it turns the
        # proof-of-work checks off; test_sample_chain_fails_other_networks_pow shows they apply.
        monkeypatch.setattr(validate, "VALIDATE", False)
    raw = (tmp_path / "blocks" / "blk00000.dat").read_bytes()
    assert raw[:4] == net.magic
    store = Store.open(tmp_path / "store")
    report = ingest_blocks_dir(store, tmp_path / "blocks")  # network detected from the magic
    assert report.chain == bitcoin_chain_name(net.name) and report.blocks == len(chain.blocks)
    addresses = [o["address"] for t in iter_transactions(store, report.chain)
                 for o in t["outputs"] if o["address"]]
    p2pkh, p2sh, hrp = PREFIXES[net.name]
    assert any(a.startswith(hrp) for a in addresses)
    legacy = [a for a in addresses if not a.startswith(hrp)]
    assert legacy and all(a.startswith((p2pkh, "n", p2sh)) for a in legacy)


@pytest.mark.parametrize("net", [MAINNET, TESTNET, TESTNET4, SIGNET], ids=lambda n: n.name)
def test_sample_chain_fails_other_networks_pow(tmp_path: Path, net: Network) -> None:
    """Blocks mined at the regtest limit are refused on every other network, nothing is stored."""
    sample_chain_blocks_dir(tmp_path / "blocks", seed=11, n_blocks=5, network=net)
    store = Store.open(tmp_path / "store")
    with pytest.raises(DataError, match=f"easier than the {net.name} proof-of-work limit") as info:
        ingest_blocks_dir(store, tmp_path / "blocks")
    assert info.value.report.blocks == 0  # type: ignore[attr-defined]


def test_network_flag_must_match_the_magic(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "VALIDATE", False)  # regtest-mined blocks under testnet magic
    sample_chain_blocks_dir(tmp_path / "blocks", seed=11, n_blocks=20, network=TESTNET)
    code = main(["--store", str(tmp_path / "s"), "ingest", "bitcoin", "--blocks-dir", str(tmp_path / "blocks"),
                 "--network", "mainnet", "--json"])
    err = capsys.readouterr().err
    assert code == 3 and "magic" in err and "0b110907" in err
    code = main(["--store", str(tmp_path / "s"), "ingest", "bitcoin", "--blocks-dir", str(tmp_path / "blocks"),
                 "--network", "testnet", "--json"])
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out)["chain"] == "btc-testnet"
