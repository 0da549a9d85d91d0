"""Request and result models of the cluster operations (`ClusterOps`).

Each result's `model_dump(mode="json")` is what `fundtrail cluster ... --json` prints; the REST API
returns the same documents (`/api/v1/{chain}/clusters/...`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, RootModel, SerializerFunctionWrapHandler, model_serializer

from fundtrail.workspace.core import Model, Page


class _Sparse(Model):
    """A model whose fields named in `_omit_none` are left out of its JSON when None (keys today's
    JSON only has when they apply)."""

    _omit_none: ClassVar[tuple[str, ...]] = ()
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True,
                              validate_by_alias=True)

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in self._omit_none:
            field = type(self).model_fields[name]
            key = field.serialization_alias or field.alias or name
            if data.get(key, 0) is None:
                del data[key]
        return data


class Suspect(Model):
    """A cluster the false-merge guard flags: `reason` large_join | growth | service_conflict."""

    cluster_id: int
    size: int
    reason: str
    detail: str


class ClusterRunRequest(Model):
    """A clustering run (`cluster run`): heuristics multi-input and change (UTXO) or deposit
    (account chains); `change_floor` is required with change; `hot_wallets` are address strings."""

    chain: str | None = None
    heuristics: list[str] = Field(default_factory=lambda: ["multi-input"])
    change_floor: float | None = None
    coinjoin_floor: float = 0.5
    full: bool = False
    hot_wallets: list[str] = Field(default_factory=list)


class ClusterRunResult(Model):
    """What a run did (docs/cli.md, `cluster run --json`)."""

    run_id: int
    chain: str
    mode: str
    reason: str
    heuristics: list[str]
    change_floor: float | None
    coinjoin_floor: float | None
    tx_lo: int
    tx_hi: int
    n_tx: int
    revisited_tx: int
    n_links: int
    n_unions: int
    n_addresses: int
    n_clusters: int
    largest: int
    seconds: float
    suspects: list[Suspect]


class TagSource(Model):
    """One source of a merged tag: file and line, import run, and what that source said."""

    origin: str | None = None
    line: int | None = None
    import_id: int | None = None
    label: str | None = None
    source: str | None = None
    creator: str | None = None
    lastmod: str | None = None
    confidence: str | None = None
    visibility: str | None = None
    case_id: str | None = None
    validation: str | None = None
    concepts: list[str] | None = None
    context: str | None = None
    is_cluster_definer: bool | None = None


class ActorInfo(Model):
    """An actor record (ActorPacks): who a tag's `actor` id is."""

    id: str
    label: str
    uri: str | None = None
    jurisdictions: list[str] | None = None
    categories: list[str] | None = None
    aliases: list[str] | None = None
    origin: str | None = None
    line: int | None = None


class ConflictEntity(Model):
    """One of the services a conflict names."""

    entity: str | None
    category: str | None
    label: str | None
    actor: str | None


class Conflict(Model):
    """Two different single-operator services claimed for one address or cluster."""

    reason: str
    entities: list[ConflictEntity]


class ClusterTag(Model):
    """A distinct tag of a cluster (currency, category, label) from its strongest instance: `kind`
    direct when the address asked about carries it, `members` how many members do, `carried_by`
    up to 10 of them other than the address, `member` the address or the first carrier."""

    subject: str | None = None
    currency: str | None = None
    category: str | None = None
    entity: str | None = None
    label: str
    labels: list[str] | None = None
    confidence: str | None = None
    confidence_level: int
    actor: str | None = None
    visibility: str | None = None
    sources: list[TagSource] = Field(default_factory=list)
    kind: Literal["direct", "inherited"]
    category_label: str | None = None
    actor_info: ActorInfo | None = None
    actor_names: list[str] = Field(default_factory=list)
    member: str
    members: int
    carried_by: list[str]


class ClusterResult(Model):
    """A cluster (`cluster show --json`). `cluster_id` is the smallest address id among the members:
    a non-negative integer (decimal digits), usable as it is in a URL path
    (`/api/v1/{chain}/clusters/{cluster_id}`). Amounts are exact base units: satoshi as integers,
    wei of the native asset as decimal strings (account chains); `unit`, `asset`, `decimals` say
    which. `address` is the address asked about (the cluster's own address when asked by id)."""

    chain: str
    address: str
    address_id: int
    cluster_id: int
    cluster_address: str | None
    members: int
    received: int | str
    received_count: int
    sent: int | str
    sent_count: int
    first_activity: str | None
    last_activity: str | None
    tags: list[ClusterTag]
    overrides: list[int]
    run_id: int
    clustered_through_tx: int | None
    asset: str
    unit: str
    decimals: int
    possible_false_merge: bool
    conflict: Conflict | None
    tag_members_read: int


class ClusterMember(Model):
    """A member address: its id in the chain and its text."""

    address_id: int
    address: str


class ClusterMembersPage(Page):
    """One page of a cluster's members in address-id order; `size` counts them all."""

    chain: str
    cluster_id: int
    size: int
    members: list[ClusterMember]


class WhyStep(_Sparse):
    """One link of the evidence chain: a transaction and heuristic, or an analyst override
    (`txid` null, `reason` saying who decided what)."""

    _omit_none: ClassVar[tuple[str, ...]] = ("reason",)
    from_: str | None = Field(alias="from")
    to: str | None
    txid: str | None
    heuristic: str
    confidence: float
    reason: str | None = None


class ClusterWhyResult(_Sparse):
    """Whether and how two addresses are linked (`cluster why --json`)."""

    _omit_none: ClassVar[tuple[str, ...]] = ("note",)
    chain: str
    from_: str | None = Field(alias="from")
    to: str | None
    from_cluster: int
    to_cluster: int
    run_id: int
    linked: bool
    steps: list[WhyStep]
    answer: str
    note: str | None = None


class ClusterOverrideRequest(Model):
    """An analyst override: `merge` two addresses' clusters, or `split` addresses into a cluster of
    their own; `author` defaults to the workspace's user."""

    kind: Literal["merge", "split"]
    addresses: list[str]
    reason: str
    author: str | None = None
    chain: str | None = None


class ClusterOverrideResult(_Sparse):
    """An override as recorded (`cluster merge/split --json`, and each row of `cluster overrides`)."""

    _omit_none: ClassVar[tuple[str, ...]] = ("addresses",)
    override_id: int
    chain: str
    kind: str
    address_ids: list[int]
    addresses: list[str] | None = None
    reason: str
    author: str
    created_at: str


class ClusterOverridesResult(RootModel[list[ClusterOverrideResult]]):
    """The overrides of a chain in the order they apply (`cluster overrides --json`: a list)."""


class ClusterRun(Model):
    """A row of `cluster_runs` (docs/clustering.md lists the columns)."""

    run_id: int
    chain: str
    mode: str
    reason: str | None
    parent_run: int | None
    heuristics: str
    change_floor: float | None
    coinjoin_floor: float | None
    tx_lo: int | None
    tx_hi: int | None
    last_batch_id: int | None
    last_block_id: int | None
    last_block_hash: str | None
    n_addresses: int | None
    n_tx: int | None
    n_links: int | None
    n_unions: int | None
    n_clusters: int | None
    largest: int | None
    status: str
    message: str | None
    path: str | None
    checkpoint: bool | None
    suspects: list[Suspect]
    overrides_applied: int | None


class ClusterRunsResult(RootModel[list[ClusterRun]]):
    """Recent clustering runs, newest first (`cluster runs --json`: a list)."""
