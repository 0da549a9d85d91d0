"""Cluster routes: a cluster by id or member address, its members (paged), why two addresses are
linked. `why` is declared before `{id}` so that it is not taken for a cluster id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from fundtrail.api.auth import require
from fundtrail.api.errors import request_fields
from fundtrail.api.params import Cursor, Limit, StoredChain
from fundtrail.api.render import json_of
from fundtrail.api.state import reader
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.cluster_models import ClusterMembersPage, ClusterResult, ClusterWhyResult

router = APIRouter(prefix="/api/v1/{chain}/clusters", tags=["clusters"])
Reader = Annotated[Workspace, Depends(reader)]
CanRead = Annotated[Actor, Depends(require("read"))]
ClusterRef = Annotated[str, "a cluster id (decimal) or a member address"]
#: The service names a cluster reference `cluster_id` or `address` by what it turned out to be; the
#: path calls either `{id}`.
AS_ID = {"cluster_id": "id", "address": "id"}


@router.get("/why", response_model=ClusterWhyResult, summary="The evidence chain linking two addresses")
def why(actor: CanRead, chain: StoredChain, ws: Reader,
        a: Annotated[str, Query(description="One address.")],
        b: Annotated[str, Query(description="The other address.")]) -> Response:
    """As `fundtrail cluster why A B --json`."""
    return json_of(ws.cluster_why(a, b, chain=chain))


@router.get("/{id}", response_model=ClusterResult, summary="A cluster")
def cluster(actor: CanRead, chain: StoredChain, id: ClusterRef, ws: Reader) -> Response:
    """Size, totals, tags and overrides (`fundtrail cluster show --json`); `id` may be a member address."""
    with request_fields(AS_ID):
        return json_of(ws.cluster(id, chain=chain))


@router.get("/{id}/members", response_model=ClusterMembersPage, summary="A cluster's members, paged")
def members(actor: CanRead, chain: StoredChain, id: ClusterRef, ws: Reader,
            limit: Limit = 100, cursor: Cursor = None) -> Response:
    """Members in address-id order; pass `next_cursor` back as `cursor`."""
    with request_fields(AS_ID):
        return json_of(ws.cluster_members(id, chain=chain, limit=limit, cursor=cursor))
