"""Result models of court reports and freeze-request letters (`workspace/case_reports.py`)."""

from __future__ import annotations

from typing import Literal

from fundtrail.workspace.core import Model

__all__ = ["LetterFile", "LettersResult", "ReportResult"]


class ReportResult(Model):
    """A court report written: where, in which format and language, its size and SHA-256, the
    bundle hash on its cover (None: no bundle made yet, and the cover says so), and how many
    findings, saved traces, services and transactions it covers."""

    case_id: str
    path: str
    format: Literal["pdf", "html"]
    lang: Literal["en", "zh_CN"]
    bytes: int
    sha256: str
    bundle_hash: str | None = None
    findings: int
    traces: int
    services: int
    transactions: int


class LetterFile(Model):
    """One letter: its slug (file names `<slug>.pdf` and `<slug>.json`), kind (`service` or
    `token_issuer`), addressee, deposit addresses (service) or holder addresses (issuer)."""

    slug: str
    kind: Literal["service", "token_issuer"]
    addressee: str
    deposits: int
    holders: int
    pdf: str
    json_file: str


class LettersResult(Model):
    """The letters written into `directory` with their `index.json` (docs/reports.md, "Letters")."""

    case_id: str
    directory: str
    lang: Literal["en", "zh_CN"]
    index: str
    letters: list[LetterFile]
