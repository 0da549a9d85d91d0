"""Result models of the watch operations (`WatchOps`): items, alerts, pages of alerts."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from fundtrail.workspace.core import Model, Page


class WatchItem(Model):
    """One watch item (docs/watch.md, table `watch_items`). `evaluated` is False for a rule that
    is stored but not evaluated yet (none today); `frontier` counts the unspent tainted outputs
    a frontier follows now and `frontier_amount` their traced amount (whole base units)."""

    id: str
    chain: str
    kind: str
    target: str
    rule: str
    name: str
    severity: str
    categories: list[str]
    policy: str | None
    min_value: str | None
    threshold: float | None
    case_id: str | None
    owner: str
    created_at: str
    removed_at: str | None = None
    removed_by: str | None = None
    evaluated: bool = True
    frontier: int | None = None
    frontier_amount: str | None = None


class WatchAddResult(Model):
    """`watch add`: the items made (one per target, one per output of a transaction target) and
    notes to show the user (an address not on the chain yet, how a frontier was taken from a trace)."""

    items: list[WatchItem]
    notes: list[str]


class WatchListResult(Model):
    """`watch list`: the items the user may see (their own and their cases'), oldest first."""

    items: list[WatchItem]


class AlertDelivery(Model):
    """Where an alert stands with one webhook (`alerts show`): `pending`, `delivered` or `dead`."""

    webhook_id: str
    url: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: str | None
    delivered_at: str | None
    webhook_removed: bool


class AlertRecord(Model):
    """One alert or retraction; `document` is the JSON body webhooks receive (docs/watch.md);
    `deliveries` (filled by `alert_show` only) where it stands with each webhook."""

    id: str
    item_id: str
    chain: str
    rule: str
    severity: str
    kind: str
    retracts: str | None
    height: int | None
    block_hash: str | None
    txid: str | None
    title: str
    created_at: str
    acked_at: str | None
    acked_by: str | None
    retracted_by: str | None
    document: dict[str, Any]
    deliveries: list[AlertDelivery] = Field(default_factory=list)


class AlertPage(Model):
    """`alerts list`: alerts newest first, and where the listing continues."""

    alerts: list[AlertRecord]
    page: Page


class AlertCount(Model):
    """How many alerts the user may see are not acknowledged yet (retractions included, as
    `alerts list --unacked` lists them): the workbench's navigation badge."""

    unacked: int
