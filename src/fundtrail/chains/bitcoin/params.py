"""Network parameters of the Bitcoin networks fundtrail reads (mainnet, testnet, signet, regtest).

The networks differ in the blk-file magic, address prefixes and genesis block; everything else in
the formats is shared.
"""

from __future__ import annotations

from dataclasses import dataclass

from fundtrail.errors import UsageError


@dataclass(frozen=True)
class Network:
    """Constants that distinguish one Bitcoin network from another."""

    name: str
    magic: bytes  # the 4 bytes before each block record in blk*.dat and P2P messages
    p2pkh_prefix: int  # Base58Check version byte of P2PKH addresses
    p2sh_prefix: int  # Base58Check version byte of P2SH addresses
    hrp: str  # bech32/bech32m human-readable part
    genesis_hash: str  # display (big-endian) hex of the genesis block hash


MAINNET = Network(
    "mainnet", bytes.fromhex("f9beb4d9"), 0x00, 0x05, "bc",
    "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
)
TESTNET = Network(
    "testnet", bytes.fromhex("0b110907"), 0x6F, 0xC4, "tb",
    "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
)
TESTNET4 = Network(
    "testnet4", bytes.fromhex("1c163f28"), 0x6F, 0xC4, "tb",
    "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
)
SIGNET = Network(
    "signet", bytes.fromhex("0a03cf40"), 0x6F, 0xC4, "tb",
    "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
)
REGTEST = Network(
    "regtest", bytes.fromhex("fabfb5da"), 0x6F, 0xC4, "bcrt",
    "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
)

NETWORKS: dict[str, Network] = {n.name: n for n in (MAINNET, TESTNET, TESTNET4, SIGNET, REGTEST)}
NETWORK_BY_MAGIC: dict[bytes, Network] = {n.magic: n for n in NETWORKS.values()}


def network(name: str) -> Network:
    """Return the network called `name`, or raise a UsageError listing the known ones."""
    try:
        return NETWORKS[name]
    except KeyError:
        known = ", ".join(NETWORKS)
        raise UsageError(f"unknown Bitcoin network {name!r}; known networks: {known}") from None
