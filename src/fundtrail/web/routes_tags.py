"""The tags-and-actors page (`/tags`, twin `/tags.json`) and the form adding an analyst's tag.

One page, four views: `?q=` searches labels, actors, categories, sources and creators (and
matching actors); `?address=` shows every tag of one address with its provenance and any
conflict; `?actor=` shows an actor's record and the addresses tagged with it; without any, the
known actors and the conflicts (addresses whose tags claim two different services). Every tag
shows where it came from: source, file and line, creator, last change, confidence.

Investigators (`tags.write`) get the add form: a POST with the session's CSRF token, stored by
`Workspace.tags_add` on a writable workspace acting as the user (the creator is always the user
who is logged in). A refused tag shows the form again with the error next to its field; a stored
one leads to the address's tags (`?address=...&added=1`).

Twins: `{"tags": TagSearchResult, "actors": ActorsResult}` (`q`), `{"shown": TagShowResult}`
(`address`), `{"actor": ActorRow | null, "tags": TagSearchResult}` (`actor`), else
`{"actors": ActorsResult, "conflicts": TagConflictsResult}`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from fundtrail.api.sessions import csrf_ok
from fundtrail.errors import FundtrailError, PermissionDenied
from fundtrail.web.pages import View, WebRoute, open_view
from fundtrail.workspace import Model, TagAddRequest, TagAddResult, TagSearchResult
from fundtrail.workspace.access import allows

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: Tags a search lists (the service allows up to 1000); an actor's addresses are listed up to the most.
SEARCH_LIMIT = 200
ACTOR_LIMIT = 1000
LANDING_ACTORS = 50
LANDING_CONFLICTS = 100
#: Categories and confidence ids of the tag taxonomy (tests/web check both against
#: `fundtrail.tags.taxonomy`): the add form's choices.
CATEGORIES = ("exchange", "wallet_service", "mixing_service", "market", "gambling", "miner", "mining_service",
              "payment_processor", "atm", "defi_bridge", "shop", "hosting", "vpn", "defi", "defi_dex", "defi_lending",
              "defi_derivative", "coinjoin", "ico_wallet", "escrow_wallet", "cold_wallet", "hot_wallet", "faucet",
              "donation", "organization", "service", "user", "perpetrator", "victim", "black_list", "collectible",
              "sanction", "ransomware", "scam", "phishing", "service_hack", "ponzi_scheme", "pyramid_scheme",
              "investment_fraud", "extortion", "sextortion", "malware", "money_laundering", "payment_card_fraud",
              "extremism", "terrorism", "child_sexual_abuse", "abuse")
CONFIDENCES = ("ownership", "ledger_immanent", "manual_transaction", "service_api", "authority_data",
               "trusted_provider", "service_data", "forensic", "untrusted_transaction", "web_crawl", "heuristic",
               "unknown")
VISIBILITIES = ("shared", "private")


class TagForm(Model):
    """The add form as typed (shown again, with the error, when the tag is refused)."""

    address: str = ""
    label: str = ""
    category: str = ""
    currency: str = ""
    confidence: str = "forensic"
    actor: str = ""
    source: str = ""
    visibility: str = "shared"
    case: str = ""


@router.get("/tags")
async def tags_page(request: Request, q: str = "", actor: str = "", address: str = "",
                    added: str = "") -> Response:
    """Search, an address's tags, an actor, or the actors and conflicts (module docstring)."""
    view = await open_view(request, "read")
    return await _tags(view, q.strip(), actor.strip(), address.strip(), added == "1")


@router.get("/tags.json")
async def tags_twin(request: Request, q: str = "", actor: str = "", address: str = "") -> Response:
    """The tags page's JSON twin (module docstring)."""
    view = await open_view(request, "read", twin=True)
    return await _tags(view, q.strip(), actor.strip(), address.strip(), False)


async def _tags(view: View, q: str, actor: str, address: str, added: bool, *, form: TagForm | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    parts: dict[str, Any]
    if address:
        shown = await view.run(lambda: view.workspace.tags_show(address))
        parts, mode = {"shown": shown}, "address"
    elif actor:
        def load_actor() -> tuple[Any, TagSearchResult]:
            ws = view.workspace
            record = next((a for a in ws.actors(actor, limit=100).actors if a.id == actor), None)
            found = ws.tags_search(actor, limit=ACTOR_LIMIT)
            return record, found.model_copy(update={"tags": [t for t in found.tags if t.actor == actor]})

        record, found = await view.run(load_actor)
        parts, mode = {"actor": record, "tags": found}, "actor"
    elif q:
        found, actors = await view.run(lambda: (view.workspace.tags_search(q, limit=SEARCH_LIMIT),
                                                view.workspace.actors(q, limit=LANDING_ACTORS)))
        parts, mode = {"tags": found, "actors": actors}, "search"
    else:
        actors, conflicts = await view.run(lambda: (view.workspace.actors(None, limit=LANDING_ACTORS),
                                                    view.workspace.tags_conflicts(limit=LANDING_CONFLICTS)))
        parts, mode = {"actors": actors, "conflicts": conflicts}, "landing"
    extra: dict[str, Any] = {}
    if not view.twin and view.actor.role is not None and allows(view.actor.role, "tags.write"):
        extra["currencies"] = await view.run(lambda: list(view.workspace.status().tags.by_currency))
    return view.page("tags.html", parts, status=status, mode=mode, query=q, actor_id=actor, address_q=address,
                     added=added, form=form or TagForm(address=address, actor=actor), errors=errors or {},
                     categories=CATEGORIES, confidences=CONFIDENCES, visibilities=VISIBILITIES,
                     search_limit=SEARCH_LIMIT, actor_limit=ACTOR_LIMIT, **extra)


@router.post("/tags")
async def tags_add(request: Request, address: Annotated[str, Form()] = "", label: Annotated[str, Form()] = "",
                   category: Annotated[str, Form()] = "", currency: Annotated[str, Form()] = "",
                   confidence: Annotated[str, Form()] = "forensic", actor: Annotated[str, Form()] = "",
                   source: Annotated[str, Form()] = "", visibility: Annotated[str, Form()] = "shared",
                   case: Annotated[str, Form()] = "",
                   csrf_token_field: Annotated[str, Form(alias="csrf_token")] = "") -> Response:
    """Store an analyst's tag (CSRF-checked; the creator is the logged-in user)."""
    view = await open_view(request, "tags.write")
    form = TagForm(address=address.strip(), label=label.strip(), category=category.strip(), currency=currency.strip(),
                   confidence=confidence.strip() or "forensic", actor=actor.strip(), source=source.strip(),
                   visibility=visibility.strip() or "shared", case=case.strip())
    request.scope["state"]["audit_fields"] = {"address": form.address, "label": form.label,
                                              "category": form.category, "currency": form.currency or None}
    if not csrf_ok(view.session, csrf_token_field):
        raise PermissionDenied("missing or wrong CSRF token: reload the page and try again", field="csrf_token")
    body = TagAddRequest(address=form.address, label=form.label, category=form.category,
                         currency=form.currency or None, confidence=form.confidence, actor=form.actor or None,
                         source=form.source or None, visibility=form.visibility, case=form.case or None)
    state = view.state
    try:
        with state.writer(view.actor) as ws:
            result: TagAddResult = await view.run(ws.tags_add, body)
    except FundtrailError as exc:
        if exc.http_status >= 500:
            raise
        return await _tags(view, "", "", "", False, form=form, status=exc.http_status,
                           errors={exc.field or "": exc.one_line()})
    return RedirectResponse(f"/tags?address={quote(result.address, safe='')}&added=1", status_code=303)
