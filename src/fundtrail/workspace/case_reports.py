"""Service operations on cases: court reports and freeze-request letters (docs/reports.md).

A report or letter is read-only work on the case: it needs membership (a non-member gets the
same NotFoundError as for no case) but no writable store. Output files are written whole or not
at all, so a crash leaves the previous file or none, and a rerun writes the same content.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from fundtrail import __version__
from fundtrail.cases import ids, letters, report_data
from fundtrail.cases import store as case_store
from fundtrail.cases.report_i18n import check_lang
from fundtrail.cases.report_render import pdf_bytes, render_html, write_atomic
from fundtrail.errors import UsageError
from fundtrail.workspace.case_evidence import bundle_hash_of
from fundtrail.workspace.case_models import iso
from fundtrail.workspace.case_report_models import LetterFile, LettersResult, ReportResult
from fundtrail.workspace.cases import CaseOps

__all__ = ["CaseReportOps"]


def _plain(value: Any) -> Any:
    """Catalog rows as JSON-shaped data: timestamps (naive UTC) as ISO 8601 with `Z`, like the models."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return iso(value) if isinstance(value, dt.datetime) else value


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CaseReportOps(CaseOps):
    """Cases: court reports and freeze-request letters."""

    def case_report(self, case: str, out: Path, *, lang: str = "en", bundle: Path | None = None) -> ReportResult:
        """Write the court report of a case to `out` (`.pdf` or `.html`, in `lang`): cover, findings,
        money-flow figures, timeline, services reached, methodology, txids; the bundle hash from
        `bundle` (a bundle file) or else the latest bundle made for the case."""
        ids.check_case_id(case)
        lang = check_lang(lang)
        out = Path(out)
        fmt = out.suffix.lower().lstrip(".")
        if fmt not in ("pdf", "html"):
            raise UsageError(f"output {out.name!r} must end in .pdf or .html", field="output")
        detail, traces = self._report_input(case)
        digest = bundle_hash_of(bundle) if bundle is not None else self._latest_bundle(case)
        ctx = report_data.build(detail, traces, lang=lang, author=self._case_user(), version=__version__,
                                now=_now(), bundle_hash=digest)
        html = render_html("report.html.j2", ctx)
        data = pdf_bytes(html) if fmt == "pdf" else html.encode("utf-8")
        write_atomic(out, data)
        return ReportResult(case_id=case, path=str(out), format=fmt, lang=lang,  # type: ignore[arg-type]
                            bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), bundle_hash=digest,
                            findings=len(ctx["findings"]), traces=len(traces), services=len(ctx["services"]),
                            transactions=len(ctx["txids"]))

    def case_letters(self, case: str, out_dir: Path, *, lang: str = "en") -> LettersResult:
        """Write one freeze-and-disclosure request (PDF and JSON) per service the case's saved
        traces reached, and per token whose holders an issuer can blacklist, with `index.json`."""
        ids.check_case_id(case)
        lang = check_lang(lang)
        out_dir = Path(out_dir)
        detail, traces = self._report_input(case)
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError(f"output {out_dir} is a file, not a directory", field="output")
        if not out_dir.parent.is_dir():
            raise UsageError(f"output directory {out_dir.parent} does not exist", field="output")
        out_dir.mkdir(exist_ok=True)
        now = _now()
        docs = letters.letters(detail, traces, lang=lang, author=self._case_user(), version=__version__, now=now)
        sums: dict[str, str] = {}
        for doc in docs:
            pdf = pdf_bytes(render_html("letter.html.j2", letters.context(doc, detail, traces)))
            body = (json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
            for name, data in ((doc["files"]["pdf"], pdf), (doc["files"]["json"], body)):
                write_atomic(out_dir / name, data)
                sums[name] = hashlib.sha256(data).hexdigest()
        idx = letters.index(detail, docs, sums, lang=lang, now=now, version=__version__)
        write_atomic(out_dir / "index.json",
                     (json.dumps(idx, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8"))
        return LettersResult(case_id=case, directory=str(out_dir), lang=lang,  # type: ignore[arg-type]
                             index=str(out_dir / "index.json"),
                             letters=[LetterFile(slug=e["slug"], kind=e["kind"], addressee=e["addressee"],
                                                 deposits=e["deposits"], holders=e["holders"], pdf=e["pdf"],
                                                 json_file=e["json"]) for e in idx["letters"]])

    # -- helpers -------------------------------------------------------------------------------
    def _report_input(self, case: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The case (access checked) and its saved traces with their results, as plain data. Read
        once, without a pydantic round trip: a 10,000-transaction trace's result is tens of MB of
        JSON, and parsing it twice (as `case_get` then `case_saved_trace` would) costs a second."""
        row = case_store.case_detail(self.store, case, self._case_user(), read_only=not self.writable)
        detail = _plain({k: v for k, v in row.items() if k != "traces"})
        traces = [{"id": r["trace_id"], "created_at": iso(r["created_at"]), "created_by": r["created_by"],
                   "seed": r["seed"], "policy": r["policy"], "state": r["state"], "request": r["request"],
                   "result": r["result"]} for r in row["traces"]]
        detail["traces"] = [{k: v for k, v in t.items() if k not in ("request", "result")} for t in traces]
        return detail, traces

    def _latest_bundle(self, case: str) -> str | None:
        """The hash of the latest bundle made for the case (catalog table `case_bundles`), or None."""
        with self.store.connect(read_only=not self.writable) as con:
            row = con.execute("SELECT bundle_hash FROM case_bundles WHERE case_id = ? "
                              "ORDER BY created_at DESC, bundle_hash LIMIT 1", [case]).fetchone()
        return str(row[0]) if row else None
