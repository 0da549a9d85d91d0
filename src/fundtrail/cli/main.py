"""Entry point of the `fundtrail` command: global options, logging, and the error mapping.

Every `FundtrailError` becomes one line on stderr and its documented exit code (docs/cli.md); so
does an `OSError` about a path the user gave (a missing directory, a directory where a file was
expected). Any other exception keeps its traceback (that is a bug to report, not bad input).

The global options `--store`, `--quiet`/`-q` and `--verbose`/`-v` are accepted before the subcommand
and after it (`fundtrail status --store X`, `fundtrail cluster run -q`, also in nested groups such as
`ingest bitcoin`), with the same precedence: flags > env > settings file > default; a `--store` given
in both places: the one after the subcommand wins.
"""

from __future__ import annotations

import copy
import errno
import logging
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import typer
import typer.core
import typer.main

from fundtrail.cli import audit as cli_audit
from fundtrail.cli import (commands_access, commands_bitcoin, commands_case, commands_case_evidence,
                          commands_case_files, commands_case_reports, commands_cluster, commands_ethereum,
                          commands_lookup, commands_risk, commands_serve, commands_sim, commands_store,
                          commands_tags, commands_trace, commands_verify, commands_watch, commands_delivery,
                          commands_freezes, commands_spark, commands_tron)
from fundtrail.errors import FundtrailError, Interrupted, UsageError
from fundtrail.settings import Settings

STORE_HELP = ("Store directory [env FUNDTRAIL_STORE; default ~/.local/share/fundtrail/store]; "
              "accepted before or after the subcommand.")

app = typer.Typer(
    name="fundtrail",
    help="Blockchain intelligence for anti-money-laundering investigations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
ingest_app = typer.Typer(help="Read chain data into the store.", no_args_is_help=True)
export_app = typer.Typer(help="Write stored data in the documented export formats.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(export_app, name="export")


def package_version() -> str:
    """The installed package's version (from its metadata, so it cannot drift from pyproject)."""
    try:
        return metadata.version("fundtrail")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"fundtrail {package_version()}")
        raise typer.Exit(0)


@app.callback()
def _global(
    ctx: typer.Context,
    store: Path | None = typer.Option(None, "--store", help=STORE_HELP),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-v info, -vv debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr; no progress."),
    as_user: str | None = typer.Option(None, "--as", help="Act as this user in the audit log "
                                        "[env FUNDTRAIL_USER; default: the operating-system user]."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_show_version,
                                 help="Print the version and exit."),
) -> None:
    level = "debug" if verbose >= 2 else "info" if verbose == 1 else "error" if quiet else None
    settings = Settings.load(store=store, log_level=level)
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper()),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = {"settings": settings, "quiet": quiet, "as_user": as_user}


commands_bitcoin.register(ingest_app)
commands_ethereum.register(ingest_app, export_app)
commands_tron.register(ingest_app)
commands_store.register(app, export_app)
commands_sim.register(app)
commands_tags.register(app)
commands_cluster.register(app)
commands_spark.register(app)
commands_trace.register(app)
commands_risk.register(app)
commands_lookup.register(app)
commands_access.register(app)
commands_case.register(app)
commands_case_evidence.register(app)
commands_case_reports.register(app)
commands_case_files.register(app)
commands_verify.register(app)
commands_watch.register(app)
commands_delivery.register(app)
commands_freezes.register(app)
commands_serve.register(app)


def _store_after_subcommand(ctx: Any, _param: Any, value: str | None) -> None:
    """`--store` given after a subcommand: replaces the store of the settings the root resolved."""
    if value is None or resilient(ctx):
        return
    obj = ctx.find_root().obj
    if isinstance(obj, dict) and "settings" in obj:
        obj["settings"] = obj["settings"].with_(store=Path(value).expanduser())


def _quiet_after_subcommand(ctx: Any, _param: Any, value: bool) -> None:
    """`--quiet` after a subcommand: no progress, only errors in the log."""
    if not value or resilient(ctx):
        return
    obj = ctx.find_root().obj
    if isinstance(obj, dict):
        obj["quiet"] = True
    logging.getLogger().setLevel(logging.ERROR)


def _verbose_after_subcommand(ctx: Any, _param: Any, value: int) -> None:
    """`-v`/`-vv` after a subcommand: info or debug log output."""
    if not value or resilient(ctx):
        return
    logging.getLogger().setLevel(logging.DEBUG if value >= 2 else logging.INFO)


_AFTER_SUBCOMMAND = {"--store": (_store_after_subcommand, "Store directory (the same as --store before "
                                                          "the subcommand)."),
                     "--quiet": (_quiet_after_subcommand, "Only errors on stderr; no progress."),
                     "--verbose": (_verbose_after_subcommand, "More log output (-v info, -vv debug).")}


def resilient(ctx: Any) -> bool:
    """True while click only parses for help or completion (no command will run)."""
    return bool(getattr(ctx, "resilient_parsing", False))


def _prepare(cmd: Any, globals_: list[Any] | None = None) -> None:
    """Plain (non-rich) help everywhere, and the global options (`--store`, `--quiet`, `--verbose`) on
    every subcommand and group: copies of the root's, which update what the root resolved."""
    if hasattr(cmd, "rich_markup_mode"):
        cmd.rich_markup_mode = None
    if globals_ is None:
        globals_ = [p for p in cmd.params if set(getattr(p, "opts", ())) & set(_AFTER_SUBCOMMAND)]
    else:
        for root_param in globals_:
            name = next(o for o in root_param.opts if o in _AFTER_SUBCOMMAND)
            if any(name in getattr(p, "opts", ()) for p in cmd.params):
                continue
            option = copy.copy(root_param)
            option.expose_value = False
            option.callback, option.help = _AFTER_SUBCOMMAND[name]
            option.show_default = False
            cmd.params.append(option)
    for param in cmd.params:  # a repeatable option reads `--raw <path>`, not `--raw <list[Path]>`
        ann = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        args = getattr(ann, "__args__", None) if getattr(ann, "__origin__", None) is list else None
        if isinstance(param, typer.core.TyperOption) and param.metavar is None and args:
            param.metavar = f"<{getattr(args[0], '__name__', 'value').lower()}>"
    for sub in getattr(cmd, "commands", {}).values():
        _prepare(sub, globals_)


def build_command() -> Any:
    """The click command tree of the app, prepared as `_prepare` says."""
    cmd = typer.main.get_command(app)
    _prepare(cmd)
    return cmd


_PATH_ERRNOS = {errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EEXIST,
                errno.ENAMETOOLONG, errno.EROFS}


def os_error_line(exc: OSError) -> tuple[str, int]:
    """One line and an exit code from the error tree for an OSError that reached the top."""
    where = f"{exc.filename}: " if exc.filename is not None else ""
    text = f"{where}{exc.strerror or exc}"
    if exc.errno in _PATH_ERRNOS:
        return f"cannot use {text} (check the path you gave)", UsageError.exit_code
    return text, FundtrailError.exit_code


def error_line(exc: FundtrailError, argv: list[str]) -> str:
    """The one line for an error; a message that begins with the request field at fault (as the
    service layer writes them: `min_value '-1' is not an amount`) names the option the user
    typed instead (`--min-value '-1' ...`)."""
    line = exc.one_line()
    if exc.field:
        flag = "--" + exc.field.replace("_", "-")
        if line.startswith(exc.field) and any(a == flag or a.startswith(flag + "=") for a in argv):
            line = flag + line[len(exc.field):]
    return line


def _run(cmd: Any, args: list[str]) -> tuple[int, str]:
    """Run the command line: (exit code, outcome `ok` or the error code) for the audit record."""
    try:
        rv = cmd.main(args=args, prog_name="fundtrail", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0  # click RETURNS typer.Exit(n)'s n here, it does not raise
        return code, "ok" if code == 0 else "error"
    except FundtrailError as exc:
        typer.echo(f"fundtrail: error: {error_line(exc, args)}", err=True)
        return exc.exit_code, exc.code
    except KeyboardInterrupt:
        typer.echo(f"fundtrail: {Interrupted('interrupted; committed batches are kept').one_line()}", err=True)
        return Interrupted.exit_code, Interrupted.code
    except typer.Exit as exc:
        return exc.exit_code, "ok" if exc.exit_code == 0 else "error"
    except typer.Abort:
        return 1, "aborted"
    except OSError as exc:
        line, code = os_error_line(exc)
        typer.echo(f"fundtrail: error: {line}", err=True)
        return code, "bad_request" if code == 2 else "error"
    except Exception as exc:  # usage errors of the option parser arrive here in non-standalone mode
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if type(exc).__name__ == "NoArgsIsHelpError":  # `fundtrail`, `fundtrail ingest`: usage
                typer.echo(exc.format_message())
                return 2, "bad_request"
            typer.echo(f"fundtrail: error: {exc.format_message()}", err=True)
            return 2, "bad_request"
        raise


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (docs/cli.md). Every command on a store is recorded in its
    audit log (docs/security.md), and refused (exit 4) when it could not be."""
    args = list(argv) if argv is not None else sys.argv[1:]
    cmd = build_command()
    try:
        plan = cli_audit.plan(cmd, args)  # None: --help, --version, no subcommand
    except FundtrailError as exc:  # the record could not be written, so the command must not run
        typer.echo(f"fundtrail: error: {error_line(exc, args)}", err=True)
        return exc.exit_code
    code, outcome = 1, "internal_error"  # kept if a bug's exception escapes _run
    try:
        code, outcome = _run(cmd, args)
    finally:
        if plan is not None:
            try:
                cli_audit.record_command(plan.settings, plan.actor, plan.command_path, args, code, outcome,
                                         command=cmd)
            except FundtrailError as exc:
                typer.echo(f"fundtrail: error: {error_line(exc, args)}", err=True)
                code = code or exc.exit_code
    return code


if __name__ == "__main__":
    sys.exit(main())
