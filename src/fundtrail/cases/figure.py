"""The money-flow figure of a saved trace: our own layered left-to-right drawing, as inline SVG.

Seeds on the left, the transactions (UTXO) or addresses (account chains) the traced value went
through in the middle, the endpoints on the right (services named, amounts exact). No layout
library and no randomness: the same trace always gives the same bytes, so a report can be
regenerated and compared. Large traces are summarised so the figure stays readable at A4 width:
only the paths to endpoints carrying at least 1 % of the traced value are drawn (the rest are
counted in a line under the figure), and runs of single-in, single-out transactions (peel chains,
hops through one address) are drawn as one box that says how many transactions it stands for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from html import escape
from typing import Any

from fundtrail.cases.report_i18n import amount_text
from fundtrail.cases.report_services import exact, stop_tag, unit_of

#: Endpoints under this share of the traced value are counted, not drawn.
MIN_SHARE = Fraction(1, 100)
MAX_ENDPOINTS = 18
#: A graph deeper or wider than this is drawn summarised (`_summarise`).
MAX_MIDDLE = 4
MAX_ROWS = 18
WIDTH = 1000
ROW = 34
BOX_H = 28
END_W = 250
SEED_W = 120


@dataclass
class _Node:
    id: str
    kind: str  # seed, tx, chain, end
    title: str
    sub: str = ""
    height: int | None = None
    count: int = 1
    layer: int = 0
    pos: float = 0.0
    service: bool = False
    rank: str = ""


@dataclass
class Figure:
    """The SVG and what it leaves out (endpoints not drawn and their exact total)."""

    svg: str
    drawn_endpoints: int
    omitted_endpoints: int
    omitted_amount: Fraction
    unit: dict[str, Any] = field(default_factory=dict)


def _short(text: str, n: int = 10) -> str:
    return text if len(text) <= n + 1 else text[:n] + "…"


def _graph(result: dict[str, Any], t: Callable[..., str]) -> tuple[dict[str, _Node], list[tuple[str, str, Fraction]],
                                                                  dict[str, Fraction]]:
    """Nodes, edges (from, to, exact amount) and each endpoint node's amount."""
    graph = result.get("graph") or {}
    nodes: dict[str, _Node] = {}
    for n in graph.get("nodes") or []:
        label = str(n.get("txid") or n.get("address") or n["id"])
        sub = t("fig_block", height=n["height"]) if n.get("height") is not None else ""
        nodes[n["id"]] = _Node(n["id"], "tx", _short(label), sub, n.get("height"))
    by_output: dict[str, dict[str, Any]] = {}
    by_address: dict[str, dict[str, Any]] = {}
    stop_at = list((result.get("limits") or {}).get("stop_at") or [])
    ends: dict[str, Fraction] = {}
    for e in result.get("endpoints") or []:
        for o in e.get("outputs") or []:
            by_output[o] = e
        if e.get("address"):
            by_address[f"addr:{e['address']}"] = e
    edges: list[tuple[str, str, Fraction]] = []
    for ed in graph.get("edges") or []:
        src, dst = ed.get("from"), ed.get("to")
        endpoint = by_output.get(str(ed.get("output"))) if dst is None else by_address.get(str(dst))
        if src is None or src not in nodes:
            continue
        if endpoint is not None and (dst is None or dst not in nodes or endpoint.get("reason") != "unspent"):
            dst = f"end:{endpoint.get('address')}|{endpoint.get('reason')}"
            if dst not in nodes:
                tag = stop_tag(endpoint, stop_at) if endpoint.get("reason") == "service" else None
                name = str(tag["label"]) if tag and tag.get("label") else t(f"reason_{endpoint.get('reason')}")
                unit = unit_of(result, endpoint)
                sub = f"{_short(str(endpoint.get('address') or '-'), 22)} · " + amount_text(
                    exact(endpoint), symbol=unit["symbol"], decimals=unit["decimals"])
                nodes[dst] = _Node(dst, "end", name, sub, service=tag is not None, rank=f"{name}|{dst}")
                ends[dst] = exact(endpoint)
        if dst is None or dst not in nodes:
            continue
        edges.append((src, dst, exact(ed)))
    return nodes, edges, ends


def _keep(nodes: dict[str, _Node], edges: list[tuple[str, str, Fraction]], ends: dict[str, Fraction],
          total: Fraction) -> tuple[set[str], int, Fraction]:
    """Nodes on paths to the endpoints drawn; (kept, endpoints omitted, their amount)."""
    least = total * MIN_SHARE
    big = [k for k, v in ends.items() if total and v >= least]  # sort only these: a large trace has 10,000s
    drawn = sorted(big, key=lambda k: (-ends[k], k))[:MAX_ENDPOINTS] or \
        sorted(ends, key=lambda k: (-ends[k], k))[:1]
    incoming: dict[str, list[str]] = {}
    for s, d, _ in edges:
        incoming.setdefault(d, []).append(s)
    keep, todo = set(drawn), list(drawn)
    while todo:
        for s in incoming.get(todo.pop(), []):
            if s not in keep:
                keep.add(s)
                todo.append(s)
    omitted = [k for k in ends if k not in keep]
    return keep, len(omitted), sum((ends[k] for k in omitted), Fraction(0))


def _compress(nodes: dict[str, _Node], edges: list[tuple[str, str, Fraction]],
              t: Callable[..., str]) -> list[tuple[str, str, Fraction]]:
    """Merge runs of single-in, single-out transactions into one `chain` node."""
    ins: dict[str, list[int]] = {}
    outs: dict[str, list[int]] = {}
    for i, (s, d, _) in enumerate(edges):
        outs.setdefault(s, []).append(i)
        ins.setdefault(d, []).append(i)

    def simple(n: str) -> bool:
        return nodes[n].kind == "tx" and len(ins.get(n, [])) == 1 and len(outs.get(n, [])) == 1

    drop: set[int] = set()
    extra: list[tuple[str, str, Fraction]] = []
    gone: set[str] = set()
    for n in sorted(nodes, key=lambda k: (nodes[k].height or 0, k)):
        if n in gone or not simple(n) or simple(edges[ins[n][0]][0]):
            continue
        run = [n]
        while simple(edges[outs[run[-1]][0]][1]) and edges[outs[run[-1]][0]][1] not in run:
            run.append(edges[outs[run[-1]][0]][1])
        if len(run) < 2:
            continue
        first, last = nodes[run[0]], nodes[run[-1]]
        first.kind, first.count = "chain", len(run)
        first.sub = t("fig_chain", count=len(run), first=first.height, last=last.height)
        drop.update(outs[m][0] for m in run)
        _, dst, amount = edges[outs[run[-1]][0]]
        extra.append((run[0], dst, amount))
        gone.update(run[1:])
    for m in gone:
        del nodes[m]
    return [e for i, e in enumerate(edges) if i not in drop] + extra


def _layers(nodes: dict[str, _Node], edges: list[tuple[str, str, Fraction]]) -> int:
    """Longest path from the sources (bounded, so a cycle of account transfers cannot loop);
    sources are seeds, endpoints take the last column."""
    has_in = {d for _, d, _ in edges}
    for n in nodes.values():
        n.layer = 0
        if n.id not in has_in and n.kind != "end":
            n.kind = "seed" if n.kind == "tx" else n.kind
    for _ in range(len(nodes)):
        moved = False
        for s, d, _ in edges:
            if nodes[d].kind != "end" and nodes[d].layer < nodes[s].layer + 1 <= len(nodes):
                nodes[d].layer, moved = nodes[s].layer + 1, True
        if not moved:
            break
    last = max((n.layer for n in nodes.values() if n.kind != "end"), default=0) + 1
    for n in nodes.values():
        if n.kind == "end":
            n.layer = last
    return last + 1


def _summarise(nodes: dict[str, _Node], edges: list[tuple[str, str, Fraction]],
               t: Callable[..., str]) -> list[tuple[str, str, Fraction]]:
    """Five columns for a deep or wide graph: seeds, the first transactions after them, one box
    for everything in between, the transactions that paid the endpoints, the endpoints; edges
    between groups carry the summed traced amount."""
    ends = {k for k, n in nodes.items() if n.kind == "end"}
    ins: dict[str, set[str]] = {}
    outs: dict[str, set[str]] = {}
    for s, d, _ in edges:
        ins.setdefault(d, set()).add(s)
        outs.setdefault(s, set()).add(d)
    sources = {k for k in nodes if k not in ends and not ins.get(k)}
    first = {k for k in nodes if k not in ends | sources and ins.get(k) and ins[k] <= sources}
    last = {k for k in nodes if k not in ends | sources | first and outs.get(k) and outs[k] <= ends}
    if len(first) > MAX_ROWS:
        first = set()
    if len(last) > MAX_ROWS:
        last = set()
    group = {k: k for k in nodes}
    middle = [k for k in nodes if k not in ends | sources | first | last]
    if len(sources) > MAX_ROWS:
        for k in sources:
            group[k] = "seeds"
        nodes["seeds"] = _Node("seeds", "seed", t("fig_many_seeds", count=len(sources)))
    if middle:
        heights = [h for h in (nodes[k].height for k in middle) if h is not None]
        count = sum(nodes[k].count for k in middle)
        sub = t("fig_middle_blocks", first=min(heights), last=max(heights)) if heights else ""
        nodes["middle"] = _Node("middle", "middle", t("fig_middle", count=count), sub)
        for k in middle:
            group[k] = "middle"
    merged: dict[tuple[str, str], Fraction] = {}
    for s, d, a in edges:
        key = (group[s], group[d])
        if key[0] != key[1]:
            merged[key] = merged.get(key, Fraction(0)) + a
    for k in [k for k, g in group.items() if g != k]:
        del nodes[k]
    column = {**dict.fromkeys(sources, 0), "seeds": 0, **dict.fromkeys(first, 1), "middle": 2, **dict.fromkeys(last, 3)}
    for k, n in nodes.items():
        n.layer = 4 if n.kind == "end" else column[k]
    return [(s, d, a) for (s, d), a in sorted(merged.items())]


def _order(nodes: dict[str, _Node], edges: list[tuple[str, str, Fraction]], n_layers: int) -> None:
    """Rows within each column: barycentre of the neighbours, a few sweeps, ties by id."""
    cols: list[list[str]] = [sorted((k for k, n in nodes.items() if n.layer == i),
                                    key=lambda k: (nodes[k].height or 0, k)) for i in range(n_layers)]
    for col in cols:
        for i, k in enumerate(col):
            nodes[k].pos = float(i)
    nbr: dict[str, list[str]] = {}
    for s, d, _ in edges:
        nbr.setdefault(d, []).append(s)
        nbr.setdefault(s, []).append(d)

    def key(k: str) -> tuple[float, str]:
        ps = [nodes[m].pos for m in nbr.get(k, [])]
        return (sum(ps) / len(ps) if ps else nodes[k].pos, nodes[k].rank or k)

    for sweep in range(4):
        for col in (cols[1:] if sweep % 2 == 0 else cols[-2::-1]):
            col.sort(key=key)
            for i, k in enumerate(col):
                nodes[k].pos = float(i)


def draw(result: dict[str, Any], t: Callable[..., str]) -> Figure:
    """The figure of one saved trace's result (`fundtrail trace --json`), labels in `t`'s language."""
    nodes, edges, ends = _graph(result, t)
    seed = result.get("seed") or {}
    total = Fraction(str(seed.get("value_exact") or seed.get("value_sat") or 0)) or sum(ends.values(), Fraction(0))
    keep, omitted, omitted_amount = _keep(nodes, edges, ends, total)
    nodes = {k: v for k, v in nodes.items() if k in keep}
    edges = [e for e in edges if e[0] in keep and e[1] in keep]
    edges = _compress(nodes, edges, t)
    n_layers = _layers(nodes, edges)
    widest = max(sum(1 for n in nodes.values() if n.layer == i) for i in range(n_layers))
    if n_layers - 2 > MAX_MIDDLE or widest > MAX_ROWS:
        edges = _summarise(nodes, edges, t)
        n_layers = 5
    _order(nodes, edges, n_layers)
    rows = max([sum(1 for n in nodes.values() if n.layer == i) for i in range(n_layers)] + [1])
    height = rows * ROW + 40
    mid = max(n_layers - 2, 1)
    box_w = min(120.0, (WIDTH - END_W - SEED_W - 20) / mid - 14)
    gap = (WIDTH - END_W - SEED_W - 20 - mid * box_w) / (mid + 1)

    def x_of(n: _Node) -> float:
        if n.kind == "end":
            return WIDTH - END_W
        if n.layer == 0:
            return 0.0
        return SEED_W + gap + (n.layer - 1) * (box_w + gap)

    spare = not any(n.layer == 3 for n in nodes.values())  # summarised with no "paid the endpoints" column

    def w_of(n: _Node) -> float:
        if n.kind == "middle" and spare:
            return 2 * box_w + gap  # the one box in between takes the empty column too: its text stays legible
        return END_W if n.kind == "end" else SEED_W if n.layer == 0 else box_w

    def y_of(n: _Node) -> float:
        count = sum(1 for m in nodes.values() if m.layer == n.layer)
        return 24 + (rows - count) * ROW / 2 + n.pos * ROW

    unit = unit_of(result, (result.get("endpoints") or [{}])[0]) if result.get("endpoints") else unit_of(result, {})
    parts = [f'<svg viewBox="0 0 {WIDTH} {height}" class="flow" '
             f'font-family="DejaVu Sans, WenQuanYi Micro Hei, sans-serif" font-size="9">',
             '<defs><marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" '
             'orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#555"/></marker></defs>']
    heads = [(0.0, t("fig_seeds")), (SEED_W + gap, t("fig_transactions")), (WIDTH - END_W, t("fig_endpoints"))]
    parts += [f'<text x="{x:.1f}" y="12" font-weight="bold">{escape(h)}</text>' for x, h in heads]
    show_amounts = gap >= 56
    for s, d, amount in sorted(edges, key=lambda e: (e[0], e[1])):
        a, b = nodes[s], nodes[d]
        x1, y1 = x_of(a) + w_of(a), y_of(a) + BOX_H / 2
        x2, y2 = x_of(b), y_of(b) + BOX_H / 2
        cx = (x1 + x2) / 2
        parts.append(f'<path d="M{x1:.1f},{y1:.1f} C{cx:.1f},{y1:.1f} {cx:.1f},{y2:.1f} {x2 - 1:.1f},{y2:.1f}" '
                     'fill="none" stroke="#777" stroke-width="0.8" marker-end="url(#arrow)"/>')
        if show_amounts and b.kind != "end":
            label = amount_text(amount, symbol="", decimals=unit["decimals"])
            parts.append(f'<text x="{cx:.1f}" y="{(y1 + y2) / 2 - 2:.1f}" text-anchor="middle" font-size="7" '
                         f'fill="#333">{escape(label)}</text>')
    for n in sorted(nodes.values(), key=lambda m: (m.layer, m.pos)):
        x, y, w = x_of(n), y_of(n), w_of(n)
        fill = {"seed": "#fde2e1", "end": "#dff0d8" if n.service else "#eeeeee", "chain": "#fff4d6",
                "middle": "#f3f3f3"}.get(n.kind, "#e8eef7")
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{BOX_H}" rx="3" fill="{fill}" '
                     'stroke="#555" stroke-width="0.6"/>')
        size = min(9.0, (w - 8) / (0.62 * max(len(n.title), 1)))
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 11:.1f}" font-weight="bold" font-size="{size:.1f}">'
                     f'{escape(n.title)}</text>')
        size = min(7.5, (w - 8) / (0.58 * max(len(n.sub), 1)))
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 23:.1f}" font-size="{size:.1f}">{escape(n.sub)}</text>')
    parts.append("</svg>")
    return Figure("".join(parts), sum(1 for n in nodes.values() if n.kind == "end"), omitted, omitted_amount, unit)
