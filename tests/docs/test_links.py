"""Every file a document points to exists, so a renamed module or test does not leave a dead reference.

Checked in README.md and docs/*.md: Markdown links `[text](path#anchor)` (the file, and the heading
the anchor names), repository paths written out (`docs/cli.md`, `tests/trace/test_account_*.py`,
`src/fundtrail/errors.py`), and module paths under the package (`cluster/deposit.py`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
REPO_PATH = re.compile(r"(?<![\w/.-])((?:docs|src|tests|benchmarks)/[A-Za-z0-9_./*-]+)")
MODULE_PATH = re.compile(r"`([a-z_]+/[A-Za-z0-9_/]+\.py)`")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    """The anchors of every heading of `doc` (repeated headings get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    found = set()
    fenced = False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match:
            base = slug(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def _exists(path: Path) -> bool:
    return any(path.parent.glob(path.name)) if "*" in path.name else path.exists()


def dead_references(doc: Path, root: Path = ROOT) -> list[str]:
    """`doc:line: reference` for each reference in `doc` to something that does not exist."""
    bad = []
    rel = doc.relative_to(root)
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            path = (doc.parent / file_part).resolve() if file_part else doc
            if not path.exists():
                bad.append(f"{rel}:{number}: link to missing file {target}")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                bad.append(f"{rel}:{number}: link to missing heading #{anchor} in {file_part or rel}")
        for ref in REPO_PATH.findall(line):
            ref = ref.rstrip(".,;:")
            if not _exists(root / ref):
                bad.append(f"{rel}:{number}: {ref} does not exist")
        for ref in MODULE_PATH.findall(line):
            top = ref.split("/", 1)[0]
            package = root / "src" / "fundtrail"
            if (package / top).is_dir() and not (package / ref).exists():
                bad.append(f"{rel}:{number}: module src/fundtrail/{ref} does not exist")
    return bad


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_reference_points_to_something_that_exists(doc: Path) -> None:
    bad = dead_references(doc)
    assert not bad, "dead references:\n" + "\n".join(bad)


def test_the_checker_finds_dead_links_and_anchors(tmp_path: Path) -> None:
    for rel in ("docs/cli.md", "src/fundtrail/cluster/deposit.py", "tests/docs/test_links.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("# Command line\n\n## Exit codes\n")
    doc = tmp_path / "docs" / "probe.md"
    doc.write_text("# Top\n\n## A `b` c!\n\nsee [x](cli.md), [y](nowhere.md), [z](#a-b-c), [w](#gone),\n"
                   "[v](cli.md#no-such-heading), [t](cli.md#exit-codes), [u](https://example.org/x), docs/missing.md, "
                   "`cluster/deposit.py`, `cluster/nothing.py`, tests/docs/test_*.py\n", encoding="utf-8")
    bad = dead_references(doc, tmp_path)
    assert [b.split(": ", 1)[1] for b in bad] == [
        "link to missing file nowhere.md",
        "link to missing heading #gone in docs/probe.md",
        "link to missing heading #no-such-heading in cli.md",
        "docs/missing.md does not exist",
        "module src/fundtrail/cluster/nothing.py does not exist",
    ]


def test_slugs_are_githubs() -> None:
    assert slug("`fundtrail trace SEED...`") == "fundtrail-trace-seed"
    assert slug("Exit codes and errors") == "exit-codes-and-errors"
    assert slug("`tags export --format tagpack`") == "tags-export---format-tagpack"
