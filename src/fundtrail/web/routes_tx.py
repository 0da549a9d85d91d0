"""The transaction page: header facts, inputs and outputs (UTXO) or transfers (account chains), the
tags of every address involved, and where each output went.

The service returns the whole transaction (the twin is that document, as the API gives it); the
page shows at most `ROWS` inputs, outputs or transfers at a time and pages the rest with
`?in_page=`, `?out_page=`, `?tr_page=`, so a transaction with 5,000 outputs stays a small page.
Links to an output or input of another transaction open the page of that transaction at the row
(`?out_page=N#out-V`), so following money from output to spender to output keeps its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from fundtrail.errors import UsageError
from fundtrail.web.pages import View, WebRoute, native_unit, open_view, page_link, split_twin
from fundtrail.workspace.lookup_models import TransactionDetail, TxTag

router = APIRouter(route_class=WebRoute, include_in_schema=False)
#: Inputs, outputs or transfers shown per page.
ROWS = 200
FIGURE_SPACE = "\u2007"  # as wide as a digit in tabular figures


@dataclass(frozen=True)
class PageLink:
    """One entry of a pager: a page number (None: an ellipsis) and its link (None: this page)."""

    number: int | None
    href: str | None


@dataclass(frozen=True)
class Rows:
    """The slice of a list that one page shows: rows `start`..`end` (0-based, end exclusive) of
    `total`, page `page` of `pages`, and the pager's links."""

    items: Sequence[Any]
    start: int
    end: int
    total: int
    page: int
    pages: int
    links: list[PageLink] = field(default_factory=list)
    prev_href: str | None = None
    next_href: str | None = None


def whole_number(value: str, field: str) -> int:
    """A query parameter that must be a whole number >= 1, read here rather than by FastAPI so that
    a twin's mistake is answered with the error document like every other (UsageError naming it)."""
    text = value.strip()
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 9 and int(text) >= 1):
        shown = text if len(text) <= 20 else text[:17] + "..."
        raise UsageError(f"{field} must be a whole number from 1 (got {shown!r})", field=field)
    return int(text)


def page_of(index: int) -> int:
    """The page (1-based) showing row `index` (0-based)."""
    return index // ROWS + 1


def page_numbers(page: int, pages: int) -> list[int | None]:
    """The page numbers a pager shows: first, last, and two either side of `page` (None: a gap)."""
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    out: list[int | None] = []
    for before, n in zip([None, *shown], shown, strict=False):
        if before is not None and n - before > 1:
            out.append(None)
        out.append(n)
    return out


def href_with(path: str, params: dict[str, int], param: str, page: int, anchor: str) -> str:
    """`path` with the page parameters (`param` set to `page`; page 1 left out) and `#anchor`."""
    query = {k: v for k, v in {**params, param: page}.items() if v != 1}
    return path + ("?" + urlencode(query) if query else "") + f"#{anchor}"


def rows_of(items: Sequence[Any], page: int, param: str, path: str, params: dict[str, int],
            anchor: str) -> Rows:
    """Page `page` of `items`; UsageError naming `param` past the last page."""
    total = len(items)
    pages = max(1, -(-total // ROWS))
    if page > pages:
        raise UsageError(f"{param} {page} is past the last page ({pages}) of this transaction", field=param)
    start, end = (page - 1) * ROWS, min(total, page * ROWS)

    def link(n: int) -> str:
        return href_with(path, params, param, n, anchor)

    links = [PageLink(n, None if n == page or n is None else link(n)) for n in page_numbers(page, pages)] \
        if pages > 1 else []
    return Rows(items[start:end], start, end, total, page, pages, links,
                link(page - 1) if page > 1 else None, link(page + 1) if page < pages else None)


def row_href(chain: str, txid: str, param: str, index: int, anchor: str) -> str:
    """The link to row `index` of another transaction's inputs (`in_page`) or outputs (`out_page`)."""
    page = page_of(index)
    return page_link("tx", chain, txid) + (f"?{param}={page}" if page > 1 else "") + f"#{anchor}-{index}"


def tags_by_address(tags: Sequence[TxTag]) -> dict[str, list[TxTag]]:
    """The transaction's tags grouped by the address carrying them."""
    out: dict[str, list[TxTag]] = {}
    for tag in tags:
        out.setdefault(tag.address, []).append(tag)
    return out


def distinct_tags(tags: Sequence[TxTag]) -> list[TxTag]:
    """One tag per (category, label) among the transaction's, in order (the header's summary)."""
    seen: dict[tuple[str | None, str], TxTag] = {}
    for tag in tags:
        seen.setdefault((tag.category, tag.label), tag)
    return list(seen.values())


def transfer_kinds(view: View, chain: str | None = None) -> dict[str, str]:
    """The names of account-chain transfer kinds in the page's language (TRON's token standards
    are TRC-10/20/721: the same `erc20`/`erc721` rows, named as TRON names them)."""
    if chain is not None and chain.startswith("tron"):
        return {"native": view.t("native transfer"), "internal": view.t("internal transfer"),
                "erc20": view.t("TRC-20 token"), "erc721": view.t("TRC-721 token (NFT)"),
                "trc10": view.t("TRC-10 token"), "fee": view.t("transaction fee"),
                "reward": view.t("voting reward")}
    return {"native": view.t("native transfer"), "internal": view.t("internal transfer"),
            "erc20": view.t("ERC-20 token"), "erc721": view.t("ERC-721 token (NFT)"),
            "erc1155": view.t("ERC-1155 token"), "withdrawal": view.t("validator withdrawal"),
            "fee": view.t("transaction fee"), "reward": view.t("block reward")}


def aligned(text: str, decimals: int) -> str:
    """A formatted amount (`1.01 BTC`) padded with figure spaces to `decimals` fraction digits, so a
    column of amounts lines up at the decimal point (`1.01      BTC` over `0.00110719 BTC`)."""
    number, space, unit = text.partition(" ")
    _, point, fraction = number.partition(".")
    pad = max(0, decimals - len(fraction)) + (0 if point else 1)
    return number + FIGURE_SPACE * pad + space + unit


def fee_rate(detail: TransactionDetail) -> float | None:
    """Satoshi per virtual byte (UTXO), None when fee or vsize is unknown."""
    if detail.family != "utxo" or detail.fee is None or not detail.vsize:
        return None
    return int(detail.fee) / detail.vsize


@router.get("/{chain}/txs/{txid}")
async def transaction_page(request: Request, chain: str, txid: str, in_page: str = "1", out_page: str = "1",
                           tr_page: str = "1") -> Response:
    """`/{chain}/txs/{txid}` and its twin `...{txid}.json`: `{"tx": TransactionDetail}` (the API's
    document, whole; the page shows `ROWS` inputs, outputs and transfers at a time)."""
    txid, twin = split_twin(txid)
    view = await open_view(request, "read", twin=twin)
    detail: TransactionDetail = await view.run(lambda: view.workspace.transaction(txid, chain=chain))
    params = {name: whole_number(value, name) for name, value in
              (("in_page", in_page), ("out_page", out_page), ("tr_page", tr_page))}
    path = request.url.path
    inputs = rows_of(detail.inputs, params["in_page"], "in_page", path, params, "inputs")
    outputs = rows_of(detail.outputs, params["out_page"], "out_page", path, params, "outputs")
    transfers = rows_of(detail.transfers, params["tr_page"], "tr_page", path, params, "transfers")
    decimals, symbol = native_unit(detail.family, detail.transfers, chain=detail.chain)

    def output_href(spent_tx: str, vout: int) -> str:
        return row_href(detail.chain, spent_tx, "out_page", vout, "out")

    def input_href(spender: str, vin: int) -> str:
        return row_href(detail.chain, spender, "in_page", vin, "in")

    return view.page("tx.html", {"tx": detail}, inputs=inputs, outputs=outputs, transfers=transfers,
                     tags_of=tags_by_address(detail.tags), summary=distinct_tags(detail.tags), dec=decimals,
                     sym=symbol, fee_rate=fee_rate(detail), kinds=transfer_kinds(view, detail.chain), aligned=aligned,
                     output_href=output_href, input_href=input_href)
