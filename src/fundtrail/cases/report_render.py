"""HTML and PDF of reports and letters: one Jinja2 document, WeasyPrint for the PDF.

The HTML is self-contained (inline CSS, inline SVG, no external resource) and autoescaped, so a
finding's text can never become markup. The same HTML is laid out by WeasyPrint (CSS paged media:
A4, running header, page X of Y) with a URL fetcher that refuses everything but `data:` URIs:
the tool is air-gapped, and a report must not depend on, or leak to, anything outside it. Fonts
come from fontconfig (DejaVu for Latin, WenQuanYi Micro Hei for Chinese) and are embedded.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from fundtrail.errors import UsageError
from fundtrail.store.partitions import write_durably

#: Latin first for English (DejaVu's Latin), WenQuanYi first for Chinese (its punctuation).
FONTS = {"en": Markup('"DejaVu Sans", "WenQuanYi Micro Hei", sans-serif'),
         "zh_CN": Markup('"WenQuanYi Micro Hei", "DejaVu Sans", sans-serif')}


def _cssstr(value: object) -> Markup:
    """A CSS string literal of `value` (quotes, backslashes, `<` and control characters escaped)."""
    out = []
    for ch in str(value):
        out.append(f"\\{ord(ch):x} " if ch in '"\\<>&' or ord(ch) < 32 else ch)
    return Markup('"' + "".join(out) + '"')


def keep_names(text: object, names: list[str] | None) -> Markup:
    """`text` escaped, with each of `names` (service labels) wrapped so a line never breaks
    inside it: "exchange-b" must not end a line as "exchange-" and start the next with "b"."""
    raw = str(text)
    wanted = sorted({n for n in names or [] if n}, key=len, reverse=True)
    if not wanted:
        return escape(raw)
    parts, at = [], 0
    for m in re.finditer("|".join(map(re.escape, wanted)), raw):
        parts += [escape(raw[at:m.start()]), Markup('<span class="name">%s</span>') % m.group(0)]
        at = m.end()
    parts.append(escape(raw[at:]))
    return Markup("").join(parts)


def environment() -> jinja2.Environment:
    """The templates of `cases/templates`, autoescape on for every template."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("fundtrail.cases", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=False, lstrip_blocks=False)
    env.filters["cssstr"] = _cssstr
    env.filters["names"] = keep_names
    return env


def render_html(template: str, context: dict[str, Any]) -> str:
    """The document `template` rendered with `context` (its `lang` picks the font stack)."""
    return environment().get_template(template).render(fonts=FONTS[context["lang"]], **context)


def refuse_urls(url: str, timeout: int = 10, ssl_context: Any = None) -> dict[str, Any]:
    """WeasyPrint's URL fetcher: `data:` URIs only (the report is air-gapped)."""
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher
        result: dict[str, Any] = default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)
        return result
    raise ValueError(f"fundtrail reports fetch nothing: {url[:80]} refused")


class _Deflate:
    """zlib as pydyf sees it, deflating at level 6 instead of 9: on a report whose appendix
    lists 10,000 txids, level 9 spends three seconds for a file 4 % smaller."""

    def __getattr__(self, name: str) -> Any:
        return getattr(zlib, name)

    @staticmethod
    def compressobj(level: int = 6, *args: Any, **kwargs: Any) -> Any:
        return zlib.compressobj(DEFLATE_LEVEL, *args, **kwargs)


#: The deflate level of the PDF's streams (pydyf's own is 9).
DEFLATE_LEVEL = 6


def pdf_bytes(html: str) -> bytes:
    """The HTML laid out as a PDF (A4, fonts embedded)."""
    import logging

    import pydyf  # weasyprint's PDF writer
    from weasyprint import HTML
    if getattr(pydyf, "zlib", None) is zlib:
        pydyf.zlib = _Deflate()
    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # font-feature chatter, never secrets
    data: bytes = HTML(string=html, url_fetcher=refuse_urls, base_url=None).write_pdf()
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (a crash leaves the old file or none, never half a PDF)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"output directory {path.parent} does not exist", field="output")
    write_durably(path, data)
