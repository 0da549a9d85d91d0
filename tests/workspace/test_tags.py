"""TagOps: the service calls behind `fundtrail tags ...`, on a real store with a small label file.

Results are checked against the CLI's `--json` output; errors name the request field; reads never
write and a read-only workspace refuses changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.errors import DataError, StoreError, TooLargeError, UsageError
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.tag_models import (
    ImportedFile,
    TagAddRequest,
    TagExportRequest,
    TagImportRequest,
    TagLookupRequest,
)
from fundtrail.workspace.tags import MAX_LOOKUP

HYDRA = "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA"
GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
TYPO = "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbB"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one CSV of three tags (two services on HYDRA: a conflict), imported through
    the service layer with its progress recorded."""
    tmp = tmp_path_factory.mktemp("ws-tags")
    csv = tmp / "labels.csv"
    csv.write_text("address,label,category,confidence,actor,currency\n"
                   f"{HYDRA},Hydra Market,market,forensic,hydramarket,BTC\n"
                   f"{HYDRA},Kraken hot wallet,exchange,web_crawl,kraken,BTC\n"
                   f"{ETH},Bad Actor,scam,forensic,,ETH\n")
    store = tmp / "store"
    ws = Workspace.open(store=store, create=True, actor=Actor(user="ana"))
    calls: list[tuple[str, int, int]] = []
    files: list[ImportedFile] = []
    result = ws.tags_import(TagImportRequest(paths=[csv]), lambda *a: calls.append(a), files.append)
    assert calls == [("file", 1, 1)] and [f.status for f in files] == ["imported"]
    assert (result.summary.files, result.summary.tags, result.failure()) == (1, 3, None)
    return store


def cli(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--store", str(root), "tags", *args])
    return code, capsys.readouterr()[0]


def test_show_matches_the_cli_and_filters_by_currency(root: Path, capsys) -> None:
    ws = Workspace.open(store=root)
    shown = ws.tags_show(HYDRA)
    assert {t.category for t in shown.tags} == {"market", "exchange"} and shown.conflict is not None
    code, out = cli(root, capsys, "show", HYDRA, "--json")
    assert code == 0 and shown.model_dump(mode="json") == json.loads(out)
    assert ws.tags_show(HYDRA, currency="eth").tags == []
    assert len(ws.tags_show(HYDRA, currency="btc").tags) == 2
    for bad in (TYPO, "not-an-address"):
        with pytest.raises(UsageError) as exc:
            ws.tags_show(bad)
        assert exc.value.field == "address"


def test_lookup_of_a_list_keeps_lines_and_lists_bad_rows(root: Path, tmp_path: Path, capsys) -> None:
    ws = Workspace.open(store=root)
    result = ws.tags_lookup(TagLookupRequest(addresses=[HYDRA, TYPO, ETH.lower(), GENESIS, HYDRA]))
    assert sorted((t.line, t.category) for t in result.tags) == [(1, "exchange"), (1, "market"), (3, "scam")]
    assert [(e.line, e.address) for e in result.errors] == [(2, TYPO)]
    assert (result.total, result.addresses, result.duplicates, result.tagged) == (5, 3, 1, 2)
    failure = result.failure()
    assert isinstance(failure, DataError) and "1 of 5 rows" in failure.message
    listed = tmp_path / "q.txt"
    listed.write_text(f"{HYDRA}\n{TYPO}\n{ETH.lower()}\n{GENESIS}\n{HYDRA}\n")
    code, out = cli(root, capsys, "lookup", str(listed), "--json")
    from_file = ws.tags_lookup(TagLookupRequest(file=listed))
    assert code == 3 and [json.loads(x) for x in out.splitlines()] == (
        [t.model_dump(mode="json") for t in from_file.tags] + [e.model_dump(mode="json") for e in from_file.errors])
    assert [t.model_dump(exclude={"line"}) for t in from_file.tags] == [
        t.model_dump(exclude={"line"}) for t in result.tags]
    with pytest.raises(TooLargeError) as exc:
        ws.tags_lookup(TagLookupRequest(addresses=[HYDRA] * (MAX_LOOKUP + 1)))
    assert exc.value.field == "addresses" and exc.value.http_status == 413
    with pytest.raises(ValueError):
        TagLookupRequest()


def test_search_conflicts_actors_match_the_cli(root: Path, capsys) -> None:
    ws = Workspace.open(store=root)
    found = ws.tags_search("kraken", limit=5)
    assert [t.label for t in found.tags] == ["Kraken hot wallet"]
    code, out = cli(root, capsys, "search", "kraken", "--limit", "5", "--json")
    assert [json.loads(x) for x in out.splitlines()] == [t.model_dump(mode="json") for t in found.tags]
    for kwargs, field in (({"q": " "}, "q"), ({"q": "x", "limit": 0}, "limit")):
        with pytest.raises(UsageError) as exc:
            ws.tags_search(**kwargs)  # type: ignore[arg-type]
        assert exc.value.field == field
    (conflict,) = ws.tags_conflicts().conflicts
    assert conflict.address == HYDRA and {e.actor for e in conflict.entities} == {"kraken", "hydramarket"}
    code, out = cli(root, capsys, "conflicts", "--json")
    assert [json.loads(x) for x in out.splitlines()] == [conflict.model_dump(mode="json")]
    assert ws.actors().actors == []  # no ActorPack imported


def test_add_records_the_actor_and_refuses_what_it_cannot_store(root: Path, capsys) -> None:
    ws = Workspace.open(store=root, writable=True, actor=Actor(user="inspector-li"))
    added = ws.tags_add(TagAddRequest(address=GENESIS, label="Satoshi", category="miner", confidence="high"))
    assert added.added and (added.confidence, added.confidence_given) == ("forensic", "high")
    assert added.confidence_mapped()
    (tag,) = ws.tags_show(GENESIS).tags
    assert tag.sources[0].creator == "inspector-li"  # the workspace's user by default
    again = ws.tags_add(TagAddRequest(address=GENESIS, label="Satoshi", category="miner", confidence="high"))
    assert again.added is False
    for req, field in (({"category": "nonsense"}, "category"), ({"confidence": "bogus"}, "confidence"),
                       ({"date": "yesterday"}, "date"), ({"address": TYPO}, "address"),
                       ({"address": "bitfinexcw21"}, "currency"), ({"visibility": "public"}, "visibility")):
        with pytest.raises(UsageError) as exc:
            ws.tags_add(TagAddRequest(**{"address": HYDRA, "label": "x", "category": "exchange", **req}))
        assert exc.value.field == field and "nothing stored" in exc.value.message, req
    assert len(ws.tags_show(HYDRA).tags) == 2  # nothing stored by the refused ones


def test_export_and_read_only_refusals(root: Path, tmp_path: Path) -> None:
    catalog = next(root.glob("*.duckdb"))
    before = (catalog.stat().st_mtime_ns, catalog.stat().st_size)
    ws = Workspace.open(store=root)
    pack = ws.tags_export(TagExportRequest(everything=True))
    assert pack.count >= 3 and HYDRA in pack.text and pack.format == "tagpack"
    with pytest.raises(UsageError) as exc:
        ws.tags_export(TagExportRequest(format="csv"))
    assert exc.value.field == "format"
    with pytest.raises(StoreError):
        ws.tags_add(TagAddRequest(address=HYDRA, label="x", category="exchange"))
    with pytest.raises(StoreError):
        ws.tags_import(TagImportRequest(paths=[tmp_path]))
    assert (catalog.stat().st_mtime_ns, catalog.stat().st_size) == before


def test_a_failed_file_is_reported_not_raised(root: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("title: x\ncreator: y\ntags:\n- address: [unclosed\n")
    ws = Workspace.open(store=root, writable=True)
    result = ws.tags_import(TagImportRequest(paths=[broken]))
    (f,) = result.files
    assert f.status == "failed" and "YAML syntax error" in " ".join(f.problems)
    assert "usage" not in f.model_dump()  # internal: chooses the error, not part of the report
    failure = result.failure()
    assert isinstance(failure, DataError) and "1 of 1 file(s)" in failure.message
    with pytest.raises(UsageError) as exc:
        ws.tags_import(TagImportRequest(paths=[broken], mapping=["nonsense"]))
    assert exc.value.field == "mapping"
