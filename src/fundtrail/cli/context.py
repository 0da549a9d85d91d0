"""The CLI's one way to reach the service layer: a `Workspace` opened once per command.

Every command opens its workspace here, on the store of the resolved settings (`--store`, env,
settings file, default), acting as the user named by `--as` or `FUNDTRAIL_USER`, else the
operating-system user; read-only unless the command changes the store.
"""

from __future__ import annotations

from typing import Any

import typer

from fundtrail.settings import Settings
from fundtrail.workspace import Actor, Workspace


def _root_obj(ctx: typer.Context) -> dict[str, Any]:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, dict) else {}


def settings(ctx: typer.Context) -> Settings:
    """The resolved settings of this invocation."""
    found = _root_obj(ctx).get("settings")
    return found if isinstance(found, Settings) else Settings.load()


def quiet(ctx: typer.Context) -> bool:
    """True when the user asked for no progress output."""
    return bool(_root_obj(ctx).get("quiet", False))


def actor(ctx: typer.Context) -> Actor:
    """Who runs this command (recorded in the audit log)."""
    return Actor.local(via="cli", user=_root_obj(ctx).get("as_user"))


def workspace(ctx: typer.Context, *, writable: bool = False, create: bool = False) -> Workspace:
    """The workspace of this command, opened on first use and reused by later calls in it."""
    obj = _root_obj(ctx)
    key = "workspace_rw" if (writable or create) else "workspace_ro"
    ws = obj.get(key)
    if not isinstance(ws, Workspace) or ws.settings != settings(ctx):
        ws = Workspace.open(settings(ctx), writable=writable, create=create, actor=actor(ctx))
        obj[key] = ws
    return ws
