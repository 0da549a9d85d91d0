"""`create_app`: the FastAPI application of one server, on one workspace.

Layers of every request, outermost first: `auditing.Edge` (security headers on every answer, the
audit record: held response, written record, then send; the body size limit; the address
summary's fast path, `hot`) -> FastAPI's exception mapping (`errors`) -> the route, whose
dependencies authenticate the token, check the role's permission and the token's rate, and hand
over the read-only workspace.
"""

from __future__ import annotations

import gc
import inspect
from typing import Any

from fastapi import FastAPI

from fundtrail.api import (deliverer, docs, errors, routes_admin, routes_analysis, routes_cases, routes_cases_evidence,
                           routes_cases_files, routes_clusters, routes_graph, routes_lookup, routes_tags, routes_trace,
                           routes_freezes, routes_watch, routes_watch_hooks, routes_watch_kyt)
from fundtrail.api.auditing import Edge
from fundtrail.api.hot import HotAddress
from fundtrail.api.state import ApiState
from fundtrail.settings import Settings
from fundtrail.workspace import Actor, Workspace

API_VERSION = "1"


#: FastAPI from 0.16x wraps every request in OpenTelemetry instrumentation and, when the environment
#: asks (`FASTAPI_OTEL_AUTO_CONFIGURE`, `OTEL_EXPORTER_OTLP_*`), exports it over the network. Never
#: here: no request leaves the machine (and the instrumentation cost ~7 % of a request's CPU).
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                   "auto_configure": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})


def create_app(settings: Settings | None = None, *, workspace: Workspace | None = None) -> FastAPI:
    """The API app on `workspace` (default: the settings' store opened read-only, acting as the
    server's operating-system user until a request authenticates)."""
    settings = settings or Settings.load()
    if workspace is None:
        workspace = Workspace.open(settings, actor=Actor.local(via="api"))
        workspace.warm()  # indexes, tag maps and assessors loaded before the first request
        gc.collect()  # what warming left behind, then everything loaded out of the collector's reach:
        gc.freeze()  # a full collection walking it stalled every request of the worker for 0.2-0.4 s
    state = ApiState(settings, workspace)
    app = FastAPI(
        title="fundtrail REST API",
        version=API_VERSION,
        description="Blockchain intelligence for anti-money-laundering investigations. Every route needs "
                    "`Authorization: Bearer <token>`; errors are `{\"error\": {\"code\", \"message\", "
                    "\"field\"}}`; every request is recorded in the store's audit log. See docs/api.md.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # FastAPI's pages load from a CDN; ours is /api/docs (local files)
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        **_NO_TELEMETRY,
    )
    # the docs page is Swagger UI 4 (the swagger-ui-bundle package, served locally), which renders
    # OpenAPI 3.0 documents only: with FastAPI's default "3.1.0" it showed no route at all
    app.openapi_version = "3.0.3"
    app.state.fundtrail = state
    errors.install(app)
    # the graph's fixed paths (`/graph/trace`) before the `{chain}` patterns that would take "graph" for a chain
    for module in (routes_graph, routes_watch_hooks, routes_watch, routes_watch_kyt, routes_freezes, routes_cases,
                   routes_cases_files,
                   routes_cases_evidence, routes_lookup, routes_clusters, routes_tags, routes_trace, routes_analysis,
                   routes_admin):
        app.include_router(module.router)
    deliverer.install(app, state)  # alert delivery for the server's lifetime (webhook_poll_seconds)
    docs.install(app)
    app.add_middleware(Edge, state=state, max_bytes=settings.api_max_body_mb << 20,
                       hot=HotAddress(routes_lookup.router, state), max_upload_bytes=settings.api_max_upload_mb << 20)
    return app
