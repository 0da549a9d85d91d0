"""`fundtrail freezes`: the stablecoin issuers' freeze actions of an account chain (docs/freezes.md).

Thin: options -> `Workspace.freezes` -> one line per action, newest first, or the result's JSON with
`--json`. A page at a time (`--limit`); the next page's `--cursor` is printed at the end.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fundtrail.cli.context import workspace
from fundtrail.cli.output import echo_json
from fundtrail.workspace.freeze_models import FreezeRow, FreezesRequest

_ACTION = {"blacklisted": "blacklisted", "unblacklisted": "unblacklisted", "destroyed": "funds destroyed"}


def _line(r: FreezeRow) -> str:
    token = f"{r.token_symbol} {r.token}" if r.token_symbol else r.token
    issuer = "" if r.issuer_known else "  (issuer not known)"
    amount = f" {r.amount_display or r.amount}{' ' + r.token_symbol if r.token_symbol else ''}" if r.amount else ""
    now = "  [frozen now]" if r.frozen_now else ""
    return (f"{r.time}  block {r.block}  {_ACTION.get(r.action, r.action)}{amount}  {r.address}  by {token}"
            f"{issuer}{now}  tx {r.tx}")


def register(app: typer.Typer) -> None:
    """Hang `freezes` on the root app."""

    @app.command("freezes")
    def freezes_cmd(ctx: typer.Context,
                    chain: str | None = typer.Option(None, "--chain", help="Account chain (default: the "
                                                     "store's only one)."),
                    token: str | None = typer.Option(None, "--token", help="Token contract address, or a "
                                                     "known issuer's symbol (USDT, USDC)."),
                    address: str | None = typer.Option(None, "--address", help="Only this address's actions."),
                    limit: int = typer.Option(100, "--limit", help="Actions per page (1-1000)."),
                    cursor: str | None = typer.Option(None, "--cursor", help="Next page (printed at the end)."),
                    profile: Path | None = typer.Option(None, "--profile", help="Risk profile whose freeze "
                                                        "rules add issuer contracts (default: shipped)."),
                    as_json: bool = typer.Option(False, "--json")) -> None:
        """Stablecoin freezes: issuers' blacklist, unblacklist and destroyed-funds actions, newest first."""
        req = FreezesRequest(chain=chain, token=token, address=address, limit=limit, cursor=cursor,
                             profile=str(profile) if profile else None)
        result = workspace(ctx).freezes(req)
        if as_json:
            echo_json(result)
            return
        typer.echo(f"{result.total} freeze action(s) on {result.chain}, newest first")
        for r in result.freezes:
            typer.echo(f"  {_line(r)}")
        if result.page.next_cursor:
            typer.echo(f"more: --cursor {result.page.next_cursor}")
