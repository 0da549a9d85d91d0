"""The committed contract builds are what the committed Solidity sources compile to."""

from __future__ import annotations

from support.anvil import require_solcjs

from fundtrail.sim.evm.artifacts import CONTRACT_NAMES, artefact, compile_sources


def test_committed_bytecode_equals_a_fresh_compile() -> None:
    solcjs = require_solcjs()
    fresh = compile_sources(solcjs)
    assert sorted(fresh) == sorted(CONTRACT_NAMES)
    for name, built in fresh.items():
        committed = artefact(name)
        assert built["bytecode"] == committed["bytecode"], f"{name}: rebuild the artefacts"
        assert built["deployed_bytecode"] == committed["deployed_bytecode"], name
        assert built["abi"] == committed["abi"], name
        assert built["method_identifiers"] == committed["method_identifiers"], name
