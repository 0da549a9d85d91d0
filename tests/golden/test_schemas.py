"""The JSON schema of every result model of the service layer, kept as a golden file.

The schemas are the contract of the Python API, of `--json` output and of the REST API (they are
what /api/openapi.json publishes), so a change to a result model shows up here as a diff to review
rather than slipping out unnoticed. After an intended change, rewrite the files with
`FUNDTRAIL_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -p no:xdist -q tests/golden` and commit them.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
from pathlib import Path

import pytest

import fundtrail.workspace as workspace
from fundtrail.workspace import Model

GOLDEN = Path(__file__).resolve().parent / "schemas"
SUFFIXES = ("Result", "Summary", "Detail", "Page", "Report")
UPDATE = os.environ.get("FUNDTRAIL_UPDATE_GOLDEN") == "1"


def result_models() -> dict[str, type[Model]]:
    """`fundtrail.workspace.RESULT_MODELS` by name; without that tuple, every Model subclass of a
    workspace module whose name ends in Result, Summary, Detail, Page or Report."""
    listed = getattr(workspace, "RESULT_MODELS", None)
    if listed is not None:
        found = list(listed)
    else:
        found = []
        for info in pkgutil.iter_modules(workspace.__path__):
            module = importlib.import_module(f"{workspace.__name__}.{info.name}")
            found += [cls for name, cls in vars(module).items()
                      if inspect.isclass(cls) and issubclass(cls, Model) and cls.__module__ == module.__name__
                      and name.endswith(SUFFIXES) and name not in SUFFIXES]
    models: dict[str, type[Model]] = {}
    for cls in found:
        other = models.setdefault(cls.__name__, cls)
        assert other is cls, f"two result models are named {cls.__name__}: {cls.__module__} and {other.__module__}"
    return dict(sorted(models.items()))


def schema_text(model: type[Model]) -> str:
    """The golden-file form of a model's JSON schema (keys sorted, so diffs are stable)."""
    return json.dumps(model.model_json_schema(mode="serialization"), indent=2, sort_keys=True,
                      ensure_ascii=False) + "\n"


MODELS = result_models()


@pytest.mark.parametrize("name", list(MODELS))
def test_schema_matches_golden(name: str) -> None:
    path = GOLDEN / f"{name}.json"
    text = schema_text(MODELS[name])
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden schema for {name}: run with FUNDTRAIL_UPDATE_GOLDEN=1 to write {path.name}"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text), (
        f"the schema of {name} changed; if intended, rewrite tests/golden/schemas with FUNDTRAIL_UPDATE_GOLDEN=1 "
        "and document the change")


def test_no_golden_file_without_a_model() -> None:
    stale = sorted(p.stem for p in GOLDEN.glob("*.json") if p.stem not in MODELS)
    if UPDATE:
        for name in stale:
            (GOLDEN / f"{name}.json").unlink()
        stale = []
    assert not stale, f"golden schemas of models that no longer exist: {stale} (FUNDTRAIL_UPDATE_GOLDEN=1 removes them)"


def test_there_are_result_models() -> None:
    assert MODELS, "no result models found in fundtrail.workspace"
    assert all(issubclass(m, Model) for m in MODELS.values())
