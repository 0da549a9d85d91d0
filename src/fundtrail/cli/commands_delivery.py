"""`fundtrail webhooks ...` and `fundtrail alerts deliver|dead|replay`: thin over DeliveryOps.

A webhook's secret is read from one line of standard input (`--secret-stdin`) or made at random,
never taken from an argument (arguments show in `ps` and are recorded in the audit log); it is
printed once, by `webhooks add`. Any local user who can write the store may manage its webhooks.
"""

from __future__ import annotations

import sys

import typer

from fundtrail.cli.commands_watch import alerts_app
from fundtrail.cli.context import workspace
from fundtrail.cli.output import echo_json
from fundtrail.errors import UsageError
from fundtrail.workspace.delivery_models import DeliveryResult, WebhookRecord

__all__ = ["alerts_app", "register", "webhooks_app"]

webhooks_app = typer.Typer(help="Webhooks alerts are delivered to (signed with HMAC-SHA256).", no_args_is_help=True)
JSON_HELP = "Print the result as JSON."


def register(app: typer.Typer) -> None:
    """Add the `webhooks` command group (the alert commands hang on `alerts_app`)."""
    app.add_typer(webhooks_app, name="webhooks")


def _read_secret() -> str:
    try:
        line = sys.stdin.readline()
    except UnicodeDecodeError:
        raise UsageError("secret read from standard input is not valid UTF-8", field="secret") from None
    secret = line.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise UsageError("no secret on standard input (give it on one line, or omit --secret-stdin for a "
                         "random one)", field="secret")
    return secret


def _webhook_line(w: WebhookRecord) -> str:
    state = f"removed {w.removed_at}" if w.removed_at else "active"
    return (f"{w.id}  {w.url}  by {w.owner} {w.created_at}; {state}; "
            f"{w.delivered} delivered, {w.pending} pending, {w.dead} dead")


@webhooks_app.command("add")
def webhooks_add(ctx: typer.Context, url: str = typer.Argument(..., help="http:// or https:// URL to POST alerts to "
                                                                       "(no user:password@)."),
                 secret_stdin: bool = typer.Option(False, "--secret-stdin", help="Read the HMAC secret from one "
                                                   "line of standard input (default: a random 32-byte one)."),
                 as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Add a webhook; its HMAC secret is printed this once."""
    ws = workspace(ctx, writable=True)
    secret = _read_secret() if secret_stdin else None
    created = ws.webhook_add(url, secret=secret)
    if as_json:
        echo_json(created)
        return
    if secret is None:
        typer.echo(created.secret)
    typer.echo(f"webhook {created.id} -> {created.url}: alerts raised from now on are delivered to it "
               f"(`fundtrail alerts deliver`)" + ("; store the secret printed above now, it is not shown again"
                                                  if secret is None else ""), err=True)


@webhooks_app.command("list")
def webhooks_list(ctx: typer.Context,
                  removed: bool = typer.Option(False, "--removed", help="Also list removed webhooks."),
                  as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List webhooks with their delivery counts (never their secrets)."""
    result = workspace(ctx).webhook_list(include_removed=removed)
    if as_json:
        echo_json(result)
        return
    for w in result.webhooks:
        typer.echo(_webhook_line(w))
    if not result.webhooks:
        typer.echo("no webhooks (add one with `fundtrail webhooks add URL`)")


@webhooks_app.command("remove")
def webhooks_remove(ctx: typer.Context,
                    webhook_id: str = typer.Argument(..., metavar="ID", help="Webhook id (WH-…)."),
                    as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Remove a webhook; its pending deliveries become dead ("webhook removed")."""
    result = workspace(ctx, writable=True).webhook_remove(webhook_id)
    if as_json:
        echo_json(result)
        return
    typer.echo(f"webhook {result.webhook.id} removed; {result.dead_lettered} pending deliveries dead-lettered")


def _delivery_summary(r: DeliveryResult) -> str:
    later = f", the next due {r.next_attempt_at}" if r.pending and r.next_attempt_at else ""
    return (f"{r.attempted} attempts: {r.delivered} delivered, {r.retrying} to retry, {r.dead} dead; "
            f"{r.pending} pending{later}")


@alerts_app.command("deliver")
def alerts_deliver(ctx: typer.Context,
                   once: bool = typer.Option(False, "--once", help="One round of what is due (the default)."),
                   until_idle: bool = typer.Option(False, "--until-idle", help="Keep delivering, waiting for "
                                                   "retries to fall due, until nothing is pending (or --max-wait)."),
                   max_wait: float = typer.Option(60.0, "--max-wait", help="With --until-idle: seconds to wait "
                                                  "in all for deliveries to fall due."),
                   limit: int = typer.Option(100, "--limit", help="At most this many attempts per round."),
                   as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Deliver the alerts that are due to their webhooks (signed POSTs; retries with backoff)."""
    if once and until_idle:
        raise UsageError("give --once or --until-idle, not both", field="until_idle")
    result = workspace(ctx, writable=True).alerts_deliver(limit=limit, until_idle=until_idle, max_wait=max_wait)
    if as_json:
        echo_json(result)
        return
    for o in result.outcomes:
        why = f": {o.error}" if o.error else ""
        typer.echo(f"{o.alert_id} -> {o.webhook_id}: {o.status} (attempt {o.attempts}){why}")
    typer.echo(_delivery_summary(result), err=True)


@alerts_app.command("dead")
def alerts_dead(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """The dead-letter list: deliveries given up, with the last error (replay them with `alerts replay`)."""
    result = workspace(ctx).alerts_dead()
    if as_json:
        echo_json(result)
        return
    for d in result.dead:
        gone = " (webhook removed)" if d.webhook_removed else ""
        typer.echo(f"{d.alert_id} -> {d.webhook_id}{gone}: {d.attempts} attempts, last error: {d.last_error}; "
                   f"{d.severity} {d.rule}: {d.title}")
    if not result.dead:
        typer.echo("no dead deliveries")


@alerts_app.command("replay")
def alerts_replay(ctx: typer.Context,
                  alert_id: str | None = typer.Argument(None, metavar="[ALERT_ID]", help="Alert id (AL-…)."),
                  all_dead: bool = typer.Option(False, "--all-dead", help="Every dead delivery."),
                  as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Put dead deliveries back to pending (attempts 0): those of ALERT_ID, or --all-dead."""
    if (alert_id is None) == (not all_dead):
        raise UsageError("give an ALERT_ID or --all-dead (not both)", field="alert_id")
    result = workspace(ctx, writable=True).alerts_replay(alert_id, all_dead=all_dead)
    if as_json:
        echo_json(result)
        return
    left = f"; {result.left_dead} left dead (webhook removed)" if result.left_dead else ""
    typer.echo(f"{result.replayed} deliveries back to pending{left}; run `fundtrail alerts deliver`")
