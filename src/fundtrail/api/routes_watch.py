"""Monitoring routes (`/api/v1/watch`, `/api/v1/alerts`): watch items and the alerts they raised.

Monitoring belongs to investigators: every route needs the `cases` permission and acts as the
authenticated user, and the service layer decides what exists for them: their own items and those
of cases they are a member of, with those items' alerts. Anything else is the very 404 of an
unknown id. Reads run on the warm read-only workspace acting as the user; writes open the
server's writer as the user. Webhooks and the dead-letter list (`admin`): `routes_watch_hooks`;
KYT transfer registration (`screen`): `routes_watch_kyt`.

The audit record names the item or alert as its first subject and the watched targets as
subjects; an item's name is recorded by its length only, as a case's texts are.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from fundtrail.api.auth import require
from fundtrail.api.render import json_of
from fundtrail.api.routes_cases import acting, audit, created
from fundtrail.api.state import api_state, reader
from fundtrail.workspace import Actor, Model, Workspace
from fundtrail.workspace.watch_models import AlertPage, AlertRecord, WatchAddResult, WatchItem, WatchListResult

__all__ = ["router", "start_audit"]


def start_audit(request: Request) -> None:
    """Router dependency: the audit record holds only what the routes name, the id in the path first."""
    ident = next((v for k, v in request.path_params.items() if k in ("item", "alert", "webhook")), None)
    request.state.audit_fields = {"id": ident} if isinstance(ident, str) else {}


router = APIRouter(prefix="/api/v1", tags=["monitoring"], dependencies=[Depends(start_audit)])
CanWatch = Annotated[Actor, Depends(require("cases"))]
Reader = Annotated[Workspace, Depends(reader)]
ItemId = Annotated[str, Path(description="A watch item id (`W-` and 8 hex digits).", max_length=64)]
AlertId = Annotated[str, Path(description="An alert id (`AL-` and 12 hex digits).", max_length=64)]


class WatchAddRequest(Model):
    """As `fundtrail watch add`: `targets` (addresses, `TXID:VOUT`, txids, `cluster:N`,
    `category:NAME`, or a saved trace `T-…` of `case`), the `rule` (`moved`, `deposit`,
    `reaches-service`, `risk-above`), and the rule's options."""

    targets: list[str]
    chain: str | None = None
    rule: str = "moved"
    category: str | None = None
    policy: str | None = None
    min_value: str | None = None
    threshold: float | None = None
    name: str | None = None
    severity: str | None = None
    case: str | None = None


@router.get("/watch", response_model=WatchListResult, summary="Your watch items")
def watch_list(actor: CanWatch, ws: Reader,
               all: Annotated[bool, Query(description="Removed items too.")] = False) -> Response:
    """As `fundtrail watch list [--all] --json`: your items and those of your cases, oldest first."""
    return json_of(acting(ws, actor).watch_list(all=all))


@router.post("/watch", response_model=WatchAddResult, status_code=201, summary="Watch targets under a rule")
def watch_add(actor: CanWatch, body: WatchAddRequest, request: Request) -> Response:
    """As `fundtrail watch add TARGET... --json`: one item per target (per output of a txid); all
    targets are checked before any item is stored (422 naming the bad one)."""
    audit(request, target=body.targets, chain=body.chain, rule=body.rule, category=body.category,
          policy=body.policy, min_value=body.min_value, threshold=body.threshold, severity=body.severity,
          case=body.case, name_chars=len(body.name) if body.name is not None else None)
    with api_state(request).writer(actor) as ws:
        made = ws.watch_add(body.targets, chain=body.chain, rule=body.rule, category=body.category,
                            policy=body.policy, min_value=body.min_value, threshold=body.threshold,
                            name=body.name, severity=body.severity, case=body.case)
    audit(request, id=[i.id for i in made.items])
    return created(made)


@router.delete("/watch/{item}", response_model=WatchItem, summary="Stop watching (the item is marked removed)")
def watch_remove(actor: CanWatch, item: ItemId, request: Request) -> Response:
    """As `fundtrail watch remove ITEM --json`; its alerts stay and keep naming it."""
    with api_state(request).writer(actor) as ws:
        return json_of(ws.watch_remove(item))


@router.get("/alerts", response_model=AlertPage, summary="Alerts of your items, newest first")
def alerts_list(actor: CanWatch, ws: Reader,
                item: Annotated[str | None, Query(description="Only this item's alerts.", max_length=64)] = None,
                unacked: Annotated[bool, Query(description="Only alerts not acknowledged yet.")] = False,
                since: Annotated[str | None, Query(description="Created at or after (ISO date/time or unix "
                                                               "seconds).", max_length=64)] = None,
                limit: Annotated[int, Query(description="Page size (1..1000).")] = 100,
                cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.",
                                                    max_length=4096)] = None) -> Response:
    """As `fundtrail alerts list [--item ITEM] [--unacked] [--since T] --json`, a page at a time."""
    return json_of(acting(ws, actor).alerts_list(item=item, unacked=unacked, since=since, limit=limit,
                                                 cursor=cursor))


@router.get("/alerts/{alert}", response_model=AlertRecord, summary="One alert with its document")
def alert_show(actor: CanWatch, alert: AlertId, ws: Reader) -> Response:
    """As `fundtrail alerts show ALERT --json`; `document` is the body webhooks receive."""
    return json_of(acting(ws, actor).alert_show(alert))


@router.post("/alerts/{alert}/ack", response_model=AlertRecord, summary="Acknowledge an alert")
def alert_ack(actor: CanWatch, alert: AlertId, request: Request) -> Response:
    """As `fundtrail alerts ack ALERT --json` (the first acknowledgement is kept)."""
    with api_state(request).writer(actor) as ws:
        return json_of(ws.alert_ack(alert))
