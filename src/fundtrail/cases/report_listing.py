"""Long lists of deposit addresses as monospace listings, for reports and letters.

A table row per deposit address costs WeasyPrint about a second per hundred rows (a box per
cell, borders, styles), so a service with hundreds of deposit addresses made the report of a
10,000-transaction case take twenty seconds. A listing is the same facts as aligned text: one
line per address (its amount under each saved trace, its first arrival in UTC), and indented
below it the outputs or transactions that carried the value. Column heads are trace ids (ASCII,
so the columns stay aligned in Chinese too); a sentence above the listing names their policies.
"""

from __future__ import annotations

from typing import Any

#: More deposit addresses than this are shown as a listing, not a table.
TABLE_ROWS = 40
#: Usable width of an A4 portrait page in points (210 mm less 2 x 16 mm margins), and
#: DejaVu Sans Mono's advance width per point of font size.
PAGE_PT, MONO_ADVANCE = 500.0, 0.602


def chunks(lines: list[str], size: int = 80) -> list[str]:
    """Lines joined in blocks of `size`: WeasyPrint lays out one long `<pre>` a fifth slower than
    the same lines in several."""
    return ["\n".join(lines[i:i + size]) for i in range(0, len(lines), size)]


def listing(rows: list[dict[str, Any]], cols: list[dict[str, Any]], *, below: str,
            total: tuple[list[str], str] | None = None) -> dict[str, Any]:
    """The listing of `rows` (each with `address`, `cells` (one per column of `cols`), `arrival`
    and the list `below` to indent under it), with an optional total line (cells, label).
    Returns `chunks` (text blocks) and `size` (the font size in points that fits the page)."""
    width = max(len(str(r["address"])) for r in rows)
    cells = [max(len(c["id"]), *(len(r["cells"][i]) for r in rows), len(total[0][i]) if total else 0)
             for i, c in enumerate(cols)]

    def line(first: str, values: list[str], last: str) -> str:
        return f"{first:<{width}}" + "".join(f"  {v:>{w}}" for v, w in zip(values, cells, strict=True)) + f"  {last}"

    lines = [line("", [c["id"] for c in cols], "UTC")]
    for r in rows:
        lines.append(line(str(r["address"]), r["cells"], str(r["arrival"]).removesuffix(" UTC")))
        lines += [f"    {x}" for x in r[below]]
    chars = max(len(x) for x in lines)
    if total:
        lines.append(line("", total[0], total[1]))
    size = max(4.5, min(7.0, int(10 * PAGE_PT / (MONO_ADVANCE * chars)) / 10))
    return {"chunks": chunks(lines), "size": size}
