"""Routes of the audit log (role auditor) and of users and tokens (role admin).

User and token changes open a writable workspace acting as the admin who asked (their name is
recorded as `created_by`/`revoked_by`); a created token is in that one response only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from fundtrail.api.auth import require
from fundtrail.api.errors import request_fields
from fundtrail.api.params import Cursor
from fundtrail.api.render import json_of
from fundtrail.api.state import api_state, reader
from fundtrail.workspace import Actor, Model, Workspace
from fundtrail.workspace.access import (AuditPage, TokenCreateResult, TokenRecord, TokensListResult, UserRecord,
                                        UsersListResult)

router = APIRouter(prefix="/api/v1", tags=["audit and access"])
Reader = Annotated[Workspace, Depends(reader)]
CanAudit = Annotated[Actor, Depends(require("audit.read"))]
CanAdmin = Annotated[Actor, Depends(require("admin"))]


class UserAddBody(Model):
    """A new user: name (1-64 of `A-Za-z0-9._@-`) and role (analyst, investigator, auditor, admin)."""

    name: str
    role: str


class TokenCreateBody(Model):
    """Whose token to create."""

    user: str


@router.get("/audit", response_model=AuditPage, summary="The audit log (auditor role)")
def audit(actor: CanAudit, ws: Reader,
          user: Annotated[str | None, Query(description="Only this user's records.")] = None,
          since: Annotated[str | None, Query(description="From this time (ISO 8601 or unix seconds).")] = None,
          until: Annotated[str | None, Query(description="Up to this time (ISO 8601 or unix seconds).")] = None,
          limit: Annotated[int, Query(description="Most records (1..10000), the newest.")] = 100,
          cursor: Cursor = None) -> Response:
    """Records oldest first; `next_cursor` pages back to older ones (`fundtrail audit show --json`)."""
    return json_of(ws.audit_show(user=user, since=since, until=until, limit=limit, cursor=cursor))


@router.get("/users", response_model=UsersListResult, summary="Users (admin role)")
def users_list(actor: CanAdmin, ws: Reader) -> Response:
    """Every user, by name (`fundtrail users list --json`)."""
    return json_of(ws.users_list())


@router.post("/users", response_model=UserRecord, status_code=201, summary="Add a user (admin role)")
def users_add(actor: CanAdmin, body: UserAddBody, request: Request) -> Response:
    """As `fundtrail users add NAME --role ROLE --json`."""
    with api_state(request).writer(actor) as ws:
        result = ws.users_add(body.name, role=body.role)
    response = json_of(result)
    response.status_code = 201
    return response


@router.get("/tokens", response_model=TokensListResult, summary="Token records, never the tokens (admin role)")
def tokens_list(actor: CanAdmin, ws: Reader,
                user: Annotated[str | None, Query(description="Only this user's tokens.")] = None) -> Response:
    """As `fundtrail tokens list --json`."""
    return json_of(ws.tokens_list(user=user))


@router.post("/tokens", response_model=TokenCreateResult, status_code=201, summary="Create a token (admin role)")
def tokens_create(actor: CanAdmin, body: TokenCreateBody, request: Request) -> Response:
    """The token is in this response only (only a slow salted hash is stored)."""
    with api_state(request).writer(actor) as ws:
        result = ws.tokens_create(body.user)
    response = json_of(result)
    response.status_code = 201
    return response


@router.delete("/tokens/{id}", response_model=TokenRecord, summary="Revoke a token (admin role)")
def tokens_revoke(actor: CanAdmin, id: str, request: Request) -> Response:
    """Refused from the next request on (`fundtrail tokens revoke ID --json`)."""
    with request_fields({"token_id": "id"}), api_state(request).writer(actor) as ws:
        return json_of(ws.tokens_revoke(id))


@router.delete("/users/{name}", response_model=UserRecord, summary="Disable a user (admin role)")
def users_disable(actor: CanAdmin, name: str, request: Request) -> Response:
    """The user's tokens are refused from the next request on (`fundtrail users disable NAME`)."""
    with api_state(request).writer(actor) as ws:
        return json_of(ws.users_disable(name))
