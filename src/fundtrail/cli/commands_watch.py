"""`fundtrail watch add|list|remove` and `fundtrail alerts list|show|ack`: thin over the service layer
(`WatchOps`; docs/watch.md). Rules run on every committed ingest batch; these commands manage what
is watched and read what was raised. `alerts deliver|dead|replay` hang on `alerts_app` from
`commands_delivery`."""

from __future__ import annotations

import typer

from fundtrail.cli.audit import add_subject
from fundtrail.cli.context import workspace
from fundtrail.cli.output import echo_json
from fundtrail.workspace.watch_models import AlertRecord, WatchItem

watch_app = typer.Typer(help="Watch addresses, outputs, clusters, traced funds and categories; alert on rules.",
                        no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts raised by watch rules: list, show, acknowledge, deliver.", no_args_is_help=True)

JSON_HELP = "Print the result as JSON."
RULE_HELP = ("moved: any movement of the watched funds; deposit: a payment to the watched address, cluster or "
             "category (with --category: only from payers of that category); reaches-service: traced funds "
             "reach a service of the categories (exchange, ... by default) -- the alert names it and the "
             "amount; risk-above: a watched address's risk score (as `fundtrail risk` gives it) crosses "
             "--threshold upward, on new activity or a change of attribution.")


def register(app: typer.Typer) -> None:
    """Add the `watch` and `alerts` command groups."""
    app.add_typer(watch_app, name="watch")
    app.add_typer(alerts_app, name="alerts")


def _sat(text: str | None) -> str:
    if text is None:
        return "-"
    sat = int(text)
    return f"{sat // 100_000_000}.{sat % 100_000_000:08d}"


def _item_line(i: WatchItem) -> str:
    extra = []
    if i.categories:
        extra.append(",".join(i.categories))
    if i.policy:
        extra.append(i.policy)
    if i.min_value:
        extra.append(f">= {_sat(i.min_value)} BTC")
    if i.threshold is not None:
        extra.append(f"threshold {i.threshold:g}")
    if i.frontier is not None:
        extra.append(f"frontier {i.frontier} output(s), {_sat(i.frontier_amount)} BTC")
    if not i.evaluated:
        extra.append("not evaluated yet")
    if i.removed_at:
        extra.append(f"removed {i.removed_at} by {i.removed_by}")
    case = f" case {i.case_id}" if i.case_id else ""
    return (f"{i.id}  {i.chain}  {i.rule:15} {i.severity:8} {i.kind} {i.target}{case}"
            + (f"  [{'; '.join(extra)}]" if extra else ""))


def _alert_line(a: AlertRecord) -> str:
    flags = [f for f, on in (("acked", a.acked_at), ("retracted", a.retracted_by)) if on]
    return (f"{a.id}  {a.created_at}  {a.kind:10} {a.severity:8} {a.item_id} h{a.height}  {a.title}"
            + (f"  ({', '.join(flags)})" if flags else ""))


@watch_app.command("add")
def watch_add(ctx: typer.Context,
              targets: list[str] = typer.Argument(..., metavar="TARGET...",
                                                  help="An address, TXID:VOUT, txid (its outputs), cluster:N, "
                                                       "category:NAME, or a saved trace T-... of --case."),
              chain: str | None = typer.Option(None, "--chain", help="The chain (default: the store's only one)."),
              rule: str = typer.Option("moved", "--rule", help=RULE_HELP),
              category: str | None = typer.Option(None, "--category",
                                                  help="reaches-service: the service categories (comma-separated; "
                                                       "default the custodial ones trace stops at); deposit: the "
                                                       "payer's category (e.g. sanctioned)."),
              policy: str | None = typer.Option(None, "--policy", help="reaches-service: the taint policy "
                                                "(default: the saved trace's, else haircut)."),
              min_value: str | None = typer.Option(None, "--min-value", help="Alert only from this amount on "
                                                   "(0.01 for BTC, or 100000sat)."),
              threshold: float | None = typer.Option(None, "--threshold", help="risk-above: the risk score (0-100)."),
              name: str | None = typer.Option(None, "--name", help="A name for the item (default: rule and target)."),
              severity: str | None = typer.Option(None, "--severity", help="info, warning or critical "
                                                  "(default: critical for reaches-service, else warning)."),
              case: str | None = typer.Option(None, "--case", help="The case the item serves (its members see it; "
                                              "needed for a saved trace T-...)."),
              as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Watch TARGETs under a rule; alerts are raised by every later ingest batch."""
    result = workspace(ctx, writable=True).watch_add(
        targets, chain=chain, rule=rule, category=category, policy=policy, min_value=min_value,
        threshold=threshold, name=name, severity=severity, case=case)
    for i in result.items:
        add_subject(i.id)
    if as_json:
        echo_json(result)
        return
    for i in result.items:
        typer.echo(f"watching: {_item_line(i)}")
    for note in result.notes:
        typer.echo(f"note: {note}")


@watch_app.command("list")
def watch_list(ctx: typer.Context, all_items: bool = typer.Option(False, "--all", help="Removed items too."),
               as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the items you may see (yours and your cases'), oldest first."""
    result = workspace(ctx).watch_list(all=all_items)
    if as_json:
        echo_json(result)
        return
    for i in result.items:
        typer.echo(_item_line(i))
    if not result.items:
        typer.echo("nothing watched (add an item with `fundtrail watch add TARGET`)")


@watch_app.command("remove")
def watch_remove(ctx: typer.Context, item: str = typer.Argument(..., metavar="ITEM", help="Item id (W-...)."),
                 as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Stop watching an item (its alerts stay)."""
    result = workspace(ctx, writable=True).watch_remove(item)
    add_subject(result.id)
    echo_json(result) if as_json else typer.echo(f"removed: {_item_line(result)}")


@alerts_app.command("list")
def alerts_list(ctx: typer.Context, item: str | None = typer.Option(None, "--item", help="Only this item's."),
                unacked: bool = typer.Option(False, "--unacked", help="Only alerts not acknowledged."),
                since: str | None = typer.Option(None, "--since", help="Raised from this time on (ISO or unix)."),
                limit: int = typer.Option(100, "--limit", help="At most this many (1-1000)."),
                cursor: str | None = typer.Option(None, "--cursor", help="Continue a listing (its next_cursor)."),
                as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List alerts of the items you may see, newest first."""
    result = workspace(ctx).alerts_list(item=item, unacked=unacked, since=since, limit=limit, cursor=cursor)
    if as_json:
        echo_json(result)
        return
    for a in result.alerts:
        typer.echo(_alert_line(a))
    if not result.alerts:
        typer.echo("no alerts")
    if result.page.next_cursor:
        typer.echo(f"more: --cursor {result.page.next_cursor}")


@alerts_app.command("show")
def alert_show(ctx: typer.Context, alert: str = typer.Argument(..., metavar="ALERT", help="Alert id (AL-...)."),
               as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show an alert with its document (the webhook body)."""
    result = workspace(ctx).alert_show(alert)
    add_subject(result.id)
    if as_json:
        echo_json(result)
        return
    typer.echo(_alert_line(result))
    doc = result.document
    facts = doc.get("facts") or {}
    typer.echo(f"  item {doc['item']['id']} ({doc['item']['kind']} {doc['item']['target']}), chain {result.chain}, "
               f"block {result.height} {result.block_hash}, tx {result.txid}")
    if facts.get("outputs"):
        typer.echo(f"  outputs: {' '.join(facts['outputs'])}; amount {facts.get('amount')} sat"
                   + (f" (exact {facts['amount_exact']})" if facts.get("amount_exact") not in (None,
                                                                                               facts.get("amount"))
                      else ""))
    svc = doc.get("service")
    if svc:
        typer.echo(f"  service: {svc['label']} ({svc['category']}), deposit address {svc['address']}, via {svc['via']}"
                   + (f", tag source {svc['tag_source']}" if svc.get("tag_source") else ""))
    if result.retracted_by:
        typer.echo(f"  retracted by {result.retracted_by}")


@alerts_app.command("ack")
def alert_ack(ctx: typer.Context, alert: str = typer.Argument(..., metavar="ALERT", help="Alert id (AL-...)."),
              as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Acknowledge an alert (you have seen it and act on it)."""
    result = workspace(ctx, writable=True).alert_ack(alert)
    add_subject(result.id)
    echo_json(result) if as_json else typer.echo(f"acknowledged {result.id} ({result.acked_by}, {result.acked_at})")
