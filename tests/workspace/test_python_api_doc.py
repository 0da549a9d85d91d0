"""docs/python-api.md: its runnable example runs and prints what the document says it prints, and the
document covers every result model and every capability method of `Workspace`.

The example is the fenced ```python block after `<!-- example: runnable -->`; its output is the
```text block after `<!-- example: output -->`. It runs as a script of this interpreter in a temporary
directory (its store goes under TMPDIR), with no settings file and no FUNDTRAIL_* variables of the
environment, as a reader copying it into a fresh notebook would run it.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import fundtrail.workspace as workspace
from fundtrail.workspace import RESULT_MODELS, Actor, Model, Workspace

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "python-api.md"
RUNNABLE = "<!-- example: runnable -->"
OUTPUT = "<!-- example: output -->"
#: What the example must call (the brief of the Python API's example).
CALLS = ("status", "search", "address", "address_txs", "transaction", "cluster", "tags_show", "trace", "risk",
         "screen", "refresh")
#: Workspace methods that are plumbing, not capabilities (documented as such, not in the tables).
PLUMBING = {"open", "refresh", "chain", "chains", "require_writable", "state", "cached", "forget",
            "remember_state", "graph_index", "account_graph", "tag_map", "tagged_addresses", "networks", "network",
            "address_chains", "address_id", "locate_address", "cluster_sizes", "cluster_of", "direct_tags",
            "canonical_address", "token_info", "find_transaction", "risk_profile", "catalog_files"}


#: Models public methods return that are not results: `authenticate` gives the `Actor` to act as.
NOT_RESULTS = {Actor}


def fenced_after(text: str, marker: str, lang: str) -> str:
    """The body of the one fenced block of `lang` that follows `marker` (nothing but blank lines between)."""
    assert text.count(marker) == 1, f"{DOC.name} must hold exactly one {marker}"
    rest = text.split(marker, 1)[1]
    m = re.match(rf"\s*```{lang}\n(.*?)\n```", rest, re.S)
    assert m, f"no ```{lang} block right after {marker} in {DOC.name}"
    return m.group(1) + "\n"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ran(doc: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the example once: its stdout, and the directory it worked in."""
    tmp = tmp_path_factory.mktemp("pyapi-doc")
    script = tmp / "example.py"
    script.write_text(fenced_after(doc, RUNNABLE, "python"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_")}
    env.update(TMPDIR=str(tmp), FUNDTRAIL_CONFIG=str(tmp / "no-settings.toml"), PYTHONHASHSEED="0")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"the example of {DOC.name} failed:\n{proc.stderr[-4000:]}"
    (work,) = [p for p in tmp.iterdir() if p.is_dir() and p.name.startswith("fundtrail-example-")]
    return {"out": proc.stdout, "work": work,
            "lines": {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in proc.stdout.splitlines()
                      if ":" in line and not line.startswith("error:")},
            "errors": [line for line in proc.stdout.splitlines() if line.startswith("error:")]}


def test_the_example_prints_what_the_doc_shows(doc: str, ran: dict[str, Any]) -> None:
    want = fenced_after(doc, OUTPUT, "text")
    if ran["out"] != want:
        diff = "\n".join(difflib.unified_diff(want.splitlines(), ran["out"].splitlines(), "documented", "printed",
                                              lineterm=""))
        pytest.fail(f"the example's output differs from {DOC.name}; update the document if intended:\n{diff}")


def test_what_the_example_prints_is_true_of_the_store_it_built(ran: dict[str, Any]) -> None:
    """Facts checked against the simulator's manifest and a fresh workspace, not against the document."""
    lines, work = ran["lines"], ran["work"]
    manifest = json.loads((work / "sim" / "manifest.json").read_text())
    assert lines["ingest"] == (f"{manifest['chain']} {manifest['blocks']} blocks {manifest['transactions']} "
                               "transactions")
    assert lines["progress stages"] == "['blocks', 'file', 'transactions']"
    # the reader answered from its cache until refresh() named the chain the cluster run changed
    assert lines["cluster before the run"] == "None"
    assert lines["refresh"] == f"['{manifest['chain']}']"
    ws = Workspace.open(store=work / "store")  # read-only, on what the example left behind
    status = ws.status()
    assert [c.chain for c in status.chains] == [manifest["chain"]]
    assert lines["status"].startswith(f"{manifest['chain']} utxo {manifest['blocks']} blocks")
    assert lines["status"].endswith(f" {status.tags.tags} tags") and status.tags.tags > 0
    case = json.loads((work / "sim" / "truth" / "cases" / "ransomware-1.json").read_text())
    seed = case["seed_addresses"][0]
    summary = ws.address(seed)
    assert summary.cluster_id is not None and summary.risk is not None
    assert lines["address"].startswith(f"{seed} received {summary.received} sat in {summary.tx_count} txs;")
    assert f"cluster {summary.cluster_id} of {summary.cluster_size}" in lines["address"]
    n = ws.address_txs(seed, limit=1000).total
    assert lines["address_txs"] == f"{n} of {n} in {n} pages"  # one transaction per page, every one once
    assert lines["cluster"].startswith(f"{summary.cluster_id} {summary.cluster_size} members")
    assert "ransomware" in lines["tags_show"]
    assert re.fullmatch(r"haircut forward \d+ endpoints \[.*\('service', [1-9]\d*\).*\]", lines["trace"])
    assert lines["risk"].startswith(f"{summary.risk.score} {summary.risk.severity} ")
    assert lines["screen"].endswith("('address', None)] failed 1")
    assert ran["errors"] == ["error: UsageError bad_request limit 422", "error: NotFoundError not_found txid 404"]


def test_the_example_makes_the_calls_it_is_for(doc: str) -> None:
    code = fenced_after(doc, RUNNABLE, "python")
    missing = [name for name in CALLS if f"ws.{name}(" not in code]
    assert not missing, f"the example of {DOC.name} does not call {missing}"
    assert "Workspace.open(" in code and "create=True" in code


def _capabilities() -> dict[str, Any]:
    return {name: fn for name, fn in inspect.getmembers(Workspace, callable)
            if not name.startswith("_") and name not in PLUMBING and not hasattr(BaseModel, name)}


def test_every_capability_method_is_documented(doc: str) -> None:
    caps = _capabilities()
    assert {"status", "address", "trace", "screen", "tags_import", "cluster_run", "ingest_bitcoin"} <= set(caps)
    missing = sorted(name for name in caps if f"`{name}(" not in doc)
    assert not missing, f"Workspace methods missing from {DOC.name}: {missing}"


def test_result_models_are_complete_exported_and_documented(doc: str) -> None:
    listed = set(RESULT_MODELS)
    assert len(listed) == len(RESULT_MODELS) and all(issubclass(m, Model) for m in listed)
    returned: set[type] = set()
    for name, fn in _capabilities().items():
        ret = typing.get_type_hints(fn).get("return")
        if inspect.isclass(ret) and issubclass(ret, BaseModel):
            returned.add(ret)
            if issubclass(ret, Model) and ret not in NOT_RESULTS:
                assert ret in listed, f"{name} returns {ret.__name__}, which RESULT_MODELS does not list"
    for model in listed | returned:
        assert getattr(workspace, model.__name__) is model, f"{model.__name__} is not exported by fundtrail.workspace"
        assert model.__name__ in workspace.__all__
        assert f"`{model.__name__}`" in doc, f"{model.__name__} is not in {DOC.name}"


def test_all_is_sorted_and_exported() -> None:
    names = workspace.__all__
    assert [n for n in names if not hasattr(workspace, n)] == []
    assert len(set(names)) == len(names)
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    requests = [n for n in dir(workspace) if n.endswith("Request") and isinstance(getattr(workspace, n), type)]
    assert len(requests) >= 15 and set(requests) <= set(names)
