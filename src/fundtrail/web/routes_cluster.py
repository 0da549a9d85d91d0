"""The cluster page: size and totals, the clustering run, tags, the guard's warnings, members
(paged by cursor), and why two addresses are (or are not) in one cluster.

The why form is a GET (`?a=ADDR&b=ADDR`): it changes nothing. A mistake in it (an address that is
not one, or not stored) is shown beside the form with the status the API gives, and the rest of
the page stays: the investigator corrects one field instead of starting again. The twin answers
such a mistake with the API's error document.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from fundtrail.api.errors import request_fields
from fundtrail.api.routes_clusters import AS_ID
from fundtrail.errors import FundtrailError, UsageError
from fundtrail.web.pages import View, WebRoute, open_view, split_twin
from fundtrail.web.routes_tx import whole_number
from fundtrail.workspace.cluster_models import ClusterMembersPage, ClusterResult, ClusterTag, ClusterWhyResult

router = APIRouter(route_class=WebRoute, include_in_schema=False)
#: Members shown per page (the API's default page size, so the twin's page equals the API's).
MEMBERS = 100
#: Longer than any address of a supported chain.
MAX_ADDRESS = 200


def tags_by_member(tags: Sequence[ClusterTag]) -> dict[str, list[ClusterTag]]:
    """The cluster's tags keyed by the members the service names as carrying them."""
    out: dict[str, list[ClusterTag]] = {}
    for tag in tags:
        for member in dict.fromkeys([tag.member, *tag.carried_by]):
            out.setdefault(member, []).append(tag)
    return out


def heuristic_names(view: View) -> dict[str, str]:
    """What each link of an evidence chain is, in the page's language."""
    return {"multi_input": view.t("common-input ownership (spent together in one transaction)"),
            "change": view.t("change address of the spender"),
            "deposit": view.t("deposit address swept to its exchange"),
            "delegation": view.t("energy or bandwidth paid by the same TRON payer"),
            "manual_merge": view.t("analyst override: merged"),
            "manual_split": view.t("analyst override: split")}


def url_with(path: str, **params: str | int | None) -> str:
    """`path` with the query parameters that are set (a default page size left out)."""
    query = {k: v for k, v in params.items() if v not in (None, "") and not (k == "limit" and v == MEMBERS)}
    return path + ("?" + urlencode(query) if query else "")


async def explain(view: View, chain: str, a: str, b: str) -> tuple[ClusterWhyResult | None, FundtrailError | None]:
    """The why answer for `a` and `b` (None when neither is given), or the mistake in them (a page
    shows it beside the form; a twin raises it)."""
    if not a and not b:
        return None, None
    try:
        for name, value in (("a", a), ("b", b)):
            if not value:
                raise UsageError(f"{name}: give both addresses to explain their link", field=name)
            if len(value) > MAX_ADDRESS:
                raise UsageError(f"{name} is {len(value):,} characters long: not an address", field=name)
        return await view.run(lambda: view.workspace.cluster_why(a, b, chain=chain)), None
    except FundtrailError as exc:
        if view.twin:
            raise
        return None, exc


@router.get("/{chain}/clusters/{id}")
async def cluster_page(request: Request, chain: str, id: str, cursor: str | None = None, limit: str = str(MEMBERS),
                       a: str = "", b: str = "") -> Response:
    """`/{chain}/clusters/{id}` (id: a cluster id or a member address) and its twin `...{id}.json`:
    `{"cluster": ClusterResult, "members": ClusterMembersPage, "why": ClusterWhyResult | null}`."""
    ref, twin = split_twin(id)
    view = await open_view(request, "read", twin=twin)
    size = whole_number(limit, "limit")

    def load() -> tuple[ClusterResult, ClusterMembersPage]:
        ws = view.workspace
        with request_fields(AS_ID):
            both: tuple[ClusterResult, ClusterMembersPage] = ws.cluster_with_members(
                ref, chain=chain, limit=size, cursor=cursor)
            return both

    cluster, members = await view.run(load)
    a, b = a.strip(), b.strip()
    why, why_error = await explain(view, chain, a, b)
    path = request.url.path
    first = a if a and not (why_error and why_error.field == "a") else cluster.address
    return view.page(
        "cluster.html", {"cluster": cluster, "members": members, "why": why},
        status=why_error.http_status if why_error else 200, why_error=why_error, a=a or cluster.address, b=b,
        link_a=first, max_address=MAX_ADDRESS,
        carriers=tags_by_member(cluster.tags), heuristics=heuristic_names(view),
        partial_marks=any(t.members > len({t.member, *t.carried_by}) for t in cluster.tags),
        balance=int(cluster.received) - int(cluster.sent), first_page=cursor is not None,
        pager_base=url_with(path, a=a if why else None, b=b if why else None, limit=size),
        keep={k: v for k, v in {"cursor": cursor, "limit": size}.items()
              if v is not None and not (k == "limit" and v == MEMBERS)},
        why_href=lambda other: url_with(path, a=first, b=other, limit=size, cursor=cursor) + "#why")
