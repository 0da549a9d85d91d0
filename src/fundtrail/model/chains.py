"""Chain identities: the store name of each supported chain and its family (UTXO or account)."""

from __future__ import annotations

from fundtrail.errors import UsageError

#: store chain name -> (family, network name)
BITCOIN_CHAINS: dict[str, str] = {
    "mainnet": "btc",
    "testnet": "btc-testnet",
    "testnet4": "btc-testnet4",
    "signet": "btc-signet",
    "regtest": "btc-regtest",
}


def bitcoin_chain_name(network: str) -> str:
    """Store name of the Bitcoin chain on `network` (`btc` for mainnet)."""
    return BITCOIN_CHAINS[network]


def bitcoin_network_of(chain: str) -> str:
    """Network name of a Bitcoin store chain name; UsageError for anything else."""
    for net, name in BITCOIN_CHAINS.items():
        if name == chain:
            return net
    raise UsageError(f"unknown Bitcoin chain {chain!r}; known: {', '.join(BITCOIN_CHAINS.values())}")
