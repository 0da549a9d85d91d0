"""Result models of the lookups: search hits, address summary and transactions, transaction detail.

One model serves both chain families, so a client reads one shape: UTXO amounts are satoshi as
JSON numbers (they fit 2^53), account-chain amounts are decimal strings of the exact integer (wei
and token base units exceed 2^53). Fields a family does not have are null or empty lists; each
model's docstring says which. Times are UTC ISO 8601 (`2009-01-03T18:15:05Z`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from fundtrail.workspace.core import Model, Page
from fundtrail.workspace.risk import RiskReport

Amount = int | str


class SearchHit(Model):
    """One thing a search string is: `kind` address, transaction, output, cluster, tag or actor;
    `chain` (None for tags and actors, which are not of one chain); `text` its canonical form;
    `label` a short description; `link` the REST API path that shows it."""

    kind: Literal["address", "transaction", "output", "cluster", "tag", "actor"]
    chain: str | None
    text: str
    label: str
    link: str


class SearchResult(Model):
    """What a string is, as far as the store knows: every hit, most specific first (empty: none)."""

    q: str
    hits: list[SearchHit]


class SeenAt(Model):
    """A moment of an address's activity: block height, block time and the transaction."""

    height: int | None
    time: str | None
    txid: str | None


class AssetTotals(Model):
    """An account-chain address's totals in one asset (native first; tokens by contract)."""

    asset: str
    contract: str | None
    symbol: str | None
    decimals: int | None
    received: str
    sent: str
    balance: str
    transfers: int


class AddressTag(Model):
    """A tag of the address: `direct` (on the address itself, merged over its sources, each in
    `sources`) or `inherited` through its cluster (`inherited_from` names the tagged member)."""

    kind: Literal["direct", "inherited"]
    currency: str | None
    category: str | None
    category_label: str | None = None
    label: str
    confidence: str | None
    confidence_level: int | None
    source: str | None = None
    actor: str | None = None
    sources: list[dict[str, Any]] = Field(default_factory=list)
    inherited_from: str | None = None


class AddressSummary(Model):
    """Everything about one address on one chain.

    `received`/`sent`/`balance` are in the chain's base unit (`unit`): satoshi numbers on UTXO
    chains (sent = its outputs spent by stored transactions), the native asset as decimal strings
    on account chains, where `assets` lists every fungible asset, native first (value transfers:
    native, internal, ERC-20, fees, withdrawals; NFTs are listed by the transaction detail). `seen`
    is False for a well-formed address without activity that is tagged (a summary with zero
    activity, so its tags show). `cluster_id`/`cluster_size` come from the chain's current
    clustering (None when the chain was never clustered); `risk` is `fundtrail risk --json`."""

    chain: str
    family: Literal["utxo", "account"]
    address: str
    address_id: int | None
    script_type: str | None
    unit: str
    seen: bool
    received: Amount
    sent: Amount
    balance: Amount
    received_count: int
    sent_count: int
    assets: list[AssetTotals]
    tx_count: int
    first_seen: SeenAt | None
    last_seen: SeenAt | None
    cluster_id: int | None
    cluster_size: int | None
    cluster_run: int | None
    tags: list[AddressTag]
    risk: RiskReport | None


class AddressTransfer(Model):
    """One value transfer of an account-chain transaction that touches the address."""

    direction: Literal["in", "out", "self"]
    kind: str
    asset: str
    contract: str | None
    amount: str
    counterparty: str | None
    log_index: int | None
    trace_address: list[int] | None
    decimals: int | None = None  # the asset's (None: a token whose decimals the store does not know)


class AddressTx(Model):
    """A transaction of the address. UTXO: `received` (paid to it in this transaction) and `sent`
    (its outputs this transaction spent), satoshi. Account: `transfers` touching the address."""

    txid: str | None
    height: int | None
    time: str | None
    received: int | None = None
    sent: int | None = None
    transfers: list[AddressTransfer] = Field(default_factory=list)


class AddressTxPage(Model):
    """One page of an address's transactions, oldest first (by height, then position in the block);
    `total` counts them all; pass `page.next_cursor` back as `cursor` for the next page."""

    chain: str
    address: str
    total: int
    txs: list[AddressTx]
    page: Page


class SpentBy(Model):
    """The input that spent an output: transaction and input index."""

    txid: str
    input: int


class TxInput(Model):
    """A UTXO input: the output it spends (`prevout` TXID:VOUT), its address and value; `unresolved`
    when the spent output is not in the store (its value and address are then unknown, null)."""

    n: int
    coinbase: bool
    prevout: str | None
    address: str | None
    value: int | None
    unresolved: bool


class TxOutput(Model):
    """A UTXO output: index, address (None for scripts without one), script type, value, and the
    input that spent it (None: unspent as far as the store knows)."""

    n: int
    address: str | None
    script_type: str
    value: int
    spent_by: SpentBy | None


class TxTransfer(Model):
    """An account-chain transfer: kind (native, internal, erc20, erc721, erc1155, withdrawal, fee,
    reward), asset (native symbol or token contract), exact amount, token id (NFTs), endpoints,
    and its source (log index for token events, trace address for internal value)."""

    kind: str
    asset: str
    contract: str | None
    symbol: str | None
    decimals: int | None
    amount: str
    token_id: str | None
    from_address: str | None
    to_address: str | None
    success: bool
    log_index: int | None
    trace_address: list[int] | None


class TxTag(Model):
    """A direct tag of an address involved in the transaction (compact)."""

    address: str
    category: str | None
    label: str
    source: str | None
    confidence: str | None


class TransactionDetail(Model):
    """One transaction. UTXO chains: `inputs`, `outputs`, `fee`/values in satoshi, size fields;
    account chains: `status` (1 success, 0 failed), `from_address`/`to_address`, `value` and `fee`
    as decimal strings of wei, and every `transfers` row. `tags` are the direct tags of every
    address involved."""

    chain: str
    family: Literal["utxo", "account"]
    txid: str
    height: int | None
    time: str | None
    block_hash: str | None
    position: int | None
    coinbase: bool
    fee: Amount | None
    size: int | None = None
    vsize: int | None = None
    weight: int | None = None
    input_value: int | None = None
    output_value: int | None = None
    inputs: list[TxInput] = Field(default_factory=list)
    outputs: list[TxOutput] = Field(default_factory=list)
    status: int | None = None
    from_address: str | None = None
    to_address: str | None = None
    contract_created: str | None = None
    value: str | None = None
    gas_used: int | None = None
    transfers: list[TxTransfer] = Field(default_factory=list)
    tags: list[TxTag]
