"""Request and result models of tracing: trace, paths and the graph index refresh.

A trace result is a deep, documented JSON document (docs/cli.md, `fundtrail trace --json`) in
three variants: a UTXO taint trace, an account-chain taint trace (per asset) and a `follow_change`
peel-chain walk. `TraceResult` types its top level and keeps the nested parts as documents; it
serialises to exactly the keys its variant has, in the order the domain report gives them.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr, SerializerFunctionWrapHandler, model_serializer

from fundtrail.workspace.core import Model


class SeedInput(Model):
    """A seed (address, txid or TXID:VOUT; an account chain: address or tx hash) and where it came
    from (`seeds.csv:7`), which error messages name; None for a seed given directly."""

    text: str
    where: str | None = None


class StopAddress(Model):
    """An address where a trace stops, with the label shown for it; `where` as for `SeedInput`."""

    address: str
    label: str = "listed service"
    where: str | None = None


class TraceRequest(Model):
    """Every option of `fundtrail trace`. Seeds are traced together as one seed set. Amounts and
    times are strings as the user wrote them (`min_value`: `0.01`, `5000sat`, `0.5` in the traced
    asset's unit or `1000000units`; `since`/`until`: ISO date/datetime or unix seconds). `stop_at`:
    tag categories where value stops (None: the custodial services, `DEFAULT_STOP_CATEGORIES`);
    `stop_addresses`: more stops, `stop_list` the name shown for them in `limits.stop_at`."""

    seeds: list[str | SeedInput]
    direction: str = "forward"
    policy: str = "haircut"
    hops: int | None = None
    min_value: str | None = None
    since: str | None = None
    until: str | None = None
    stop_at: list[str] | None = None
    stop_addresses: list[str | StopAddress] = Field(default_factory=list)
    stop_list: str | None = None
    max_txs: int = 200_000
    max_seconds: float = 30.0
    exact: bool = False
    follow_change: bool = False
    change_confidence: float = 0.3
    chain: str | None = None
    asset: str | None = None


class TraceResult(Model):
    """`fundtrail trace --json`: the UTXO trace (`coverage`, `entities`, `warnings`), the account
    trace (`unit`, `assets`, `history`, amounts per asset) or the follow-change walk (`mode`
    "follow_change", `seed` a string, `chains`). Only the variant's keys are serialised."""

    chain: str
    mode: str | None = None
    unit: str | None = None
    assets: dict[str, Any] | None = None
    seed: dict[str, Any] | str
    seeds: list[dict[str, Any]] | None = None
    direction: str | None = None
    policy: str | None = None
    limits: dict[str, Any] | None = None
    coverage: dict[str, Any] | None = None
    endpoints: list[dict[str, Any]] | None = None
    entities: list[dict[str, Any]] | None = None
    accounting: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    history: dict[str, Any] | None = None
    graph: dict[str, Any] | None = None
    warnings: list[str] | None = None
    truncated: bool | None = None
    truncation: str | None = None
    elapsed_ms: float | None = None
    min_confidence: float | None = None
    max_hops: int | None = None
    chains: list[dict[str, Any]] | None = None
    _order: list[str] = PrivateAttr(default_factory=list)

    @model_serializer(mode="wrap")
    def _variant_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        doc: dict[str, Any] = handler(self)
        keys = self._order or [k for k in doc if k in self.model_fields_set]
        return {k: doc[k] for k in keys if k in doc}

    @classmethod
    def of(cls, doc: dict[str, Any]) -> TraceResult:
        """The result of a domain report document."""
        result = cls.model_validate(doc)
        result._order = list(doc)
        return result

    def document(self) -> dict[str, Any]:
        """The JSON document (what the text renderers read)."""
        return self.model_dump(mode="json")


class PathsRequest(Model):
    """Time-respecting paths from `source` (address, txid or TXID:VOUT) to the address `target`,
    at most `max_hops` transactions long; at most `limit` paths, shortest first (UTXO chains)."""

    source: str
    target: str
    max_hops: int = 6
    limit: int = 20
    chain: str | None = None


class PathsResult(Model):
    """`fundtrail paths --json`: each path's steps (transaction, spent and paid output, time)."""

    chain: str
    source: str
    target: str
    max_hops: int
    limit: int
    found: int
    complete: bool
    paths: list[dict[str, Any]]


class GraphBuildResult(Model):
    """`fundtrail graph build --json`: the index's size and where it lies."""

    chain: str
    path: str
    transactions: int
    outputs: int
    addresses: int
    bytes: int
    seconds: float
