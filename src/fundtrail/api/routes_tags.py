"""Tag routes: the tags of an address with provenance, a search over labels and actors, and an
analyst's own tag. The tag's creator is the authenticated user (a body may not name another)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from fundtrail.api.auth import require
from fundtrail.api.render import json_of
from fundtrail.api.state import api_state, reader
from fundtrail.errors import UsageError
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.tag_models import TagAddRequest, TagAddResult, TagSearchResult, TagShowResult

router = APIRouter(prefix="/api/v1", tags=["tags"])
Reader = Annotated[Workspace, Depends(reader)]


@router.get("/tags", response_model=TagShowResult | TagSearchResult,
            summary="Tags of an address (`address=`) or matching a text (`q=`)")
def tags(actor: Annotated[Actor, Depends(require("read"))], ws: Reader,
         address: Annotated[str | None, Query(description="Tags of this address, direct and inherited.")] = None,
         q: Annotated[str | None, Query(description="Labels and actors containing this text.")] = None,
         currency: Annotated[str | None, Query(description="With `address`: its currency (BTC, ETH, ...).")]
         = None,
         limit: Annotated[int, Query(description="With `q`: most matches.")] = 50) -> Response:
    """`address=` as `fundtrail tags show ADDRESS --json`; `q=` as `fundtrail tags search Q --json`."""
    if (address is None) == (q is None):
        raise UsageError("give exactly one of address and q", field="address" if address is None else "q")
    if address is not None:
        return json_of(ws.tags_show(address, currency=currency))
    assert q is not None
    return json_of(ws.tags_search(q, limit=limit))


@router.post("/tags", response_model=TagAddResult, status_code=201, summary="Add an analyst's own tag")
def tags_add(actor: Annotated[Actor, Depends(require("tags.write"))], body: TagAddRequest,
             request: Request) -> Response:
    """As `fundtrail tags add ... --json`; `added` is false when the same claim was already stored."""
    if body.creator not in (None, actor.user):
        raise UsageError(f"creator is the authenticated user ({actor.user}); leave it out", field="creator")
    with api_state(request).writer(actor) as ws:
        result = ws.tags_add(body)
    response = json_of(result)
    response.status_code = 201 if result.added else 200
    return response
