"""CLI command `fundtrail serve`: run the web workbench and the REST API (docs/web.md, docs/api.md)
under uvicorn.

The server binds 127.0.0.1 unless told otherwise; any other address carries investigation data
over a network, so it needs TLS (`--tls-cert`/`--tls-key`) or an explicit `--insecure-remote`,
which is warned about. The CLI does not import the API package (interfaces only import the service
layer): uvicorn loads the app factory `fundtrail.api.app:create_app` by name, and the resolved
settings reach it through this process's FUNDTRAIL_* variables, so flags, settings file and
environment resolve exactly as for every other command. No access log (URLs carry addresses);
nothing secret is logged. The URL is printed once the socket listens; Ctrl-C stops it (exit 0).

`--workers N` runs N server processes on the one listening socket (uvicorn's supervisor restarts
one that dies): one Python process answers from one core because the GIL serialises its Python
work, so on a loaded machine requests queue behind each other. Each worker opens its own read-only
workspace (memory-mapped indexes are shared through the page cache, tag maps and caches are not:
memory grows by roughly the tag map per worker); the audit log is shared safely (file lock, tail
re-read), and the per-token rate limit is counted per worker (N workers allow up to N times it).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from fundtrail.cli import context
from fundtrail.errors import UsageError
from fundtrail.settings import Settings

if TYPE_CHECKING:
    import uvicorn

APP_FACTORY = "fundtrail.web.app:create_app"
MAX_WORKERS = 64
#: Seconds a worker may go without answering the supervisor's ping before it is replaced: long,
#: because building a cold index or tag map can keep a worker busy for a while.
WORKER_HEALTHCHECK_SECONDS = 120


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, tls_cert: Path | None, tls_key: Path | None, insecure_remote: bool) -> bool:
    """Whether the server speaks TLS; a UsageError (naming the field) for an unsafe or half setup."""
    if (tls_cert is None) != (tls_key is None):
        missing = "tls_key" if tls_key is None else "tls_cert"
        raise UsageError(f"--{missing.replace('_', '-')} is missing: TLS needs both a certificate and its key",
                         field=missing)
    for field, path in (("tls_cert", tls_cert), ("tls_key", tls_key)):
        if path is not None and not path.is_file():
            raise UsageError(f"--{field.replace('_', '-')} {path} is not a readable file", field=field)
    tls = tls_cert is not None
    if not is_loopback(host) and not tls and not insecure_remote:
        raise UsageError(f"--host {host} is not a loopback address: serving it without TLS exposes tokens and "
                         "data to the network; give --tls-cert and --tls-key (or --insecure-remote)", field="host")
    return tls


def export_settings(settings: Settings, as_user: str | None) -> None:
    """Hand the resolved settings to the app factory (it resolves env > file > defaults)."""
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if value is not None:
            os.environ[f"FUNDTRAIL_{f.name.upper()}"] = str(value)
    if as_user:
        os.environ["FUNDTRAIL_USER"] = as_user


def _announce(server: object, scheme: str, quiet: bool) -> None:
    """Print the URL once uvicorn listens (with the real port when 0 asked for a free one)."""
    while not getattr(server, "started", False):
        if getattr(server, "should_exit", False):
            return
        time.sleep(0.02)
    sockets = [s for srv in getattr(server, "servers", []) for s in srv.sockets]
    _print_url(sockets[0].getsockname()[:2] if sockets else ("?", 0), scheme, quiet)


def _print_url(address: tuple[str, int], scheme: str, quiet: bool) -> None:
    host, port = address
    shown = f"[{host}]" if ":" in str(host) else host
    typer.echo(f"fundtrail listening on {scheme}://{shown}:{port}/ (workbench; REST API /api/v1, docs /api/docs)")
    sys.stdout.flush()
    if not quiet:
        typer.echo("stop with Ctrl-C", err=True)


def register(app: typer.Typer) -> None:
    """Add `serve` to the top-level app."""

    @app.command("serve")
    def serve_cmd(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: loopback only)."),
        port: int = typer.Option(8800, "--port", help="TCP port (0: any free port, printed)."),
        tls_cert: Path | None = typer.Option(None, "--tls-cert", help="TLS certificate (PEM)."),
        tls_key: Path | None = typer.Option(None, "--tls-key", help="TLS private key (PEM)."),
        insecure_remote: bool = typer.Option(False, "--insecure-remote",
                                             help="Allow a non-loopback address without TLS (warned)."),
        workers: int = typer.Option(1, "--workers", help="Server processes sharing the socket (about one per "
                                                         "core; each holds its own caches; rate limits are per "
                                                         "worker)."),
    ) -> None:
        """Run the web workbench and the REST API: logins, tokens, roles, audit log (docs/web.md)."""
        import uvicorn

        if not 0 <= port <= 65535:
            raise UsageError(f"--port must be between 0 and 65535 (got {port})", field="port")
        if not 1 <= workers <= MAX_WORKERS:
            raise UsageError(f"--workers must be between 1 and {MAX_WORKERS} (got {workers})", field="workers")
        tls = check_binding(host, tls_cert, tls_key, insecure_remote)
        if not is_loopback(host) and not tls:
            typer.echo(f"fundtrail: warning: serving {host} without TLS: tokens and investigation data "
                       "cross the network in clear text", err=True)
        context.workspace(ctx)  # a missing or outdated store is a one-line error before binding
        export_settings(context.settings(ctx), context.actor(ctx).user)
        config = uvicorn.Config(APP_FACTORY, factory=True, host=host, port=port, log_config=None,
                                access_log=False, server_header=False, proxy_headers=False,
                                ssl_certfile=str(tls_cert) if tls_cert else None,
                                ssl_keyfile=str(tls_key) if tls_key else None, workers=workers,
                                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS)
        if workers > 1:
            _run_workers(config, "https" if tls else "http", context.quiet(ctx))
            return
        server = uvicorn.Server(config)
        threading.Thread(target=_announce, args=(server, "https" if tls else "http", context.quiet(ctx)),
                         daemon=True).start()
        try:
            server.run()
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down gracefully on
            if not server.should_exit:
                raise


def _run_workers(config: uvicorn.Config, scheme: str, quiet: bool) -> None:
    """Bind the socket here, then let uvicorn's supervisor run the workers on it until Ctrl-C or
    SIGTERM (it stops them and returns). The URL is printed once the socket listens: connections
    wait in its backlog until the first worker has loaded the app."""
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    sock.listen(config.backlog)  # workers listen on it too; listening here queues early clients
    _print_url(sock.getsockname()[:2], scheme, quiet)
    Multiprocess(config, sockets=[sock]).run()
