"""Webhook and dead-letter routes (`admin`): `/api/v1/webhooks`, `/api/v1/alerts/dead`, `/api/v1/alerts/replay`.

Webhooks are configuration of the store, so only an admin manages them. A webhook's secret is in
the answer to its `POST` only: it is never logged, and the audit record keeps the URL's scheme and
host and never the body (`secret` is also among `auditing.SECRET_FIELDS`). Registered before
`routes_watch`, whose `/alerts/{alert}` would otherwise take `dead` for an alert id.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from fundtrail.api.auth import require
from fundtrail.api.errors import request_fields
from fundtrail.api.render import json_of
from fundtrail.api.routes_cases import audit, created
from fundtrail.api.routes_watch import start_audit
from fundtrail.api.state import api_state, reader
from fundtrail.errors import NotFoundError
from fundtrail.workspace import Actor, Model, Workspace
from fundtrail.workspace.delivery_models import (DeadLetterList, ReplayResult, WebhookCreated, WebhookList,
                                                 WebhookRemoved)

__all__ = ["router", "url_origin"]

router = APIRouter(prefix="/api/v1", tags=["monitoring"], dependencies=[Depends(start_audit)])
CanAdmin = Annotated[Actor, Depends(require("admin"))]
Reader = Annotated[Workspace, Depends(reader)]
WebhookId = Annotated[str, Path(description="A webhook id (`WH-` and 8 hex digits).", max_length=64)]


class WebhookAddRequest(Model):
    """As `fundtrail webhooks add URL`: an `http://` or `https://` URL without `user:password@`, and
    optionally the HMAC `secret` (16 to 1024 characters; default: 32 random bytes as 64 hex digits)."""

    url: str
    secret: str | None = None


class ReplayRequest(Model):
    """As `fundtrail alerts replay ALERT | --all-dead`: one alert's dead deliveries, or every one."""

    alert_id: str | None = None
    all_dead: bool = False


def url_origin(url: object) -> str | None:
    """Only the scheme and host (and port) of a URL, without user info or path: what the audit keeps."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(not a URL)"
    if not parts.scheme or not host:
        return "(not a URL)"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


@router.get("/webhooks", response_model=WebhookList, summary="Webhooks (never their secrets)")
def webhooks_list(actor: CanAdmin, ws: Reader,
                  all: Annotated[bool, Query(description="Removed webhooks too.")] = False) -> Response:
    """As `fundtrail webhooks list [--all] --json`, with each webhook's delivery counts."""
    return json_of(ws.acting_as(actor).webhook_list(include_removed=all))


@router.post("/webhooks", response_model=WebhookCreated, status_code=201, summary="Add a webhook")
def webhooks_add(actor: CanAdmin, body: WebhookAddRequest, request: Request) -> Response:
    """As `fundtrail webhooks add URL --json`: the answer holds the secret, this once."""
    audit(request, url=url_origin(body.url), secret_given=body.secret is not None)
    with api_state(request).writer(actor) as ws:
        made = ws.webhook_add(body.url, secret=body.secret)
    audit(request, id=made.id)
    return created(made)


@router.delete("/webhooks/{webhook}", response_model=WebhookRemoved, summary="Remove a webhook")
def webhooks_remove(actor: CanAdmin, webhook: WebhookId, request: Request) -> Response:
    """As `fundtrail webhooks remove ID --json`: its pending deliveries become dead, its secret is deleted."""
    with request_fields({"webhook_id": "webhook"}), api_state(request).writer(actor) as ws:
        try:
            return json_of(ws.webhook_remove(webhook))
        except NotFoundError as exc:  # the domain's "no webhook WH-…" names no field: it is the path's
            exc.field = exc.field or "webhook"
            raise


@router.get("/alerts/dead", response_model=DeadLetterList, summary="The dead-letter list")
def alerts_dead(actor: CanAdmin, ws: Reader) -> Response:
    """As `fundtrail alerts dead --json`: deliveries given up, with their last errors."""
    return json_of(ws.acting_as(actor).alerts_dead())


@router.post("/alerts/replay", response_model=ReplayResult, summary="Put dead deliveries back to pending")
def alerts_replay(actor: CanAdmin, body: ReplayRequest, request: Request) -> Response:
    """As `fundtrail alerts replay ALERT|--all-dead --json`: due now, attempts 0 (those of removed
    webhooks stay dead: `left_dead`)."""
    audit(request, id=body.alert_id, all_dead=body.all_dead)
    with api_state(request).writer(actor) as ws:
        return json_of(ws.alerts_replay(body.alert_id, all_dead=body.all_dead))
