"""`fundtrail cluster ...`: cluster what is stored, show a cluster and its members, explain why two
addresses are linked, and record analyst overrides (docs/cli.md, docs/clustering.md).

Each command makes one service call (`fundtrail.workspace`, `ClusterOps`) and renders its result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from fundtrail.cli.context import quiet, workspace
from fundtrail.errors import FundtrailError
from fundtrail.workspace import Progress, no_progress
from fundtrail.workspace.cluster_models import (
    ClusterOverrideRequest,
    ClusterOverrideResult,
    ClusterResult,
    ClusterRunRequest,
    ClusterRunResult,
    ClusterTag,
    ClusterWhyResult,
)

cluster_app = typer.Typer(help="Address clustering with explainable evidence.", no_args_is_help=True)

_CHAIN_HELP = "Store chain name (default: the only chain in the store)."
#: Tags `cluster show` prints (--json lists all).
_SHOW_TAGS = 20


def register(app: typer.Typer) -> None:
    """Add the `cluster` command group to the top-level app."""
    app.add_typer(cluster_app, name="cluster")


@contextmanager
def _options_named(ctx: typer.Context) -> Iterator[None]:
    """An error about a request field this command has as an option names the option, even when
    the user did not type it (a missing `--change-floor`)."""
    try:
        yield
    except FundtrailError as exc:
        field = exc.field or ""
        flag = "--" + field.replace("_", "-")
        if field and exc.message.startswith(field) and any(flag in getattr(p, "opts", ()) for p in ctx.command.params):
            exc.message = flag + exc.message[len(field):]
        raise


def _progress(ctx: typer.Context) -> Progress:
    """Progress on stderr: transactions clustered with their rate, and each step's note."""
    if quiet(ctx):
        return no_progress
    t0 = time.perf_counter()

    def update(stage: str, done: int, total: int) -> None:
        if stage == "clustering":
            rate = done / max(time.perf_counter() - t0, 1e-9)
            typer.echo(f"clustering: {done:,}/{total:,} transactions ({rate:,.0f} tx/s)", err=True)
        else:
            typer.echo(f"cluster: {stage}", err=True)

    return update


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


@cluster_app.command("run")
def run_cmd(
    ctx: typer.Context,
    heuristics: str = typer.Option("multi-input", "--heuristics",
                                   help="Comma list: multi-input, change (UTXO); deposit (account chains); "
                                        "delegation (TRON, opt-in)."),
    chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
    change_floor: float | None = typer.Option(None, "--change-floor",
                                              help="Minimum change confidence (0..1); needed with change."),
    coinjoin_floor: float = typer.Option(0.5, "--coinjoin-floor",
                                         help="CoinJoin confidence from which multi-input links are skipped."),
    full: bool = typer.Option(False, "--full", help="Recompute from scratch instead of incrementally."),
    hot_wallet: list[str] | None = typer.Option(None, "--hot-wallet",
                                                help="Exchange hot wallet (account chains; repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Summary as JSON."),
) -> None:
    """Cluster the chain's addresses (incremental when possible); progress on stderr, summary on stdout."""
    req = ClusterRunRequest(chain=chain, heuristics=heuristics.split(","), change_floor=change_floor,
                            coinjoin_floor=coinjoin_floor, full=full, hot_wallets=hot_wallet or [])
    with _options_named(ctx):
        summary = workspace(ctx, writable=True).cluster_run(req, _progress(ctx))
    if as_json:
        _echo_json(summary.model_dump(mode="json"))
    else:
        _print_summary(summary)


def _print_summary(s: ClusterRunResult) -> None:
    typer.echo(f"cluster run #{s.run_id} on {s.chain}: {s.mode} ({s.reason})")
    typer.echo(f"  heuristics {', '.join(s.heuristics)}"
               + (f", change floor {s.change_floor}" if s.change_floor is not None else "")
               + (f", coinjoin floor {s.coinjoin_floor}" if s.coinjoin_floor is not None else ""))
    typer.echo(f"  transactions {s.tx_lo:,}..{s.tx_hi:,} ({s.n_tx:,} new"
               + (f", {s.revisited_tx:,} revisited for late-resolved inputs" if s.revisited_tx else "") + ")")
    typer.echo(f"  {s.n_links:,} links, {s.n_unions:,} unions; {s.n_addresses:,} addresses in "
               f"{s.n_clusters:,} multi-address clusters (largest {s.largest:,}); {s.seconds:.2f} s")
    if s.suspects:
        typer.echo(f"  {len(s.suspects)} suspicious cluster(s), possibly false merges:")
        for sp in s.suspects[:50]:
            typer.echo(f"    cluster {sp.cluster_id} ({sp.size:,} addresses) {sp.reason}: {sp.detail}")


@cluster_app.command("show")
def show_cmd(
    ctx: typer.Context,
    ref: str = typer.Argument(..., metavar="ADDRESS_OR_CLUSTER_ID",
                              help="A member address, or a cluster id (digits)."),
    chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The cluster of an address (or a cluster id): id, members, totals received and sent, activity, tags.

    Amounts are shown in the chain's coin (BTC with 8 decimals); --json gives them exactly in base
    units (satoshi, wei) with `unit`, `asset` and `decimals`. A tag several members carry is one
    line saying how many."""
    r = workspace(ctx).cluster(ref, chain=chain)
    if as_json:
        _echo_json(r.model_dump(mode="json"))
        return
    typer.echo(f"{r.address} is in cluster {r.cluster_id} ({r.cluster_address}), "
               f"{r.members:,} address(es), run #{r.run_id}")
    typer.echo(f"  received {_amount(r.received, r)} in {r.received_count:,} outputs, "
               f"sent {_amount(r.sent, r)} in {r.sent_count:,} inputs; "
               f"active {r.first_activity} .. {r.last_activity}")
    if r.overrides:
        typer.echo(f"  analyst overrides: {', '.join(map(str, r.overrides))}")
    for t in r.tags[:_SHOW_TAGS]:
        typer.echo(f"  tag: {t.category or '-'} '{t.label}' ({_carriers(t, r.address)})")
    if len(r.tags) > _SHOW_TAGS:
        typer.echo(f"  … and {len(r.tags) - _SHOW_TAGS} more tags; --json lists all")
    if r.tag_members_read < r.members and r.tags:
        typer.echo(f"  (tags read from the first {r.tag_members_read:,} members)")
    if r.possible_false_merge and r.conflict is not None:
        typer.echo(f"  WARNING: members are tagged as different services ({r.conflict.reason}): "
                   "possibly a false merge")


def _amount(base_units: int | str, r: ClusterResult) -> str:
    """An exact amount in base units shown in the asset with all its decimals (no float rounding)."""
    whole, frac = divmod(int(base_units), 10 ** r.decimals)
    return f"{whole:,}.{frac:0{r.decimals}d} {r.asset}"


def _carriers(tag: ClusterTag, address: str) -> str:
    """Who carries a tag: the address itself and/or how many other members (one example named)."""
    others = tag.members - (1 if tag.kind == "direct" else 0)
    if tag.kind == "direct":
        return "this address" + (f" and {others:,} other member(s)" if others else "")
    if others == 1:
        return f"inherited from {tag.carried_by[0]}"
    return f"inherited from {others:,} members, e.g. {tag.carried_by[0]}"


@cluster_app.command("members")
def members_cmd(
    ctx: typer.Context,
    ref: str = typer.Argument(..., metavar="ADDRESS_OR_CLUSTER_ID",
                              help="A member address, or a cluster id (digits)."),
    chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
    limit: int = typer.Option(100, "--limit", help="Members per page (1..1000)."),
    cursor: str | None = typer.Option(None, "--cursor", help="Where to continue (next_cursor of a page)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A cluster's member addresses in address-id order, one page at a time."""
    page = workspace(ctx).cluster_members(ref, chain=chain, limit=limit, cursor=cursor)
    if as_json:
        _echo_json(page.model_dump(mode="json"))
        return
    for m in page.members:
        typer.echo(m.address)
    more = f"; next page: --cursor {page.next_cursor}" if page.next_cursor else ""
    typer.echo(f"{len(page.members)} of {page.size:,} members of cluster {page.cluster_id}{more}", err=True)


@cluster_app.command("why")
def why_cmd(
    ctx: typer.Context,
    address_a: str = typer.Argument(...),
    address_b: str = typer.Argument(...),
    chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The chain of evidence transactions that puts two addresses in one cluster (or that they are not)."""
    r = workspace(ctx).cluster_why(address_a, address_b, chain=chain)
    if as_json:
        _echo_json(r.model_dump(mode="json"))
    else:
        _print_why(r)


def _print_why(r: ClusterWhyResult) -> None:
    typer.echo(r.answer)
    for i, st in enumerate(r.steps, 1):
        what = st.reason or f"{st.heuristic} in tx {st.txid} (confidence {st.confidence:g})"
        typer.echo(f"  {i}. {st.from_} -> {st.to}: {what}")


def _record(ctx: typer.Context, req: ClusterOverrideRequest, as_json: bool) -> None:
    with _options_named(ctx):
        ov = workspace(ctx, writable=True).cluster_override(req)
    if as_json:
        _echo_json(ov.model_dump(mode="json"))
    else:
        typer.echo(f"override #{ov.override_id} recorded: {_describe(ov)} ({', '.join(ov.addresses or [])}); "
                   "in force now and after every run")


def _describe(ov: ClusterOverrideResult) -> str:
    return f"manual {ov.kind} by {ov.author}: {ov.reason}"


@cluster_app.command("merge")
def merge_cmd(
    ctx: typer.Context,
    address_a: str = typer.Argument(...),
    address_b: str = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", help="Why (kept as evidence)."),
    author: str = typer.Option(..., "--author", help="Who decided."),
    chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Merge the clusters of two addresses (an analyst override, kept across runs)."""
    _record(ctx, ClusterOverrideRequest(kind="merge", addresses=[address_a, address_b], reason=reason,
                                        author=author, chain=chain), as_json)


@cluster_app.command("split")
def split_cmd(
    ctx: typer.Context,
    addresses: list[str] = typer.Argument(..., help="Addresses to take out into a cluster of their own."),
    reason: str = typer.Option(..., "--reason", help="Why (kept as evidence)."),
    author: str = typer.Option(..., "--author", help="Who decided."),
    chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Take addresses out of their clusters into one of their own (an analyst override, kept across runs)."""
    _record(ctx, ClusterOverrideRequest(kind="split", addresses=addresses, reason=reason, author=author,
                                        chain=chain), as_json)


@cluster_app.command("overrides")
def overrides_cmd(
    ctx: typer.Context,
    chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Analyst overrides in the order they apply."""
    ws = workspace(ctx)
    rows = ws.cluster_overrides(chain=chain).root
    if as_json:
        _echo_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        typer.echo(f"no overrides for {ws.chain(chain).name}")
    for r in rows:
        typer.echo(f"#{r.override_id} {r.kind} {' '.join(r.addresses or [])} by {r.author} "
                   f"({r.created_at[:19]}): {r.reason}")


@cluster_app.command("runs")
def runs_cmd(
    ctx: typer.Context,
    chain: str | None = typer.Option(None, "--chain", help="Only this chain."),
    limit: int = typer.Option(20, "--limit", help="How many runs (1..1000)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recent clustering runs, newest first."""
    rows = workspace(ctx).cluster_runs(chain=chain, limit=limit).root
    if as_json:
        _echo_json([r.model_dump(mode="json") for r in rows])
        return
    for r in rows:
        typer.echo(f"#{r.run_id} {r.chain} {r.status} {r.mode} {r.heuristics} "
                   f"tx {r.tx_lo}..{r.tx_hi}, {r.n_clusters} clusters, largest {r.largest}"
                   + (f": {r.message}" if r.message else ""))
