"""Request and result models of KYT transfer registration (`KytOps`; docs/watch.md, "KYT")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from fundtrail.workspace.core import Model
from fundtrail.workspace.risk import RiskReport

__all__ = ["KytAlert", "KytAssessment", "KytFacts", "KytFlow", "KytParty", "KytTransferRequest", "KytTransferResult"]


class KytTransferRequest(Model):
    """A transfer a customer `received` or `sent`: its transaction (`txid`) and either the output
    (`TXID:VOUT`; then `txid` may be left out) or the `address` it paid (the customer's deposit
    address for a received transfer, the destination for a sent one); `customer_ref` is the desk's
    own reference of the customer (1 to 200 characters, one line); `chain`: default the store's only
    Bitcoin-family chain. On an account chain (EVM, TRON) give the `address` (there are no outputs):
    the transfers of the transaction to it (received) or from it (sent) are the ones registered."""

    chain: str | None = None
    txid: str | None = None
    output: str | None = None
    address: str | None = None
    direction: Literal["received", "sent"]
    customer_ref: str


class KytFlow(Model):
    """An input (the output it spends, `outpoint`) or an output of the transaction: value in base units.
    Account chains: one side of a value transfer of the transaction (`outpoint` `TXID/N`, N its place
    among the transaction's transfers), with its `asset` (`native` or the token contract), `unit` and
    `decimals`."""

    outpoint: str
    value: int
    address: str | None
    asset: str | None = None
    unit: str | None = None
    decimals: int | None = None


class KytParty(Model):
    """An address of the transaction with its cluster (current clustering) and tags: `category`,
    `label`, `source`, and `inherited_from` (the tagged member) for a tag inherited through the cluster."""

    address: str
    cluster: int | None
    tags: list[dict[str, Any]] = Field(default_factory=list)


class KytFacts(Model):
    """What both the assessment and the registration say of a transfer (its chain, transaction,
    block, named outputs, amount, counterparties and their risk): one definition of the shared
    fields (JSON keys: these first, then the subclass's own)."""

    chain: str
    txid: str
    height: int | None
    block_hash: str | None
    time: str | None
    outputs: list[str]
    amount: str
    unit: str
    counterparties: list[str]
    score: float | None
    severity: str | None
    risk: list[RiskReport]
    notes: list[str]


class KytAssessment(KytFacts):
    """What a transfer is, before it is registered: its block, the outputs it names and their amount
    (base units), the counterparty addresses (received: the paying inputs' addresses; sent: the
    destination) with their risk reports, the top `score`/`severity` of those (None: no counterparty
    address could be scored), and the facts the watch rules read (inputs, named outputs, parties)."""

    request: KytTransferRequest
    inputs: list[KytFlow]
    named: list[KytFlow]
    parties: list[KytParty]




class KytAlert(Model):
    """An alert a registration raised (`new`) or found already raised for the same item and
    transaction by the ingest (`new` false)."""

    id: str
    item_id: str
    rule: str
    severity: str
    title: str
    new: bool


class KytTransferResult(KytFacts):
    """A registered transfer (`transfer_id`: `KT-` and 16 hex digits, the same for the same chain,
    transaction, output or address, direction and customer reference), `created` false when it was
    registered before (the first registration's result is returned, nothing is written). `alerts`:
    those of watch items you may see (owner, case member); `alerts_hidden` counts the others (they
    go to the webhooks like every alert)."""

    transfer_id: str
    created: bool
    output: str | None
    address: str | None
    direction: Literal["received", "sent"]
    customer_ref: str
    registered_at: str
    registered_by: str
    alerts: list[KytAlert]
    alerts_hidden: int


