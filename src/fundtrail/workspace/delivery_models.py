"""Result models of webhooks and alert delivery (docs/watch.md, "Delivery")."""

from __future__ import annotations

from typing import Literal

from fundtrail.workspace.core import Model

__all__ = ["DeadLetter", "DeadLetterList", "DeliveryOutcome", "DeliveryResult", "ReplayResult", "WebhookCreated",
           "WebhookList", "WebhookRecord", "WebhookRemoved"]


class WebhookRecord(Model):
    """A webhook (`WH-` and 8 hex digits) as listed: never its secret. `pending`, `delivered` and
    `dead` count its deliveries; times are ISO 8601 UTC."""

    id: str
    url: str
    owner: str
    created_at: str
    removed_at: str | None = None
    pending: int = 0
    delivered: int = 0
    dead: int = 0


class WebhookCreated(Model):
    """A new webhook with its HMAC secret: shown this once (it is kept only in `secret_file`, mode 0600,
    under the store; receivers check `X-Fundtrail-Signature` with it)."""

    id: str
    url: str
    owner: str
    created_at: str
    secret: str
    secret_file: str


class WebhookList(Model):
    """Webhooks, oldest first."""

    webhooks: list[WebhookRecord]


class WebhookRemoved(Model):
    """A removed webhook and how many of its pending deliveries became dead ("webhook removed")."""

    webhook: WebhookRecord
    dead_lettered: int


class DeliveryOutcome(Model):
    """One delivery attempt: `delivered`; `retry` (failed, tried again later); `dead` (attempts used
    up, or its webhook removed). `error` is one line: the HTTP status or the exception, never a secret."""

    alert_id: str
    webhook_id: str
    status: Literal["delivered", "retry", "dead"]
    attempts: int
    http_status: int | None = None
    error: str | None = None


class DeliveryResult(Model):
    """What `alerts deliver` did: counts, each attempt in order, and what is still pending (with when
    the earliest pending delivery falls due, ISO 8601 UTC)."""

    attempted: int
    delivered: int
    retrying: int
    dead: int
    outcomes: list[DeliveryOutcome]
    pending: int
    next_attempt_at: str | None = None


class DeadLetter(Model):
    """A delivery that was given up: its alert (kind, rule, severity, chain, title, created_at), the
    webhook, the attempts made and the last error; `webhook_removed` when it cannot be replayed."""

    alert_id: str
    webhook_id: str
    attempts: int
    last_error: str | None = None
    kind: str
    rule: str
    severity: str
    chain: str
    title: str
    created_at: str
    webhook_removed: bool


class DeadLetterList(Model):
    """The dead-letter list, oldest alert first."""

    dead: list[DeadLetter]


class ReplayResult(Model):
    """Dead deliveries put back to pending (attempts 0, due now); `left_dead`: those whose webhook
    was removed, which stay dead."""

    alert_id: str | None = None
    replayed: int
    left_dead: int
