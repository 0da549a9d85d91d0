"""The one-way import rule of DESIGN.md section 1, checked on the source, not by prose.

Layers, lowest first: model, chains -> store -> ingest -> cluster, tags -> trace -> risk -> cases
-> api, web, cli. A module may import from its own package and from lower layers only; packages of
the same layer do not import each other. Top-level modules `errors` and `settings` are the base.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "fundtrail"
BASE = {"errors", "settings", "__init__"}
LAYERS = [
    {"model", "chains"},
    {"store"},
    {"ingest", "sim"},
    {"cluster", "tags"},
    {"trace"},
    {"risk"},
    {"cases", "access", "watch"},
    {"workspace"},
    {"api", "web", "cli"},
]
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def _package_of(path: Path, src: Path) -> str:
    rel = path.relative_to(src)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.suffix else rel.parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(ln, m) for ln, m in found if m == "fundtrail" or m.startswith("fundtrail.")]


def _violations(src: Path = SRC) -> list[str]:
    bad = []
    for path in sorted(src.rglob("*.py")):
        pkg = _package_of(path, src)
        if pkg in BASE:
            for ln, mod in _imports(path):
                target = mod.split(".")[1] if "." in mod else ""
                if target not in BASE:
                    bad.append(f"{path.relative_to(src)}:{ln} base module imports {mod}")
            continue
        assert pkg in RANK, f"package {pkg!r} is not placed in a layer: add it to LAYERS and DESIGN"
        for ln, mod in _imports(path):
            parts = mod.split(".")
            target = parts[1] if len(parts) > 1 else ""
            if target in BASE or target == pkg:
                continue
            if target not in RANK:
                bad.append(f"{path.relative_to(src)}:{ln} imports unknown package {mod}")
            elif RANK[target] >= RANK[pkg]:
                bad.append(f"{path.relative_to(src)}:{ln} ({pkg}) imports {mod} ({target}): "
                           "imports must point to lower layers")
    return bad


def test_imports_point_one_way() -> None:
    assert _violations() == []


def test_checker_catches_an_upward_import(tmp_path: Path) -> None:
    fake = tmp_path / "fundtrail"
    (fake / "chains").mkdir(parents=True)
    (fake / "cli").mkdir()
    (fake / "chains" / "x.py").write_text("from fundtrail.cli.main import main\n")
    (fake / "cli" / "y.py").write_text("from fundtrail.chains.x import main\n")
    found = _violations(fake)
    assert len(found) == 1 and "chains/x.py:1" in found[0]


def test_every_package_has_a_docstring_saying_what_it_owns() -> None:
    for init in SRC.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 30, f"{init.relative_to(SRC)} needs a docstring saying what it owns"
