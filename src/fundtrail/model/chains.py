"""Chain identities: the store name of each supported chain and its family (UTXO or account)."""

from __future__ import annotations

import re

from fundtrail.errors import UsageError

#: What a store chain name may be: it becomes a directory under lake/, a lock file name and (with
#: '-' as '_') the prefix of SQL view names, so nothing that could escape a path or an identifier.
CHAIN_NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")


def check_chain_name(name: str, *, option: str = "--chain") -> str:
    """`name` if it is a valid store chain name, else a one-line UsageError (exit 2) saying why.

    Checked at the CLI edge and again wherever the store creates paths or SQL names from it, so
    `--chain "eth main"` or `--chain ../../x` never reaches a path or a query.
    """
    if not isinstance(name, str) or CHAIN_NAME_PATTERN.fullmatch(name) is None:
        raise UsageError(f"{option} {name!r} is not a valid chain name: use 1-32 lower-case letters, "
                         "digits and '-', starting with a letter (e.g. btc, eth, evm-31337)")
    return name

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


#: How far an EVM chain's blocks can be checked against their hashes (ingest/ethereum/verify.py):
#: "full" Ethereum's header and transaction formats (header hash, transactions, receipts and
#: withdrawals roots); "header" a standard header but chain-specific transaction types (OP-stack
#: deposits, Arbitrum's system types, Polygon's state-sync entries); "none" a header of its own.
EVM_VERIFY_LEVELS = ("full", "header", "none")


#: How an account chain's 20-byte addresses are written: "eip55" (0x + 40 hex digits, mixed-case
#: checksum) for EVM chains, "base58check" (T…: 0x41 + the 20 bytes, Base58Check) for TRON.
ADDRESS_FORMATS = ("eip55", "base58check")


class AccountChain:
    """An account chain by configuration: store name, chain id, native asset, how its blocks verify,
    how its addresses are written. No explorer needed."""

    __slots__ = ("address_format", "chain_id", "name", "native_decimals", "native_symbol", "verify",
                 "wrapped_native")

    def __init__(self, name: str, chain_id: int, native_symbol: str, native_decimals: int = 18,
                 wrapped_native: tuple[str, ...] | None = None, verify: str = "none",
                 address_format: str = "eip55") -> None:
        if verify not in EVM_VERIFY_LEVELS:
            raise ValueError(f"verify must be one of {EVM_VERIFY_LEVELS}, not {verify!r}")
        if address_format not in ADDRESS_FORMATS:
            raise ValueError(f"address_format must be one of {ADDRESS_FORMATS}, not {address_format!r}")
        self.verify = verify
        self.name = name
        self.chain_id = chain_id
        self.native_symbol = native_symbol
        self.native_decimals = native_decimals
        self.address_format = address_format
        # WETH-style contracts: their Deposit/Withdrawal events are mints/burns of the wrapped
        # asset. None (test and unknown chains) accepts those events from any contract.
        self.wrapped_native = (None if wrapped_native is None
                               else frozenset(bytes.fromhex(a[2:]) for a in wrapped_native))

    @property
    def network(self) -> str:
        """The network name the store's catalog records for this chain."""
        return f"chain-id-{self.chain_id}"

    def __repr__(self) -> str:
        return f"AccountChain({self.name!r}, chain_id={self.chain_id}, native={self.native_symbol})"


#: The EVM chains' config class (the name predates TRON).
EvmChain = AccountChain


#: Known EVM chains (store name -> config). Any other chain works with --chain NAME --chain-id N.
EVM_CHAINS: dict[str, EvmChain] = {c.name: c for c in (
    EvmChain("eth", 1, "ETH", wrapped_native=("0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2",),
             verify="full"),
    EvmChain("eth-sepolia", 11155111, "ETH", verify="full"),
    EvmChain("eth-holesky", 17000, "ETH", verify="full"),
    EvmChain("bsc", 56, "BNB", wrapped_native=("0xbb4cdb9cbd36b01bd1cbaebf2de08d9173bc095c",),
             verify="header"),
    EvmChain("polygon", 137, "POL", wrapped_native=("0x0d500b1d8e8ef31e21c99d1db9a6444d3adf1270",),
             verify="header"),
    EvmChain("arbitrum", 42161, "ETH", wrapped_native=("0x82af49447d8a07e3bd95bd0d56f35241523fbab1",),
             verify="header"),
    EvmChain("optimism", 10, "ETH", wrapped_native=("0x4200000000000000000000000000000000000006",),
             verify="header"),
    EvmChain("base", 8453, "ETH", wrapped_native=("0x4200000000000000000000000000000000000006",),
             verify="header"),
    EvmChain("avalanche", 43114, "AVAX", wrapped_native=("0xb31f66aa3c1e785363f0875a1b74e27b85fd66c7",),
             verify="none"),
    EvmChain("anvil", 31337, "ETH", verify="full"),
)}


#: TRON networks: the account model with TRX (6 decimals: sun) and Base58Check addresses; chain ids as
#: TRON's JSON-RPC reports them (eth_chainId: the last 4 bytes of the genesis block hash). WTRX is
#: TNUC9Qb1rRpS5CbWLmNMxXBjyFoydXjWFR.
TRON_CHAINS: dict[str, AccountChain] = {c.name: c for c in (
    AccountChain("tron", 728126428, "TRX", 6, wrapped_native=("0x891cdb91d149f23b1a45d9c5ca78a88d0cb44c18",),
                 address_format="base58check"),
    AccountChain("tron-nile", 3448148188, "TRX", 6, address_format="base58check"),
    AccountChain("tron-shasta", 2494104990, "TRX", 6, address_format="base58check"),
)}

#: Every known account chain (EVM and TRON): what readers consult for native asset and address form.
ACCOUNT_CHAINS: dict[str, AccountChain] = {**EVM_CHAINS, **TRON_CHAINS}
_BY_NETWORK = {c.network: c for c in ACCOUNT_CHAINS.values()}


def account_chain(name: str | None = None, network: str | None = None) -> AccountChain | None:
    """The known account chain of a store chain name, else of its catalog network (`chain-id-N`)."""
    if name is not None and name in ACCOUNT_CHAINS:
        return ACCOUNT_CHAINS[name]
    return _BY_NETWORK.get(network) if network is not None else None


def address_format(name: str | None = None, network: str | None = None) -> str:
    """How addresses of this account chain are written ("eip55" unless it is a TRON chain)."""
    known = account_chain(name, network)
    return known.address_format if known is not None else "eip55"


def evm_chain(name: str | None, chain_id: int | None) -> EvmChain:
    """Resolve --chain / the node's chain id to a chain config; UsageError when they disagree."""
    if name is None:
        if chain_id is None:
            raise UsageError("cannot tell which EVM chain this is: pass --chain NAME")
        for c in EVM_CHAINS.values():
            if c.chain_id == chain_id:
                return c
        return EvmChain(f"evm-{chain_id}", chain_id, "ETH")
    known = EVM_CHAINS.get(name)
    if known is None:
        if chain_id is None:
            raise UsageError(f"unknown EVM chain {name!r}; known: {', '.join(EVM_CHAINS)}")
        return EvmChain(name, chain_id, "ETH")
    if chain_id is not None and chain_id != known.chain_id:
        raise UsageError(f"--chain {name} has chain id {known.chain_id} but the node reports {chain_id}",
                         hint="check the RPC URL or pass the matching --chain")
    return known
