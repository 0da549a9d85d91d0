"""The investigator's workbench in the browser (`fundtrail serve`): server-rendered pages in
Simplified Chinese and English, each with a JSON twin, and the money-flow graph canvas.

The workbench sits on the REST API (`fundtrail.api`): one server answers both, the pages use the
API's state, audit record and security headers, and the canvas's script calls `/api/v1` with the
browser's session cookie. `create_app` (in `app`) builds that server.
"""
