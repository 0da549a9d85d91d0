"""The REST API of fundtrail (`fundtrail serve`): a thin HTTP skin over the service layer.

Every route turns its path, query and body into one `fundtrail.workspace.Workspace` call and
returns the result model's JSON, the same document the CLI prints with `--json`. This package owns
only what HTTP adds: bearer-token authentication and roles (`auth`), the one mapping of the
exception tree to HTTP statuses and the error body (`errors`), request size limits (`limits`), the
audit record of every request (`auditing`), and the OpenAPI document with its locally served
interactive page (`docs`). It imports nothing of fundtrail but the workspace, errors, settings and
model (tests/architecture). See docs/api.md.
"""

from __future__ import annotations

from fundtrail.api.app import create_app

__all__ = ["create_app"]
