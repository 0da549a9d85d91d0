"""`fundtrail risk` and `fundtrail screen`: explainable risk scores for addresses and transactions."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from fundtrail.cli.commands_trace import chain_of, utxo_chain
from fundtrail.errors import DataError, UsageError
from fundtrail.risk.account_assess import AccountAssessor, is_account_tx_hash
from fundtrail.risk.assess import Assessor
from fundtrail.risk.profile import Profile, load_profile
from fundtrail.store import Store

SCREEN_COLUMNS = ("input", "kind", "score", "severity", "profile", "top_reasons", "activity_in_store",
                  "error")


def _reason_text(r: dict) -> str:
    if r["kind"] == "tag":
        tag = r["tags"][0]
        return f"{r['rule']} ({r['score']:g}): tagged {tag['category']} '{tag['label']}'"
    return (f"{r['rule']} ({r['score']:g}): {r['share']:.2%} {r['direction']} {r['hops']} "
            f"{r['category']}" + (f" via {r['via_address']}" if r.get("via_address") else ""))


def _assessor(store: Store, chain: str | None, profile: Profile) -> Assessor | AccountAssessor:
    """The assessor of the chain to work on: account chains (given, or the store's only chain) get
    the account assessor; otherwise the store's UTXO chain as before."""
    if chain is not None or len(store.chains()) == 1:
        name, family = chain_of(store, chain)
        if family == "account":
            return AccountAssessor(store, name, profile)
    return Assessor(store, utxo_chain(store, chain), profile)


def _is_transaction(assessor: Assessor | AccountAssessor, text: str) -> bool:
    t = text.strip()
    if isinstance(assessor, AccountAssessor):
        return is_account_tx_hash(t)
    return len(t) == 64 and all(c in "0123456789abcdefABCDEF" for c in t)


def register(app: typer.Typer) -> None:
    """Add `risk` and `screen` to the top-level app."""

    @app.command("risk")
    def risk_cmd(
        ctx: typer.Context,
        addresses: list[str] = typer.Argument(..., help="Addresses (or txids) to score."),
        profile: Optional[Path] = typer.Option(None, "--profile", help="Rule profile YAML (default: shipped)."),
        chain: Optional[str] = typer.Option(None, "--chain",
                                            help="Store chain (default: the only chain, else the only UTXO chain)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    ) -> None:
        """Score 0-100 with the reasons (tags, exposure by category, share, hops) under a rule profile."""
        prof = load_profile(profile)
        store = Store.open(ctx.obj["settings"].store, create=False)
        assessor = _assessor(store, chain, prof)
        results = []
        for text in addresses:
            if _is_transaction(assessor, text):
                results.append(assessor.transaction(text.strip()))
            else:
                results.extend(assessor.addresses([text]))
        for r in results:
            if as_json:
                typer.echo(json.dumps(r.as_dict()))
                continue
            sev = f" ({r.severity})" if r.severity else ""
            typer.echo(f"{r.address}: risk {r.score:g}/100{sev} under {r.profile}")
            if r.note:
                typer.echo(f"  note: {r.note}")
            for reason in r.reasons:
                typer.echo(f"  - {_reason_text(reason)}")
                typer.echo(f"    {reason['explain']}")
            if not r.reasons:
                typer.echo("  no rule matched")

    @app.command("screen")
    def screen_cmd(
        ctx: typer.Context,
        file: Path = typer.Argument(..., help="CSV with a column of addresses or txids (header row)."),
        column: str = typer.Option("address", "--column", help="Column holding the addresses/txids."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="CSV to write (default stdout)."),
        profile: Optional[Path] = typer.Option(None, "--profile", help="Rule profile YAML (default: shipped)."),
        chain: Optional[str] = typer.Option(None, "--chain"),
        top: int = typer.Option(3, "--top", help="Reasons per row."),
    ) -> None:
        """Batch screening: CSV in, CSV out with score, severity and the top reasons per row."""
        prof = load_profile(profile)
        try:
            with open(file, newline="") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames is None or column not in reader.fieldnames:
                    cols = ", ".join(reader.fieldnames or []) or "none"
                    raise UsageError(f"{file}: no column {column!r} (columns: {cols}); use --column")
                inputs = [row[column] or "" for row in reader]
        except OSError as exc:
            raise UsageError(f"cannot read {file}: {exc.strerror}") from None
        except csv.Error as exc:
            raise DataError(f"{file}: not valid CSV ({exc})") from None
        store = Store.open(ctx.obj["settings"].store, create=False)
        assessor = _assessor(store, chain, prof)
        rows = assessor.screen(inputs)
        fh = open(output, "w", newline="") if output else sys.stdout
        try:
            w = csv.writer(fh)
            w.writerow(SCREEN_COLUMNS)
            for s in rows:
                r = s.result
                w.writerow([s.input, s.kind, f"{r.score:g}" if r else "", (r.severity or "") if r else "",
                            prof.label, " | ".join(_reason_text(x) for x in r.reasons[:top]) if r else "",
                            str(r.activity).lower() if r else "", s.error or ""])
        finally:
            if output:
                fh.close()
        bad = sum(1 for s in rows if s.error)
        if bad:
            typer.echo(f"fundtrail: {bad} of {len(rows)} inputs could not be screened (see the error column)",
                       err=True)
