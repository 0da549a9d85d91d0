"""The API's self-description: the OpenAPI document and an interactive page served from local files.

FastAPI's default /docs and /redoc pages load Swagger UI and ReDoc from a CDN, which an air-gapped
workstation cannot reach and a police network must not call; they are turned off. `/api/docs` is
our own small HTML page loading Swagger UI from the `swagger-ui-bundle` package on disk and a
separate initializer script of ours, so a strict Content-Security-Policy (no inline script, nothing
but this origin) holds on every response (`HEADERS`).
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException

STATIC = Path(__file__).resolve().parent / "static"
SWAGGER = Path(swagger_ui_bundle.swagger_ui_path)
#: The files the docs page may load: name -> (directory, media type). Nothing else is served.
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui.css": (SWAGGER, "text/css"),
    "swagger-ui.css.map": (SWAGGER, "application/json"),
    "swagger-ui-bundle.js": (SWAGGER, "text/javascript"),
    "swagger-ui-bundle.js.map": (SWAGGER, "application/json"),
    "favicon-32x32.png": (SWAGGER, "image/png"),
    "favicon-16x16.png": (SWAGGER, "image/png"),
    "docs-init.js": (STATIC, "text/javascript"),
}
#: Sent with every response. Scripts only from this origin (Swagger UI sets inline styles and
#: uses data: images for its icons, so those two are allowed; nothing may be framed or posted away).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
#: Their names: a header of the same name set by a route is replaced (`auditing.Edge` adds them).
HEADER_NAMES = frozenset(name for name, _ in HEADERS)


def install(app: FastAPI) -> None:
    """Add the docs page and its assets (the OpenAPI route is FastAPI's, at `/api/openapi.json`)."""

    @app.get("/api/docs", include_in_schema=False)
    def docs_page() -> HTMLResponse:
        return HTMLResponse((STATIC / "docs.html").read_text(encoding="utf-8"))

    @app.get("/api/docs/assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> FileResponse:
        found = ASSETS.get(name)
        if found is None:
            raise HTTPException(404, detail=f"no docs asset {name}")
        folder, media_type = found
        return FileResponse(folder / name, media_type=media_type)
