"""The one-way import rule of DESIGN.md section 1, checked on the source, not by prose.

Layers, lowest first: model, chains, verify -> store -> ingest -> cluster, tags -> trace -> risk -> cases,
access, watch -> workspace (the service layer) -> api, cli -> web; the simulator (`sim`) is a tool on
top, beside the interfaces. The web workbench sits on the API (one server: the pages use the API's
state, audit record and session cookie). A module imports from its own package and from lower layers only;
packages of one layer do not import each other; `errors` and `settings` are the base everyone uses.
The interfaces (`api`, `web`, `cli`) go through the service layer: they import only `workspace`,
`errors`, `settings` and `model` (`cli` also the simulator, `web` also the API). No private name
(`_x`) crosses a package boundary. Every import counts: absolute and relative, at module top, in functions, under
TYPE_CHECKING, and `importlib.import_module("fundtrail...")` with a literal name. The evidence verifier
(`verify`) stands alone: it imports the standard library and its own modules only.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "fundtrail"
BASE = {"errors", "settings", "__init__"}
LAYERS = [
    {"model", "chains", "verify"},
    {"store"},
    {"ingest"},
    {"cluster", "tags"},
    {"trace"},
    {"risk"},
    {"cases", "access", "watch", "spark"},
    {"workspace"},
    {"api", "cli", "sim"},
    {"web"},
]
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
DOMAIN = {pkg for layer in LAYERS[:7] for pkg in layer}
INTERFACE_ALLOWED = {
    "api": {"workspace", "errors", "settings", "model"},
    "web": {"workspace", "errors", "settings", "model", "api"},
    "cli": {"workspace", "errors", "settings", "model", "sim"},
}
# Packages a reader must be able to take alone: the standard library and their own modules only
# (the evidence verifier, checked by a defence expert without the rest of fundtrail).
STANDALONE = {"verify"}
# Underscore names that are public API of the standard library (namedtuple methods).
PUBLIC_UNDERSCORE = {"_make", "_replace", "_asdict", "_fields", "_field_defaults"}


@dataclass(frozen=True)
class Imp:
    """One import found in a module: the fundtrail module it names and the names it takes."""

    line: int
    module: str  # absolute, e.g. "fundtrail.store.lake"
    names: tuple[str, ...] = ()  # for `from M import a, b`
    how: str = "import"


def _module_name(path: Path, src: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = [src.name, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(path: Path, src: Path) -> str:
    rel = path.relative_to(src)
    return rel.parts[0].removesuffix(".py")


def _resolve(node: ast.ImportFrom, path: Path, src: Path) -> str:
    """The absolute module a (possibly relative) from-import names."""
    if node.level == 0:
        return node.module or ""
    here = _module_name(path, src).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
    return ".".join([*base, node.module] if node.module else base)


def _imports(path: Path, src: Path) -> tuple[list[Imp], ast.Module]:
    tree = ast.parse(path.read_text(), filename=str(path))
    top = src.name
    found: list[Imp] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Imp(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(node, path, src)
            how = "relative import" if node.level else "import"
            names = tuple(a.name for a in node.names)
            if mod == top:  # `from fundtrail import store` / `from .. import store`: each name a package
                found += [Imp(node.lineno, f"{top}.{n}", (), how) for n in names if not n.startswith("__")]
            else:
                found.append(Imp(node.lineno, mod, names, how))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and _is_import_call(node.func)):
            found.append(Imp(node.lineno, node.args[0].value, (), "import_module"))
    ours = [i for i in found if i.module == top or i.module.startswith(top + ".")]
    return sorted(ours, key=lambda i: i.line), tree


def _is_import_call(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_uses(imps: list[Imp], tree: ast.Module, pkg: str) -> list[tuple[int, str]]:
    """`_x` names taken from another package: imported by name, in the module path, or read as an
    attribute of a name imported from another package (`import fundtrail.a.b as m; m._x`)."""
    bad: list[tuple[int, str]] = []
    foreign: set[str] = set()
    for imp in imps:
        parts = imp.module.split(".")
        if len(parts) < 2 or parts[1] == pkg:
            continue
        bad += [(imp.line, f"{imp.module} (private module)") for p in parts[1:] if _is_private(p)][:1]
        bad += [(imp.line, f"{imp.module}.{n}") for n in imp.names if _is_private(n)]
        foreign.update(n for n in imp.names if n != "*")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "fundtrail" and len(parts) > 1 and parts[1] != pkg and a.asname:
                    foreign.add(a.asname)
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in foreign and _is_private(node.attr) and node.attr not in PUBLIC_UNDERSCORE):
            bad.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return bad


def _violations(src: Path = SRC) -> list[str]:
    bad: list[str] = []
    for path in sorted(src.rglob("*.py")):
        pkg = _package_of(path, src)
        where = f"{path.relative_to(src)}"
        imps, tree = _imports(path, src)
        bad += [f"{where}:{ln} ({pkg}) imports the private name {what} of another package"
                for ln, what in sorted(_private_uses(imps, tree, pkg))]
        if pkg in BASE:
            for imp in imps:
                target = imp.module.split(".")[1] if "." in imp.module else ""
                if target not in BASE:
                    bad.append(f"{where}:{imp.line} base module imports {imp.module}")
            continue
        assert pkg in RANK, f"package {pkg!r} is not placed in a layer: add it to LAYERS and DESIGN"
        if pkg in STANDALONE:
            bad += [f"{where}:{ln} ({pkg}) imports {mod}: {pkg} uses the standard library only"
                    for ln, mod in _beyond_stdlib(tree, path, src, pkg)]
        for imp in imps:
            parts = imp.module.split(".")
            target = parts[1] if len(parts) > 1 else ""
            what = f"{where}:{imp.line} ({pkg}) {imp.how}s {imp.module}"
            if target == pkg:
                continue
            if pkg in INTERFACE_ALLOWED:
                if target not in INTERFACE_ALLOWED[pkg]:
                    allowed = ", ".join(sorted(INTERFACE_ALLOWED[pkg]))
                    bad.append(f"{what}: an interface imports only {allowed}")
                continue
            if target in BASE:
                continue
            if target not in RANK:
                bad.append(f"{what}: unknown package {target!r}")
            elif target == "sim" and pkg in DOMAIN:
                bad.append(f"{what}: domain packages never import the simulator")
            elif RANK[target] >= RANK[pkg]:
                bad.append(f"{what} ({target}): imports must point to lower layers")
    return bad


def _beyond_stdlib(tree: ast.Module, path: Path, src: Path, pkg: str) -> list[tuple[int, str]]:
    """Imports of a standalone package that are neither the standard library nor its own modules."""
    own = f"{src.name}.{pkg}"
    bad: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(node, path, src)
            mods = [f"{mod}.{a.name}" for a in node.names] if mod == src.name else [mod]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and _is_import_call(node.func)):
            mods = [node.args[0].value]
        else:
            continue
        bad += [(node.lineno, m) for m in mods if m.split(".")[0] not in sys.stdlib_module_names
                and m != own and not m.startswith(own + ".")]
    return bad


def test_imports_point_one_way() -> None:
    found = _violations()
    if found:
        pytest.fail(f"{len(found)} import-contract violations:\n" + "\n".join(found), pytrace=False)


# -- the checker itself -------------------------------------------------------------------------

def _fake(tmp_path: Path, files: dict[str, str]) -> list[str]:
    root = tmp_path / "fundtrail"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return _violations(root)


def test_checker_catches_an_upward_import(tmp_path: Path) -> None:
    found = _fake(tmp_path, {"chains/x.py": "from fundtrail.store.lake import Lake\n",
                             "store/y.py": "from fundtrail.chains.x import Lake\n"})
    assert len(found) == 1 and "chains/x.py:1" in found[0] and "lower layers" in found[0]


def test_checker_catches_an_import_within_one_layer(tmp_path: Path) -> None:
    found = _fake(tmp_path, {"tags/x.py": "import fundtrail.cluster.engine\n"})
    assert len(found) == 1 and "tags/x.py:1" in found[0]


def test_checker_catches_an_interface_reaching_past_the_service_layer(tmp_path: Path) -> None:
    found = _fake(tmp_path, {"cli/x.py": "from fundtrail.workspace import Workspace\n"
                                         "from fundtrail.errors import UsageError\n"
                                         "from fundtrail.sim import scenario\n"
                                         "from fundtrail.store import Store\n",
                             "api/y.py": "from fundtrail.sim import scenario\n"})
    assert sorted(f.split(" ")[0] for f in found) == ["api/y.py:1", "cli/x.py:4"]
    assert all("an interface imports only" in f for f in found)


def test_checker_resolves_relative_imports(tmp_path: Path) -> None:
    found = _fake(tmp_path, {"store/__init__.py": "from ..trace import engine\n",
                             "store/a/b.py": "from ...risk.score import x\nfrom . import c\nfrom .. import lake\n",
                             "cli/m.py": "from .. import store\nfrom .output import render\n"})
    assert sorted(f.split(" ")[0] for f in found) == ["cli/m.py:1", "store/__init__.py:1", "store/a/b.py:1"]
    assert "fundtrail.risk.score" in next(f for f in found if f.startswith("store/a/b.py"))


def test_checker_catches_private_names_across_packages(tmp_path: Path) -> None:
    found = _fake(tmp_path, {"chains/c.py": "def _helper(): ...\n",
                             "store/a.py": "from fundtrail.chains.c import _helper\n",
                             "store/b.py": "import fundtrail.chains.c as c\nc._helper()\n",
                             "store/d.py": "from fundtrail.chains._impl import x\n",
                             "store/e.py": "from fundtrail.store.a import _own\nfrom .a import _also_own\n",
                             "store/f.py": "from fundtrail.chains.c import Row\nRow._make([])\n"})
    assert sorted(f.split(" ")[0] for f in found) == ["store/a.py:1", "store/b.py:2", "store/d.py:1"]
    assert all("private name" in f for f in found)


def test_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    found = _fake(tmp_path, {"chains/x.py": "def f():\n    if True:\n        from fundtrail.trace import engine\n",
                             "store/y.py": "def g():\n    import importlib\n"
                                           "    return importlib.import_module('fundtrail.risk')\n"})
    assert sorted(f.split(" ")[0] for f in found) == ["chains/x.py:3", "store/y.py:3"]


def test_checker_keeps_domain_packages_off_the_simulator(tmp_path: Path) -> None:
    found = _fake(tmp_path, {"ingest/x.py": "from fundtrail.sim.evm.record import request_key\n",
                             "sim/y.py": "from fundtrail.ingest.x import request_key\n"})
    assert len(found) == 1 and "ingest/x.py:1" in found[0] and "never import the simulator" in found[0]


def test_checker_keeps_the_verifier_on_the_standard_library(tmp_path: Path) -> None:
    found = _fake(tmp_path, {"verify/__init__.py": "from .bitcoin import parse_tx\nimport hashlib\n",
                             "verify/bitcoin.py": "import struct\nfrom fundtrail.verify import x\n"
                                                  "from fundtrail.errors import DataError\n"
                                                  "def f():\n    import numpy\n",
                             "verify/z.py": "from .. import errors\n"})
    assert sorted(f.split(" ")[0] for f in found) == ["verify/bitcoin.py:3", "verify/bitcoin.py:5", "verify/z.py:1"]
    assert all("standard library only" in f for f in found)


def test_checker_keeps_the_base_at_the_bottom(tmp_path: Path) -> None:
    found = _fake(tmp_path, {"errors.py": "from fundtrail.settings import Settings\n",
                             "settings.py": "from fundtrail.store import Store\n"})
    assert len(found) == 1 and found[0].startswith("settings.py:1 base module")


def test_every_package_has_a_docstring_saying_what_it_owns() -> None:
    for init in SRC.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 30, f"{init.relative_to(SRC)} needs a docstring saying what it owns"
