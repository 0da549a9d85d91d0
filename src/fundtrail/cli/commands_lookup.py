"""`fundtrail search`, `address`, `txs`, `tx`: look things up (docs/cli.md, "Looking things up").

Thin: options -> one workspace call -> text, or the result model's JSON with `--json`. Amounts are
shown in coin units with the unit named (BTC with 8 decimals; account-chain assets with their
decimals); times are UTC ISO 8601.
"""

from __future__ import annotations

from decimal import Decimal

import typer

from fundtrail.cli.context import workspace
from fundtrail.workspace.addresses import AddressSummary, AddressTxPage
from fundtrail.workspace.search import SearchResult
from fundtrail.workspace.transactions import TransactionDetail

_CHAIN_HELP = "Store chain name (default: every stored chain the address or txid fits)."


def _coins(amount: int | str | None, decimals: int | None, unit: str) -> str:
    """An exact base-unit amount in coin units (`0.5 BTC`); base units when decimals are unknown."""
    if amount is None:
        return "-"
    value = int(amount)
    if decimals is None:
        return f"{value} {unit} (base units)"
    text = f"{Decimal(value).scaleb(-decimals):f}" if decimals else str(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} {unit}"


def _btc(amount: int | str | None) -> str:
    return _coins(amount, 8, "BTC")


def _print_json(result: SearchResult | AddressSummary | AddressTxPage | TransactionDetail) -> None:
    typer.echo(result.model_dump_json(indent=2))


def _render_address(s: AddressSummary) -> None:
    typer.echo(f"{s.address} on {s.chain} ({s.script_type})" + ("" if s.seen else ": no activity, tagged"))
    if s.family == "utxo":
        typer.echo(f"  received {_btc(s.received)} in {s.received_count} output(s); sent {_btc(s.sent)}; "
                   f"balance {_btc(s.balance)}")
    for a in s.assets:
        unit = a.symbol or a.asset
        typer.echo(f"  {unit}: received {_coins(a.received, a.decimals, unit)}, sent "
                   f"{_coins(a.sent, a.decimals, unit)}, balance {_coins(a.balance, a.decimals, unit)} "
                   f"({a.transfers} transfer(s))")
    typer.echo(f"  {s.tx_count} transaction(s)")
    for what, seen in (("first seen", s.first_seen), ("last seen", s.last_seen)):
        if seen is not None:
            typer.echo(f"  {what}: block {seen.height}, {seen.time}, tx {seen.txid}")
    if s.cluster_id is not None:
        typer.echo(f"  cluster {s.cluster_id} ({s.cluster_size} address(es), run #{s.cluster_run})")
    for t in s.tags:
        src = f" from {t.inherited_from}" if t.inherited_from else ""
        typer.echo(f"  [{t.kind}{src}] {t.category or '-'}: {t.label} ({t.confidence}, {t.source or '-'})")
    if s.risk is not None:
        typer.echo(f"  risk {s.risk.score:g} ({s.risk.severity or 'none'}) under profile {s.risk.profile}")


def _render_txs(p: AddressTxPage, family_utxo: bool) -> None:
    typer.echo(f"{p.address} on {p.chain}: {p.total} transaction(s)")
    for tx in p.txs:
        head = f"  {tx.time or '-'}  block {tx.height}  {tx.txid or '(no transaction)'}"
        if family_utxo:
            typer.echo(f"{head}  +{_btc(tx.received)}  -{_btc(tx.sent)}")
            continue
        typer.echo(head)
        for t in tx.transfers:
            sign = {"in": "+", "out": "-", "self": "="}[t.direction]
            who = f" {'from' if t.direction == 'in' else 'to'} {t.counterparty}" if t.counterparty else ""
            typer.echo(f"      {t.kind} {sign}{t.amount} {t.asset} (base units){who}")
    if p.page.next_cursor:
        typer.echo(f"more: --cursor {p.page.next_cursor}")


def _render_tx(d: TransactionDetail) -> None:
    typer.echo(f"{d.txid} on {d.chain}: block {d.height} ({d.block_hash}), {d.time}")
    if d.family == "utxo":
        typer.echo(f"  fee {_btc(d.fee)}" + (f", {d.vsize} vbytes" if d.vsize else "")
                   + (", coinbase" if d.coinbase else ""))
        typer.echo(f"  {len(d.inputs)} input(s):")
        for i in d.inputs:
            what = "coinbase" if i.coinbase else f"{i.prevout} {i.address or '-'} {_btc(i.value)}"
            typer.echo(f"    {i.n}: {what}" + (" (unresolved)" if i.unresolved else ""))
        typer.echo(f"  {len(d.outputs)} output(s):")
        for o in d.outputs:
            spent = f" spent by {o.spent_by.txid}:{o.spent_by.input}" if o.spent_by else " unspent"
            typer.echo(f"    {o.n}: {o.address or '(' + o.script_type + ')'} {_btc(o.value)}{spent}")
    else:
        native = next((t.symbol for t in d.transfers if t.contract is None and t.symbol), "native")
        places = next((t.decimals for t in d.transfers if t.contract is None and t.decimals is not None), 18)
        status = {1: "success", 0: "failed"}.get(d.status if d.status is not None else -1, "unknown")
        typer.echo(f"  {status}; from {d.from_address} to {d.to_address or d.contract_created}; "
                   f"fee {_coins(d.fee, places, native)}")
        for t in d.transfers:
            unit = t.symbol or t.asset
            amount = _coins(t.amount, t.decimals, unit) if t.token_id is None else f"token id {t.token_id}"
            typer.echo(f"    {t.kind}: {t.from_address or '-'} -> {t.to_address or '-'} {amount}"
                       + ("" if t.success else " (failed)"))
    for tag in d.tags:
        typer.echo(f"  tag {tag.address}: {tag.category or '-'}: {tag.label} ({tag.source or '-'})")


def register(app: typer.Typer) -> None:
    """Add the lookup commands to the top-level app."""

    @app.command("search")
    def search_cmd(ctx: typer.Context, query: str = typer.Argument(..., help="Address, txid, TXID:VOUT, cluster "
                                                                       "id, tag label or actor."),
                   limit: int = typer.Option(20, "--limit", help="At most this many hits (1-1000)."),
                   as_json: bool = typer.Option(False, "--json")) -> None:
        """What a string is in the store: address, transaction, output, cluster, tag or actor."""
        result = workspace(ctx).search(query, limit=limit)
        if as_json:
            _print_json(result)
            return
        for h in result.hits:
            typer.echo(f"{h.kind}\t{h.chain or '-'}\t{h.text}\t{h.label}\t{h.link}")
        typer.echo(f"{len(result.hits)} hit(s)", err=True)

    @app.command("address")
    def address_cmd(ctx: typer.Context, address: str = typer.Argument(...),
                    chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
                    as_json: bool = typer.Option(False, "--json")) -> None:
        """An address's summary: totals, first and last activity, cluster, tags, risk."""
        result = workspace(ctx).address(address, chain=chain)
        if as_json:
            _print_json(result)
        else:
            _render_address(result)

    @app.command("txs")
    def txs_cmd(ctx: typer.Context, address: str = typer.Argument(...),
                chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
                limit: int = typer.Option(50, "--limit", help="Transactions per page (1-1000)."),
                cursor: str | None = typer.Option(None, "--cursor", help="Continue after a previous page."),
                as_json: bool = typer.Option(False, "--json")) -> None:
        """An address's transactions, oldest first, a page at a time."""
        ws = workspace(ctx)
        result = ws.address_txs(address, chain=chain, limit=limit, cursor=cursor)
        if as_json:
            _print_json(result)
        else:
            _render_txs(result, ws.chain(result.chain).family == "utxo")

    @app.command("tx")
    def tx_cmd(ctx: typer.Context, txid: str = typer.Argument(...),
               chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
               as_json: bool = typer.Option(False, "--json")) -> None:
        """A transaction: inputs and outputs with spenders (UTXO), or every transfer (account chains)."""
        result = workspace(ctx).transaction(txid, chain=chain)
        if as_json:
            _print_json(result)
        else:
            _render_tx(result)
