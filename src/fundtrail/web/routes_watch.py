"""The monitoring pages: alerts (`/alerts`, `/alerts/{alert}`) and watch items (`/watch`), twins
`.json`, and the data of the case page's "Monitoring" section (`case_watch`).

Permission `cases` (investigators). Everything is read through the server's workspace acting as
the logged-in user, so the service layer's rule decides who sees what: an item and its alerts are
its owner's and its case members'; for anyone else an alert is the very 404 of an unknown id.
The forms (acknowledge, add, remove, watch a saved trace) are in `routes_watch_forms.py`.

Twins: `/alerts.json` is `{"alerts": AlertPage}`, `/alerts/{alert}.json` `{"alert": AlertRecord}`,
`/watch.json` `{"watch": WatchListResult}`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from fundtrail.errors import NotFoundError
from fundtrail.web.pages import View, WebRoute, open_view, page_link, split_twin
from fundtrail.workspace import Model

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: Alerts per page of `/alerts`.
PAGE = 50
#: `/watch` counts the alerts of its items over at most this many of the newest alerts.
COUNT_CAP = 5000
#: The case page shows at most this many items, each with its newest alerts.
CASE_ITEMS, CASE_LATEST = 50, 3
RULES = ("moved", "deposit", "reaches-service", "risk-above")
POLICIES = ("haircut", "fifo", "lifo", "poison", "tiho")
SEVERITIES = ("info", "warning", "critical")
#: Notices after a form: `?done=` value -> shown on the page.
DONE = ("ack", "add", "remove")


class WatchForm(Model):
    """The add-an-item form as typed (shown again, with the error beside its field, when refused)."""

    targets: str = ""
    rule: str = "reaches-service"
    category: str = ""
    policy: str = ""
    min_value: str = ""
    case: str = ""
    severity: str = ""
    name: str = ""


def acting(view: View) -> Any:
    """The read-only workspace acting as the page's user (call inside `view.run`)."""
    return view.workspace.acting_as(view.actor)


def target_link(item: Any, chain: str | None = None) -> str | None:
    """The page of a watched target (a WatchItem, or an alert document's `item` with `chain`
    given): address, transaction, cluster, the saved trace, a category."""
    def get(key: str) -> Any:
        return item.get(key) if isinstance(item, dict) else getattr(item, key, None)

    kind, target = get("kind"), str(get("target"))
    chain = chain or get("chain")
    if kind == "address":
        return page_link("address", chain, target)
    if kind == "output":
        return page_link("tx", chain, target)
    if kind == "cluster":
        return page_link("cluster", chain, target)
    if kind == "frontier" and get("case_id"):
        return f"/cases/{quote(str(get('case_id')), safe='')}/traces/{quote(target, safe='')}/open"
    if kind == "category":
        return f"/tags?q={quote(target, safe='')}"
    return None


def link_globals() -> dict[str, Any]:
    """Helpers the monitoring templates use to link to the things an alert names."""
    return {"target_link": target_link, "tx_page": lambda chain, text: page_link("tx", chain, text),
            "case_link": lambda case: f"/cases/{quote(case, safe='')}"}


# ------------------------------------------------------------------------------------------ alerts

@router.get("/alerts")
async def alerts_page(request: Request, unacked: str = "", item: str = "", cursor: str = "",
                      done: str = "") -> Response:
    """The user's alerts, newest first; `unacked=1` keeps the unacknowledged ones, `item` one item's."""
    view = await open_view(request, "cases")
    return await render_alerts(view, unacked == "1", item, cursor, done)


@router.get("/alerts.json")
async def alerts_twin(request: Request, unacked: str = "", item: str = "", cursor: str = "") -> Response:
    """The alerts page's twin: `{"alerts": AlertPage}`."""
    view = await open_view(request, "cases", twin=True)
    return await render_alerts(view, unacked == "1", item, cursor, "")


async def render_alerts(view: View, unacked: bool, item: str, cursor: str, done: str) -> Response:
    """One page of alerts (cursor paging), or its twin."""
    page = await view.run(lambda: acting(view).alerts_list(unacked=unacked, item=item or None, limit=PAGE,
                                                           cursor=cursor or None))
    query = "&".join(q for q in ("unacked=1" if unacked else "", f"item={quote(item, safe='')}" if item else "") if q)
    base = f"/alerts?{query}" if query else "/alerts"
    return view.page("alerts.html", {"alerts": page}, page=page, unacked=unacked, item_id=item, base=base,
                     cursor=cursor, done=done if done in DONE else "", **link_globals())


@router.get("/alerts/{alert}")
async def alert_page(request: Request, alert: str, done: str = "") -> Response:
    """One alert whole: facts, the service and how it was attributed, links, acknowledgement."""
    alert, twin = split_twin(alert)
    view = await open_view(request, "cases", twin=twin)
    request.scope["state"]["audit_fields"] = {"alert": alert}
    try:
        record = await view.run(lambda: acting(view).alert_show(alert))
    except NotFoundError as exc:
        exc.field = "alert"
        raise
    return view.page("alert.html", {"alert": record}, a=record, doc=record.document,
                     done=done if done in DONE else "", **link_globals())


# ------------------------------------------------------------------------------------------- watch

def alert_counts(ws: Any, cap: int = COUNT_CAP) -> tuple[dict[str, list[int]], bool]:
    """Per item `[alerts, unacknowledged]` over the user's newest `cap` alerts, and whether the cap
    cut the count short (the service layer lists alerts; it does not count them)."""
    counts: dict[str, list[int]] = {}
    cursor, seen = None, 0
    while seen < cap:
        page = ws.alerts_list(limit=min(1000, cap - seen), cursor=cursor)
        for a in page.alerts:
            c = counts.setdefault(a.item_id, [0, 0])
            c[0] += 1
            c[1] += a.acked_at is None
        seen += len(page.alerts)
        cursor = page.page.next_cursor
        if cursor is None:
            return counts, False
    return counts, True


@router.get("/watch")
async def watch_page(request: Request, done: str = "") -> Response:
    """The user's watch items (their own and their cases') and the add-an-item form."""
    view = await open_view(request, "cases")
    return await render_watch(view, done=done if done in DONE else "")


@router.get("/watch.json")
async def watch_twin(request: Request) -> Response:
    """The watch page's twin: `{"watch": WatchListResult}`."""
    view = await open_view(request, "cases", twin=True)
    return await render_watch(view)


async def render_watch(view: View, *, form: WatchForm | None = None, errors: dict[str, str] | None = None,
                       status: int = 200, done: str = "") -> Response:
    """The watch page (or its twin), with the add form as typed."""
    def load() -> tuple[Any, Any, tuple[dict[str, list[int]], bool]]:
        ws = acting(view)
        listed = ws.watch_list()
        if view.twin:
            return listed, None, ({}, False)
        cases = [c for c in ws.case_list().cases if c.status == "open" and c.role in ("owner", "member")]
        return listed, cases, alert_counts(ws)

    listed, cases, (counts, capped) = await view.run(load)
    return view.page("watch.html", {"watch": listed}, status=status, items=listed.items, cases=cases or [],
                     counts=counts, capped=capped, form=form or WatchForm(), errors=errors or {}, rules=RULES,
                     policies=POLICIES, severities=SEVERITIES, done=done, **link_globals())


# ------------------------------------------------------------------------------- the case section

def case_watch(ws: Any, case: str, watched: str | None = None) -> dict[str, Any]:
    """The case page's "Monitoring" section: the case's items (newest `CASE_ITEMS`), each with its
    newest alerts; `watched` is the item a form just added (a notice)."""
    items = [i for i in ws.watch_list().items if i.case_id == case][-CASE_ITEMS:]
    latest = {i.id: ws.alerts_list(item=i.id, limit=CASE_LATEST) for i in items}
    return {"items": items, "latest": latest, "watched": watched if watched in latest else None,
            "target_link": target_link}
