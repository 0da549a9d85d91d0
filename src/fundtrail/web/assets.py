"""Files the browser loads: our own (`static/`) and the front-end libraries from the npm registry.

The library (Cytoscape.js; the SVG export is our own, static/graph-svg.js) is installed by the
project's set-up (`npm ci`, run by `make demo` and `make test`) into `node_modules/` beside `src/`, or wherever
`FUNDTRAIL_WEB_ASSETS` points (a deployment copying them elsewhere). Only the files listed in
`VENDOR` are served, from this machine: no CDN, no font or script from outside.
"""

from __future__ import annotations

import os
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
#: URL name -> (npm package, file inside it). Nothing else under /vendor is served.
VENDOR: dict[str, tuple[str, str]] = {
    "cytoscape.min.js": ("cytoscape", "dist/cytoscape.min.js"),
}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml",
               ".json": "application/json", ".ico": "image/x-icon"}


def node_modules() -> Path:
    """Where the npm packages are: `FUNDTRAIL_WEB_ASSETS`, else the checkout's `node_modules`."""
    configured = os.environ.get("FUNDTRAIL_WEB_ASSETS")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "node_modules"


def vendor_file(name: str) -> Path | None:
    """The file behind `/vendor/<name>`, or None when unknown or not installed."""
    entry = VENDOR.get(name)
    if entry is None:
        return None
    path = node_modules() / entry[0] / entry[1]
    return path if path.is_file() else None


def missing_vendor() -> list[str]:
    """The npm packages the canvas needs that are not installed (named in the graph page's error)."""
    return sorted({package for name, (package, _) in VENDOR.items() if vendor_file(name) is None})


def static_file(name: str) -> Path | None:
    """The file behind `/static/<name>` (our own files only; no path may leave the folder)."""
    if not name or name.startswith(("/", ".")) or ".." in name.split("/"):
        return None
    path = (STATIC / name).resolve()
    if STATIC not in path.parents or not path.is_file():
        return None
    return path


def media_type(path: Path) -> str:
    """The Content-Type of a served file."""
    return MEDIA_TYPES.get(path.suffix, "application/octet-stream")
