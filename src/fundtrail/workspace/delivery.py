"""Service operations: webhooks and the delivery of alerts (domain: `fundtrail.watch`; docs/watch.md).

Webhooks are store configuration: whoever may write the store may add and remove them (the CLI acts
as the local user); their secrets stay in 0600 files under the store and appear only in the result
of `webhook_add`. Delivery is `deliver_due` of `fundtrail.watch.delivery`, with the store's settings
(`webhook_timeout`, `webhook_retry_base`, `webhook_max_attempts`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from fundtrail.errors import UsageError
from fundtrail.watch import delivery, webhooks
from fundtrail.workspace.core import WorkspaceBase, check_limit
from fundtrail.workspace.case_models import iso
from fundtrail.workspace.delivery_models import (DeadLetter, DeadLetterList, DeliveryOutcome, DeliveryResult,
                                                 ReplayResult, WebhookCreated, WebhookList, WebhookRecord,
                                                 WebhookRemoved)

__all__ = ["DeliveryOps"]

_ALERT_ID = re.compile(r"AL-[0-9a-f]{12}")
#: `alerts_deliver(until_idle=True)` waits at most this long in all for deliveries to fall due.
MAX_WAIT_S = 60.0
#: rows a deliverer claims per catalog transaction (`alerts_deliver(limit=DELIVERY_BATCH)` is one round)
DELIVERY_BATCH = delivery.CLAIM_BATCH


def _record(row: dict[str, Any]) -> WebhookRecord:
    return WebhookRecord(id=row["webhook_id"], url=row["url"], owner=row["owner"],
                         created_at=iso(row["created_at"]) or "", removed_at=iso(row["removed_at"]),
                         pending=int(row["pending"] or 0),
                         delivered=int(row["delivered"] or 0), dead=int(row["dead"] or 0))


def check_alert_id(alert_id: str) -> str:
    """`alert_id` if it has the form `AL-` and 12 hex digits, else a UsageError naming it."""
    if not isinstance(alert_id, str) or _ALERT_ID.fullmatch(alert_id) is None:
        raise UsageError(f"alert_id {str(alert_id)[:40]!r} is not an alert id (AL- and 12 hex digits)",
                         field="alert_id")
    return alert_id


class DeliveryOps(WorkspaceBase):
    """Webhooks; delivering the outbox; the dead-letter list."""

    # -- webhooks ---------------------------------------------------------------------------
    def webhook_add(self, url: str, *, secret: str | None = None) -> WebhookCreated:
        """Register `url` (http or https, no `user:password@`); a random 32-byte secret unless one is
        given. The secret is in this result only."""
        webhooks.check_url(url)
        self.require_writable("adding a webhook")
        row = webhooks.add_webhook(self.store, url, secret=secret, owner=self.actor.user)
        return WebhookCreated(id=row["webhook_id"], url=row["url"], owner=row["owner"],
                              created_at=iso(row["created_at"]) or "", secret=row["secret"],
                              secret_file=str(webhooks.SECRET_DIR / row["webhook_id"]))

    def webhook_list(self, *, include_removed: bool = False) -> WebhookList:
        """Webhooks (never their secrets) with their delivery counts."""
        rows = webhooks.list_webhooks(self.store, include_removed=include_removed, read_only=not self.writable)
        return WebhookList(webhooks=[_record(r) for r in rows])

    def webhook_remove(self, webhook_id: str) -> WebhookRemoved:
        """Remove a webhook: its pending deliveries become dead ("webhook removed"), its secret is deleted."""
        webhooks.check_id(webhook_id)
        self.require_writable("removing a webhook")
        row, dead = webhooks.remove_webhook(self.store, webhook_id)
        return WebhookRemoved(webhook=_record(row), dead_lettered=dead)

    # -- delivery ---------------------------------------------------------------------------
    def alerts_deliver(self, *, limit: int = 100, until_idle: bool = False, max_wait: float = MAX_WAIT_S,
                       sleep: Callable[[float], None] = time.sleep) -> DeliveryResult:
        """Deliver what is due (at most `limit` attempts per round). `until_idle`: keep going, sleeping
        until the next delivery falls due, until nothing is pending or the next due one lies beyond
        `max_wait` seconds from the start (retries in backoff, claims of a deliverer that died)."""
        check_limit(limit, maximum=10_000)
        if not 0 <= max_wait <= 86_400:
            raise UsageError("max_wait must be between 0 and 86400 seconds", field="max_wait")
        self.require_writable("delivering alerts")
        s = self.settings
        end = time.monotonic() + max_wait
        outcomes: list[delivery.Outcome] = []
        while True:
            report = delivery.deliver_due(self.store, limit=limit, timeout=s.webhook_timeout,
                                          base=s.webhook_retry_base, max_attempts=s.webhook_max_attempts)
            outcomes += report.outcomes
            if not until_idle or report.pending == 0:
                break
            if report.outcomes:
                continue  # more may be due already
            due = report.next_attempt_at
            wait = 0.0 if due is None else (due - webhooks.utc_now()).total_seconds()
            if time.monotonic() + wait > end:
                break
            sleep(min(max(wait, 0.05), max(end - time.monotonic(), 0.0)))
        return DeliveryResult(
            attempted=len(outcomes), delivered=sum(o.status == "delivered" for o in outcomes),
            retrying=sum(o.status == "retry" for o in outcomes), dead=sum(o.status == "dead" for o in outcomes),
            outcomes=[DeliveryOutcome(alert_id=o.alert_id, webhook_id=o.webhook_id, status=o.status,  # type: ignore[arg-type]
                                      attempts=o.attempts, http_status=o.http_status, error=o.error)
                      for o in outcomes],
            pending=report.pending, next_attempt_at=iso(report.next_attempt_at))

    def alerts_dead(self) -> DeadLetterList:
        """The dead-letter list: deliveries given up, with their alerts and last errors."""
        rows = delivery.dead_letters(self.store, read_only=not self.writable)
        return DeadLetterList(dead=[DeadLetter(**{**r, "created_at": iso(r["created_at"]) or "",
                                                  "webhook_removed": bool(r["webhook_removed"])}) for r in rows])

    def alerts_replay(self, alert_id: str | None = None, *, all_dead: bool = False) -> ReplayResult:
        """Put dead deliveries back to pending (attempts 0): those of `alert_id`, or with `all_dead` every one."""
        if (alert_id is None) == (not all_dead):
            raise UsageError("give an alert id or all_dead, not both or neither", field="alert_id")
        if alert_id is not None:
            check_alert_id(alert_id)
        self.require_writable("replaying dead deliveries")
        replayed, left = delivery.replay(self.store, alert_id=alert_id)
        return ReplayResult(alert_id=alert_id, replayed=replayed, left_dead=left)
