"""Known stablecoin issuer contracts per chain: whose freeze events are facts about frozen funds.

Anyone can deploy a contract that emits `AddedBlackList` or `Blacklisted`; only the token's own
contract controls the token's balances. A freeze event therefore says something about a token's
funds only when the token contract itself emitted it, and a risk rule scores it only when that
contract is a known issuer's. Freezes by other contracts are still listed, marked "issuer not
known" (a risk profile may add contracts: `risk.profile`, rule kind `freeze`, `issuers`).

Addresses are the 20-byte account hash in lower-case hex (TRON's `41…` without the 0x41 prefix,
as the store keeps it), each with where it was checked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issuer:
    """A stablecoin contract on a chain: `address` 40 lower-case hex digits (no 0x, no TRON 41);
    `decimals` the token's (shown when ingest could not read them)."""

    chain: str
    symbol: str
    name: str
    issuer: str
    address: str
    decimals: int = 6

    @property
    def raw(self) -> bytes:
        return bytes.fromhex(self.address)


ISSUERS: tuple[Issuer, ...] = (
    # Tether's list of USDT contracts (tether.to/en/supported-protocols) and Etherscan's label
    # "Tether: USDT Stablecoin" (../shared/data/labels/etherscan-labels/etherscan/accounts/stablecoin.csv).
    Issuer("eth", "USDT", "Tether USD", "Tether", "dac17f958d2ee523a2206206994597c13d831ec7"),
    # Circle's USDC contract addresses page (developers.circle.com/stablecoins/usdc-contract-addresses)
    # and Etherscan's label "Centre: USD Coin" (same file as above).
    Issuer("eth", "USDC", "USD Coin", "Circle", "a0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"),
    # USDT-TRC20 TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t (Tether's supported protocols; issue 18's vector
    # 41a614f803b6fd780986a42c78ec9c7f77e6ded13c; GraphSense's TRON token configuration, USDT,
    # ../shared/data/tron/graphsense-lib/56804500to56805500/token_configuration.json).
    Issuer("tron", "USDT", "Tether USD", "Tether", "a614f803b6fd780986a42c78ec9c7f77e6ded13c"),
    # USDC on TRON TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8 (Circle's contract addresses page; GraphSense's
    # TRON token configuration, USDC, same file). Circle stopped minting on TRON in 2024; the contract
    # and its blacklist remain.
    Issuer("tron", "USDC", "USD Coin", "Circle", "3487b63d30b5b2c87fb7ffa8bcfade38eaac1abe"),
)

_BY_CHAIN: dict[str, dict[bytes, Issuer]] = {}
for _i in ISSUERS:
    _BY_CHAIN.setdefault(_i.chain, {})[_i.raw] = _i


def issuers_on(chain: str) -> list[Issuer]:
    """The known issuer contracts of `chain` (none for a chain not listed, e.g. a test chain)."""
    return list(_BY_CHAIN.get(chain, {}).values())


def issuer_of(chain: str, address: bytes) -> Issuer | None:
    """The known issuer whose contract is `address` (20 bytes) on `chain`, or None."""
    return _BY_CHAIN.get(chain, {}).get(bytes(address))
