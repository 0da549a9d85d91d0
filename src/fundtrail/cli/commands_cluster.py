"""`fundtrail cluster ...`: cluster what is stored, show a cluster, explain why two addresses are linked,
and record analyst overrides (docs/cli.md, docs/clustering.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import typer

from fundtrail.cluster import explain, overrides, query, runs
from fundtrail.cluster.engine import RunSummary, check_params, parse_heuristics, run_clustering
from fundtrail.cluster.labels import AddressLabels
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.errors import UsageError
from fundtrail.store import Store
from fundtrail.store.select import select_chain

cluster_app = typer.Typer(help="Address clustering with explainable evidence.", no_args_is_help=True)

_CHAIN_HELP = "Store chain name (default: the only chain in the store)."


def _store(ctx: typer.Context) -> Store:
    """The existing store, migrated (a store ingested by an older fundtrail lacks the cluster tables)."""
    store = Store.open(ctx.obj["settings"].store, create=False)
    store.migrate()
    return store


def _chain(store: Store, chain: str | None) -> str:
    return select_chain(store, chain)[0]


def _progress(quiet: bool):
    if quiet:
        return None
    t0 = time.perf_counter()

    def update(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - t0, 1e-9)
        typer.echo(f"clustering: {done:,}/{total:,} transactions ({rate:,.0f} tx/s)", err=True)

    return update


def _print_summary(s: RunSummary) -> None:
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


def _print_why(r: dict) -> None:
    typer.echo(r["answer"])
    for i, st in enumerate(r["steps"], 1):
        what = st.get("reason") or f"{st['heuristic']} in tx {st['txid']} (confidence {st['confidence']:g})"
        typer.echo(f"  {i}. {st['from']} -> {st['to']}: {what}")


@cluster_app.command("run")
def run_cmd(
    ctx: typer.Context,
    heuristics: str = typer.Option("multi-input", "--heuristics",
                                   help="Comma list: multi-input, change (UTXO); deposit (account chains)."),
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
    store = _store(ctx)
    name, family = select_chain(store, chain)
    names = parse_heuristics(h for h in heuristics.split(",") if h.strip())
    names = check_params(family, names, change_floor, coinjoin_floor)[0]
    say = _say(ctx.obj["quiet"])
    hot: list[int] = []
    if hot_wallet:
        with open_snapshot(store, name) as snap:
            hot = [query.address_id(snap, a) for a in hot_wallet]
    services = _service_labels(store, name, say)
    say(f"clustering {name} with {', '.join(names)}")
    summary = run_clustering(store, name, heuristics=names, change_floor=change_floor,
                             coinjoin_floor=coinjoin_floor, full=full, hot_wallets=hot,
                             service_labels=services, progress=_progress(ctx.obj["quiet"]))
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        _print_summary(summary)


@cluster_app.command("show")
def show_cmd(
    ctx: typer.Context,
    address: str = typer.Argument(..., help="Address string."),
    chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The cluster of an address: id, members, totals received and sent, first and last activity, tags.

    Amounts are shown in the chain's coin (BTC with 8 decimals); --json gives them exactly in base
    units (satoshi, wei) with `unit`, `asset` and `decimals`. A tag several members carry is one
    line saying how many."""
    store = _store(ctx)
    with open_snapshot(store, _chain(store, chain)) as snap:
        r = query.show(store, snap, address)
        r.update(_units(snap.chain, snap.family))
        r.update(_cluster_tags(store, snap, r))
    if as_json:
        typer.echo(json.dumps(r, indent=2, default=str))
        return
    typer.echo(f"{r['address']} is in cluster {r['cluster_id']} ({r['cluster_address']}), "
               f"{r['members']:,} address(es), run #{r['run_id']}")
    typer.echo(f"  received {_amount(r['received'], r)} in {r['received_count']:,} outputs, "
               f"sent {_amount(r['sent'], r)} in {r['sent_count']:,} inputs; "
               f"active {r['first_activity']} .. {r['last_activity']}")
    if r["overrides"]:
        typer.echo(f"  analyst overrides: {', '.join(map(str, r['overrides']))}")
    for t in r["tags"][:_SHOW_TAGS]:
        typer.echo(f"  tag: {t.get('category') or '-'} '{t['label']}' ({_carriers(t, r['address'])})")
    if len(r["tags"]) > _SHOW_TAGS:
        typer.echo(f"  … and {len(r['tags']) - _SHOW_TAGS} more tags; --json lists all")
    if r.get("tag_members_read", 0) < r["members"] and r["tags"]:
        typer.echo(f"  (tags read from the first {r['tag_members_read']:,} members)")
    if r.get("possible_false_merge"):
        typer.echo(f"  WARNING: members are tagged as different services ({r['conflict']}): "
                   "possibly a false merge")


#: Tags `cluster show` prints (--json lists all).
_SHOW_TAGS = 20


def _units(chain: str, family: str) -> dict:
    """Asset, base unit and decimals of the amounts `cluster show` reports."""
    if family == "account":
        from fundtrail.model.chains import EVM_CHAINS

        evm = EVM_CHAINS.get(chain)
        return {"asset": evm.native_symbol if evm else "ETH", "unit": "wei",
                "decimals": evm.native_decimals if evm else 18}
    return {"asset": "BTC", "unit": "satoshi", "decimals": 8}


def _amount(base_units: int | str, r: dict) -> str:
    """An exact amount in base units shown in the asset with all its decimals (no float rounding)."""
    whole, frac = divmod(int(base_units), 10 ** r["decimals"])
    return f"{whole:,}.{frac:0{r['decimals']}d} {r['asset']}"


def _carriers(tag: dict, address: str) -> str:
    """Who carries a tag: the address itself and/or how many other members (one example named)."""
    others = tag["members"] - (1 if tag["kind"] == "direct" else 0)
    if tag["kind"] == "direct":
        return "this address" + (f" and {others:,} other member(s)" if others else "")
    if others == 1:
        return f"inherited from {tag['carried_by'][0]}"
    return f"inherited from {others:,} members, e.g. {tag['carried_by'][0]}"


@cluster_app.command("why")
def why_cmd(
    ctx: typer.Context,
    address_a: str = typer.Argument(...),
    address_b: str = typer.Argument(...),
    chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The chain of evidence transactions that puts two addresses in one cluster (or that they are not)."""
    store = _store(ctx)
    with open_snapshot(store, _chain(store, chain)) as snap:
        r = explain.why(store, snap, address_a, address_b)
    if as_json:
        typer.echo(json.dumps(r, indent=2))
    else:
        _print_why(r)


def _record(ctx: typer.Context, chain: str | None, kind: str, addrs: list[str], reason: str,
            author: str, as_json: bool) -> None:
    store = _store(ctx)
    name = _chain(store, chain)
    with open_snapshot(store, name) as snap:
        ids = [query.address_id(snap, a) for a in addrs]
    ov = overrides.record(store, name, kind, ids, reason, author)
    if as_json:
        typer.echo(json.dumps(_override_json(ov, addrs), indent=2))
    else:
        typer.echo(f"override #{ov.override_id} recorded: {ov.describe()} ({', '.join(addrs)}); "
                   "in force now and after every run")


def _override_json(ov: overrides.Override, texts: list[str] | None = None) -> dict:
    return {"override_id": ov.override_id, "chain": ov.chain, "kind": ov.kind,
            "address_ids": list(ov.addresses), **({"addresses": texts} if texts else {}),
            "reason": ov.reason, "author": ov.author, "created_at": ov.created_at.isoformat()}


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
    _record(ctx, chain, overrides.MERGE, [address_a, address_b], reason, author, as_json)


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
    _record(ctx, chain, overrides.SPLIT, addresses, reason, author, as_json)


@cluster_app.command("overrides")
def overrides_cmd(
    ctx: typer.Context,
    chain: str | None = typer.Option(None, "--chain", help=_CHAIN_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Analyst overrides in the order they apply."""
    store = _store(ctx)
    name = _chain(store, chain)
    ovs = overrides.list_overrides(store, name)
    with open_snapshot(store, name) as snap:
        texts = query.address_texts(snap, [a for ov in ovs for a in ov.addresses])
    rows = [_override_json(ov, [texts.get(a, str(a)) for a in ov.addresses]) for ov in ovs]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no overrides for {name}")
    for r in rows:
        typer.echo(f"#{r['override_id']} {r['kind']} {' '.join(r['addresses'])} by {r['author']} "
                   f"({r['created_at'][:19]}): {r['reason']}")


@cluster_app.command("runs")
def runs_cmd(
    ctx: typer.Context,
    chain: str | None = typer.Option(None, "--chain", help="Only this chain."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Recent clustering runs, newest first."""
    rows = [r.to_json() for r in runs.list_runs(_store(ctx), chain)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        typer.echo(f"#{r['run_id']} {r['chain']} {r['status']} {r['mode']} {r['heuristics']} "
                   f"tx {r['tx_lo']}..{r['tx_hi']}, {r['n_clusters']} clusters, largest {r['largest']}"
                   + (f": {r['message']}" if r["message"] else ""))


def register(app: typer.Typer) -> None:
    """Add the `cluster` command group to the top-level app."""
    app.add_typer(cluster_app, name="cluster")


#: Members whose tags `cluster show` reads (a bigger cluster says how many it looked at).
_SHOW_TAG_MEMBERS = 200_000


#: Member addresses named per tag in `carried_by` (the count is always complete).
_CARRIERS_LISTED = 10


def _cluster_tags(store: Store, snap, r: dict) -> dict:  # noqa: ANN001 (cluster Snapshot)
    """Tags of the address and those its cluster inherits from members, one entry per distinct tag
    (currency, category, label) with how many members carry it, and the conflict check."""
    from fundtrail.tags.lookup import cluster_tags, tags_of

    if not _has_tags(store):
        return {"tags": [], "possible_false_merge": False, "conflict": None, "tag_members_read": 0}
    cl = query.load_clustering(store, snap.chain)
    members = cl.members(r["cluster_id"])[:_SHOW_TAG_MEMBERS]
    texts = query.address_texts(snap, members)
    with store.connect(read_only=True) as con:
        own = tags_of(con, r["address"])
        inherited = cluster_tags(con, [texts[int(m)] for m in members if int(m) in texts])
    carried = [{**t, "member": r["address"]} for t in own]
    carried += [t for t in inherited["tags"] if t["member"] != r["address"]]
    return {"tags": _distinct_tags(carried, r["address"]),
            "possible_false_merge": inherited["possible_false_merge"],
            "conflict": inherited["conflict"], "tag_members_read": int(members.size)}


def _distinct_tags(carried: list[dict], address: str) -> list[dict]:
    """One entry per (currency, category, label), from its strongest instance, with `members` (how
    many members carry it), `carried_by` (the first few others), `kind` direct when the address
    does and `member` (the address if direct, else the first carrier); direct tags first, then the
    most widely carried."""
    groups: dict[tuple, dict] = {}
    for t in carried:
        key = (t.get("currency"), t.get("category"), t["label"])
        g = groups.get(key)
        if g is None:
            g = groups[key] = {k: v for k, v in t.items() if k not in ("member", "tag_key", "address")}
            g.update(kind="inherited", _members=[])
        elif t["confidence_level"] > g["confidence_level"]:
            g.update({k: v for k, v in t.items() if k not in ("member", "tag_key", "address", "kind")})
        if t["member"] not in g["_members"]:
            g["_members"].append(t["member"])
        if t["member"] == address:
            g["kind"] = "direct"
    out = []
    for g in groups.values():
        carriers = g.pop("_members")
        others = [m for m in carriers if m != address]
        member = address if g["kind"] == "direct" else others[0]  # as before: whom it comes from
        out.append({**g, "member": member, "members": len(carriers), "carried_by": others[:_CARRIERS_LISTED]})
    out.sort(key=lambda t: (t["kind"] != "direct", -t["members"], -t["confidence_level"], t["label"]))
    return out


def _has_tags(store: Store) -> bool:
    from fundtrail.tags.lookup import has_tags

    with store.connect(read_only=True) as con:
        return has_tags(con)


#: The strongest service tag of each address of one currency, as the guard's label
#: "category: actor" (the label when no actor): one query, however many tags are stored.
_SERVICE_TAGS_SQL = """
SELECT address, category || ': ' || coalesce(nullif(actor, ''), label) FROM tags
WHERE currency = ? AND category IN (SELECT unnest(?))
QUALIFY row_number() OVER (PARTITION BY address
                           ORDER BY confidence_level DESC, category, coalesce(nullif(actor, ''), label)) = 1
"""


def _service_labels(store: Store, chain: str, say: Callable[[str], None]) -> AddressLabels | None:
    """The guard's hook over the chain currency's service tags (single-operator categories: two of
    them in one cluster = likely false merge); None without tags. The tags are matched to address
    ids in bulk, only for the members the guard asks about (`fundtrail.cluster.labels`)."""
    from fundtrail.tags.lookup import has_tags
    from fundtrail.tags.taxonomy import CATEGORIES
    from fundtrail.trace.attribution import chain_currency

    currency = chain_currency(chain)
    t0 = time.perf_counter()
    with store.connect(read_only=True) as con:
        if not has_tags(con):
            return None
        services = [c.id for c in CATEGORIES.values() if c.service]
        rows = con.execute(_SERVICE_TAGS_SQL, [currency, services]).fetchall()
    if not rows:
        return None
    say(f"{len(rows):,} service-tagged {currency} addresses for the false-merge guard "
        f"({time.perf_counter() - t0:.1f} s)")
    return AddressLabels(store, chain, dict(rows), progress=say)


def _say(quiet: bool) -> Callable[[str], None]:
    """A progress line on stderr per step (nothing with --quiet)."""
    def say(text: str) -> None:
        if not quiet:
            typer.echo(f"cluster: {text}", err=True)

    return say
