"""The message ids the workbench uses, found in its sources (templates, scripts, page code), and the
ids built at run time from data (roles, categories, severities, ...), which the catalogues must hold.

Independent of the catalogues: a string added to a page without a translation is found here.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from fundtrail.access.roles import ROLES
from fundtrail.tags.taxonomy import CATEGORIES, CONFIDENCE

WEB = Path(__file__).resolve().parents[2] / "src" / "fundtrail" / "web"
_TEMPLATE = re.compile(r"""\bt\(\s*(['"])(.+?)(?<!\\)\1(\s*~)?""")
_SCRIPT = re.compile(r"""\b(?:ft\.)?t\(\s*(['"])(.+?)(?<!\\)\1(\s*\+)?""")
_PYTHON = re.compile(r"""\b(?:translate\(\s*\w+\s*,|\.t\(|\bt\()\s*(['"])(.+?)(?<!\\)\1""")

SEVERITIES = ("none", "low", "medium", "high", "severe")
DIRECTIONS = ("incoming", "outgoing", "in", "out", "self")
HOPS = ("direct", "indirect")
HIT_KINDS = ("address", "transaction", "output", "cluster", "tag", "actor")


def source_ids() -> dict[str, set[str]]:
    """Message id -> the files using it, over templates, scripts and Python of the web package."""
    found: dict[str, set[str]] = {}
    for path in sorted(WEB.rglob("*")):
        if path.suffix == ".html":
            pattern = _TEMPLATE
        elif path.suffix == ".js":
            pattern = _SCRIPT
        elif path.suffix == ".py":
            pattern = _PYTHON
        else:
            continue
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            prefix = pattern is not _PYTHON and match.group(3)  # `t('role.' ~ x)`, `t("kind." + x)`: prefixes
            if not prefix:
                found.setdefault(match.group(2), set()).add(str(path.relative_to(WEB)))
    return found


def data_ids() -> set[str]:
    """Ids the pages build from data: every role, category, severity, direction, hop distance,
    confidence, search-hit kind, and the explanation of every rule of the shipped risk profiles."""
    ids = {f"role.{r}" for r in ROLES} | {f"category.{c}" for c in CATEGORIES}
    ids |= {f"severity.{s}" for s in SEVERITIES} | {f"direction.{d}" for d in DIRECTIONS}
    ids |= {f"hops.{h}" for h in HOPS} | {f"confidence.{c}" for c in CONFIDENCE} | {f"kind.{k}" for k in HIT_KINDS}
    profiles = WEB.parent / "risk" / "profiles"
    for path in profiles.glob("*.yaml"):
        for rule in yaml.safe_load(path.read_text())["rules"]:
            ids.add(f"risk.explain.{rule['id']}")
    return ids
