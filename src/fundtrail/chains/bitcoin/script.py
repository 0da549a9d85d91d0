"""Output script types.

The numeric codes are stored in the `script_type` columns of the store: never renumber them, only
append. Names are the export strings (docs/schema.md) and follow Bitcoin Core's `TxoutType` names
where one exists.
"""

from __future__ import annotations

from enum import IntEnum


class ScriptType(IntEnum):
    """Classification of an output script (scriptPubKey)."""

    NONSTANDARD = 0
    P2PK = 1
    P2PKH = 2
    P2SH = 3
    P2WPKH = 4
    P2WSH = 5
    P2TR = 6
    MULTISIG = 7  # bare multisig: OP_m <keys> OP_n OP_CHECKMULTISIG
    OP_RETURN = 8  # null data, provably unspendable
    P2A = 9  # pay-to-anchor: OP_1 <0x4e73>
    WITNESS_UNKNOWN = 10  # witness versions 1..16 other than P2TR/P2A (and v1 non-32-byte programs)

    @property
    def export_name(self) -> str:
        """Name used in exports and the CLI."""
        return _EXPORT_NAMES[self]


_EXPORT_NAMES = {
    ScriptType.NONSTANDARD: "nonstandard",
    ScriptType.P2PK: "p2pk",
    ScriptType.P2PKH: "p2pkh",
    ScriptType.P2SH: "p2sh",
    ScriptType.P2WPKH: "p2wpkh",
    ScriptType.P2WSH: "p2wsh",
    ScriptType.P2TR: "p2tr",
    ScriptType.MULTISIG: "multisig",
    ScriptType.OP_RETURN: "op_return",
    ScriptType.P2A: "p2a",
    ScriptType.WITNESS_UNKNOWN: "witness_unknown",
}

#: Script types that can be rendered as an address string (P2PK via the P2PKH of its key).
ADDRESSABLE = frozenset(
    {
        ScriptType.P2PK,
        ScriptType.P2PKH,
        ScriptType.P2SH,
        ScriptType.P2WPKH,
        ScriptType.P2WSH,
        ScriptType.P2TR,
        ScriptType.P2A,
        ScriptType.WITNESS_UNKNOWN,
    }
)
