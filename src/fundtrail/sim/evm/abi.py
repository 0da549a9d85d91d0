"""Call data for the simulator's contracts, and the simulator's deterministic addresses.

Only the ABI types the contracts use: address, uint256, bytes32 and dynamic arrays of address or
uint256. Addresses are keccak-256 of a label that names the seed and the actor, so the same seed
gives the same addresses without keys (the node sends for them by impersonation).
"""

from __future__ import annotations

from typing import Any

from fundtrail.chains.ethereum.keccak import keccak256
from fundtrail.sim.evm.artifacts import artefact


def sim_address(seed: int, label: str) -> str:
    """The address of `label` in run `seed`: the last 20 bytes of keccak256("fundtrail-sim-evm:…")."""
    return "0x" + keccak256(f"fundtrail-sim-evm:{seed}:{label}".encode()).hex()[-40:]


def note_secret(seed: int, label: str) -> str:
    """A 32-byte pool note part (nullifier or secret) as 0x hex."""
    return "0x" + keccak256(f"fundtrail-sim-evm-note:{seed}:{label}".encode()).hex()


def commitment(nullifier: str, secret: str) -> str:
    """The pool commitment keccak256(nullifier ‖ secret), as SimPool computes it."""
    return "0x" + keccak256(bytes.fromhex(nullifier[2:]) + bytes.fromhex(secret[2:])).hex()


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _static(kind: str, value: Any) -> bytes:
    if kind == "address":
        return _word(int(value, 16))
    if kind == "bytes32":
        return bytes.fromhex(value[2:]).rjust(32, b"\0") if isinstance(value, str) else _word(value)
    return _word(int(value))


def encode(types: list[str], values: list[Any]) -> bytes:
    """ABI-encode `values` of `types` (static types and one-level dynamic arrays)."""
    heads: list[bytes | None] = []
    tails: list[bytes] = []
    for kind, value in zip(types, values, strict=True):
        if kind.endswith("[]"):
            inner = kind[:-2]
            heads.append(None)
            tails.append(_word(len(value)) + b"".join(_static(inner, v) for v in value))
        else:
            heads.append(_static(kind, value))
            tails.append(b"")
    offset = 32 * len(types)
    out = b""
    for head, tail in zip(heads, tails, strict=True):
        if head is None:
            out += _word(offset)
            offset += len(tail)
        else:
            out += head
    return out + b"".join(tails)


def _types(signature: str) -> list[str]:
    return [t for t in signature[signature.index("(") + 1:-1].split(",") if t]


def calldata(contract: str, signature: str, *args: Any) -> str:
    """Call data of `signature` (e.g. "transfer(address,uint256)") on `contract` with `args`."""
    selector = artefact(contract)["method_identifiers"][signature]
    return "0x" + selector + encode(_types(signature), list(args)).hex()


def deploy_data(contract: str, *args: Any) -> str:
    """Creation code of `contract` with its constructor arguments appended."""
    art = artefact(contract)
    ctor: dict[str, Any] = next((e for e in art["abi"] if e["type"] == "constructor"), {"inputs": []})
    return art["bytecode"] + encode([i["type"] for i in ctor["inputs"]], list(args)).hex()
