"""The simulator's Solidity contracts and their committed solc builds.

The product deploys the committed artefacts (`contracts/<Name>.json`), so it runs on a machine
without a compiler; `compile_sources` rebuilds them with solcjs from npm for the test that keeps
the committed bytecode honest, and `python -m fundtrail.sim.evm.artifacts SOLCJS` rewrites them.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import sys
from functools import cache
from pathlib import Path
from typing import Any

from fundtrail.errors import ConfigError, DataError

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
SOLC_VERSION = "0.8.30+commit.73712a01"
SOLC_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object",
                    "evm.methodIdentifiers"]}
    },
}
CONTRACT_NAMES = ("SimStable", "SimPool", "SimPair", "SimBridge", "SimBatcher")


@cache
def artefact(name: str) -> dict[str, Any]:
    """The committed build of contract `name` (abi, bytecode, method identifiers)."""
    path = CONTRACTS_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing contract build", hint="reinstall fundtrail") from None
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable contract build: {err}") from None


def solc_artefacts(solcjs: Path, contracts_dir: Path, settings: dict[str, Any], version: str,
                   source_prefix: str) -> dict[str, dict[str, Any]]:
    """Compile every `contracts_dir/*.sol` with `solcjs` (standard JSON on stdin) after checking the
    compiler version; {contract name: artefact (abi, creation and runtime bytecode, method
    identifiers, compiler version and settings, `source_prefix` + file name)}."""
    found = subprocess.run([str(solcjs), "--version"], capture_output=True, text=True,
                           check=True).stdout.strip()
    if not found.startswith(version):
        raise ConfigError(f"{solcjs} is solc {found}; the committed build uses {version}")
    sources = {p.name: {"content": p.read_text(encoding="utf-8")}
               for p in sorted(contracts_dir.glob("*.sol"))}
    request = {"language": "Solidity", "sources": sources, "settings": settings}
    # solcjs writes its answer with process.stdout.write and exits: through a pipe it is cut at 64 KiB,
    # so it goes to a file
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        subprocess.run([str(solcjs), "--standard-json"], input=json.dumps(request), stdout=out,
                       stderr=subprocess.PIPE, text=True, check=True, cwd=contracts_dir)
        out.seek(0)
        text = out.read()
    # solcjs may print a notice before the JSON document
    output = json.loads(text[text.index("{"):])
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise DataError("solc: " + " | ".join(e["formattedMessage"].splitlines()[0] for e in errors))
    built: dict[str, dict[str, Any]] = {}
    for source, contracts in sorted(output["contracts"].items()):
        for name, c in sorted(contracts.items()):
            built[name] = {
                "contract": name,
                "source": f"{source_prefix}{source}",
                "compiler": {"name": "solc", "version": version, "settings": settings},
                "abi": c["abi"],
                "bytecode": "0x" + c["evm"]["bytecode"]["object"],
                "deployed_bytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
                "method_identifiers": c["evm"]["methodIdentifiers"],
            }
    return built


def compile_sources(solcjs: Path) -> dict[str, dict[str, Any]]:
    """Compile `contracts/*.sol` with `solcjs` (standard JSON); {contract name: artefact}."""
    built = solc_artefacts(solcjs, CONTRACTS_DIR, SOLC_SETTINGS, SOLC_VERSION,
                           "src/fundtrail/sim/evm/contracts/")
    return {name: art for name, art in built.items() if name in CONTRACT_NAMES}  # not interfaces


def write_artefacts(built: dict[str, dict[str, Any]]) -> None:
    """Write each artefact as `contracts/<Name>.json` (sorted keys, one trailing newline)."""
    for name, art in built.items():
        text = json.dumps(art, indent=1, sort_keys=True) + "\n"
        (CONTRACTS_DIR / f"{name}.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    solc = Path(sys.argv[1] if len(sys.argv) > 1 else "node_modules/.bin/solcjs").resolve()
    result = compile_sources(solc)
    write_artefacts(result)
    print(f"wrote {len(result)} artefacts to {CONTRACTS_DIR}: {', '.join(result)}", file=sys.stderr)
