"""Entry point of the `fundtrail` command: global options, logging, and the error mapping.

Every `FundtrailError` becomes one line on stderr and its documented exit code (docs/cli.md); an
unexpected exception keeps its traceback (that is a bug to report, not bad input).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from fundtrail.cli import (commands_bitcoin, commands_cluster, commands_ethereum, commands_sim,
                          commands_risk, commands_store, commands_tags, commands_trace)
from fundtrail.errors import FundtrailError, Interrupted
from fundtrail.settings import Settings

app = typer.Typer(
    name="fundtrail",
    help="Blockchain intelligence for anti-money-laundering investigations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Read chain data into the store.", no_args_is_help=True)
export_app = typer.Typer(help="Write stored data in the documented export formats.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(export_app, name="export")


@app.callback()
def _global(
    ctx: typer.Context,
    store: Optional[Path] = typer.Option(None, "--store", help="Store directory [env FUNDTRAIL_STORE; "
                                         "default ~/.local/share/fundtrail/store]"),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-v info, -vv debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr; no progress."),
) -> None:
    level = "debug" if verbose >= 2 else "info" if verbose == 1 else "error" if quiet else None
    settings = Settings.load(store=store, log_level=level)
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper()),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = {"settings": settings, "quiet": quiet}


commands_bitcoin.register(ingest_app)
commands_ethereum.register(ingest_app, export_app)
commands_store.register(app, export_app)
commands_sim.register(app)
commands_tags.register(app)
commands_cluster.register(app)
commands_trace.register(app)
commands_risk.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (documented in docs/cli.md)."""
    try:
        app(args=argv, standalone_mode=False)
        return 0
    except FundtrailError as exc:
        typer.echo(f"fundtrail: error: {exc.one_line()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo(f"fundtrail: {Interrupted('interrupted; committed batches are kept').one_line()}", err=True)
        return Interrupted.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 1
    except Exception as exc:  # usage errors of the option parser arrive here in non-standalone mode
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            typer.echo(f"fundtrail: error: {exc.format_message()}", err=True)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
