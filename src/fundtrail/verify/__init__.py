"""Evidence verifier: re-checks on-chain facts from raw bytes alone, with no store and no network.

It imports only the Python standard library (never another fundtrail package), so a defence expert can
read and run it on its own; docs/verify.md says how to read it in an afternoon.
"""

from .bitcoin import (
    MAINNET_POW_LIMIT,
    Header,
    Tx,
    TxIn,
    TxOut,
    VerifyError,
    bits_to_target,
    check_chain,
    display,
    double_sha256,
    header_hash,
    internal,
    merkle_branch,
    merkle_root,
    merkle_root_from_branch,
    meets_pow,
    parse_header,
    parse_tx,
    split_block,
    txid,
    wtxid,
)

__all__ = [
    "MAINNET_POW_LIMIT",
    "Header",
    "Tx",
    "TxIn",
    "TxOut",
    "VerifyError",
    "bits_to_target",
    "check_chain",
    "display",
    "double_sha256",
    "header_hash",
    "internal",
    "meets_pow",
    "merkle_branch",
    "merkle_root",
    "merkle_root_from_branch",
    "parse_header",
    "parse_tx",
    "split_block",
    "txid",
    "wtxid",
]
