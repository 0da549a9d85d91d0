"""HTML and PDF of reports and letters: one Jinja2 document, WeasyPrint for the PDF.

The HTML is self-contained (inline CSS, inline SVG, no external resource) and autoescaped, so a
finding's text can never become markup. The same HTML is laid out by WeasyPrint (CSS paged media:
A4, running header, page X of Y) with a URL fetcher that refuses everything but `data:` URIs:
the tool is air-gapped, and a report must not depend on, or leak to, anything outside it. Fonts
come from fontconfig (DejaVu for Latin, WenQuanYi Micro Hei for Chinese) and are embedded.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from fundtrail.errors import UsageError

#: Latin first for English (DejaVu's Latin), WenQuanYi first for Chinese (its punctuation).
FONTS = {"en": Markup('"DejaVu Sans", "WenQuanYi Micro Hei", sans-serif'),
         "zh_CN": Markup('"WenQuanYi Micro Hei", "DejaVu Sans", sans-serif')}


def _cssstr(value: object) -> Markup:
    """A CSS string literal of `value` (quotes, backslashes, `<` and control characters escaped)."""
    out = []
    for ch in str(value):
        out.append(f"\\{ord(ch):x} " if ch in '"\\<>&' or ord(ch) < 32 else ch)
    return Markup('"' + "".join(out) + '"')


def environment() -> jinja2.Environment:
    """The templates of `cases/templates`, autoescape on for every template."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("fundtrail.cases", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=False, lstrip_blocks=False)
    env.filters["cssstr"] = _cssstr
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


def pdf_bytes(html: str) -> bytes:
    """The HTML laid out as a PDF (A4, fonts embedded)."""
    import logging

    from weasyprint import HTML
    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # font-feature chatter, never secrets
    data: bytes = HTML(string=html, url_fetcher=refuse_urls, base_url=None).write_pdf()
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (a crash leaves the old file or none, never half a PDF)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"output directory {path.parent} does not exist", field="output")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
