"""`create_app`: one server for the REST API and the workbench (what `fundtrail serve` runs).

The API app (`fundtrail.api.create_app`) comes first: its audit record, security headers and
limits wrap every request, pages included (a page request is recorded with `via` web). The
workbench adds its routes after the API's (`/api/...` stays the API's), a login limiter, and the
static and vendor files.
"""

from __future__ import annotations

from fastapi import FastAPI

from fundtrail.api import create_app as create_api_app
from fundtrail.api.state import api_state_of
from fundtrail.settings import Settings
from fundtrail.web import (routes_address, routes_admin, routes_cases, routes_cases_forms, routes_cluster, routes_core,
                           routes_graph, routes_tags, routes_trace, routes_tx, routes_watch, routes_watch_forms)
from fundtrail.web.session import LoginLimiter
from fundtrail.workspace import Workspace

#: Page routers, in order (the catch-all `/{chain}/...` patterns last).
ROUTERS = [routes_core.router, routes_graph.router, routes_trace.router, routes_tags.router, routes_cases.router,
           routes_cases_forms.router, routes_watch.router, routes_watch_forms.router, routes_admin.router,
           routes_address.router, routes_tx.router, routes_cluster.router]


def create_app(settings: Settings | None = None, *, workspace: Workspace | None = None) -> FastAPI:
    """The API and the workbench on `workspace` (default: the settings' store, read-only)."""
    settings = settings or Settings.load()
    app = create_api_app(settings, workspace=workspace)
    state = api_state_of(app)
    state.web_login_limiter = LoginLimiter(settings.web_login_per_minute)
    for router in ROUTERS:
        app.include_router(router)
    return app
