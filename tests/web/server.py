"""One way to run a real workbench server in the web tests: uvicorn configured as `fundtrail serve`
runs it (no proxy headers, no server header, no access log), on a free loopback port, in a thread."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import uvicorn


def start(app: Any, *, tls: tuple[Path, Path] | None = None,
          name: str = "workbench-server") -> tuple[str, uvicorn.Server, threading.Thread]:
    """Serve `app`; returns its base URL, the server and its thread (`tls`: certificate, key)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False,
                            proxy_headers=False, server_header=False,
                            ssl_certfile=str(tls[0]) if tls else None, ssl_keyfile=str(tls[1]) if tls else None)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True, name=name)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the workbench server did not start"
        time.sleep(0.02)
    port = uv.servers[0].sockets[0].getsockname()[1]
    return f"{'https' if tls else 'http'}://127.0.0.1:{port}", uv, thread
