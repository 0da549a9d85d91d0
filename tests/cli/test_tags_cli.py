"""`fundtrail tags ...` through the real CLI entry point: import, show, lookup, search, add,
conflicts, actors, export; one-line errors with their exit codes."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from fundtrail.cli.main import main

HYDRA = "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA"  # first address of the GraphSense Hydra Market pack
XBT_FIRST = "123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX"  # first address of the OFAC XBT list


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def imported(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str, str]:
    """The OFAC XBT list, the Hydra pack and the GraphSense actors imported once through the CLI."""
    path = tmp_path_factory.mktemp("tags-cli") / "store"
    files = [testdata / "sanctions/ofac-0xB10C/sanctioned_addresses_XBT.txt",
             testdata / "tagpacks/graphsense/packs/hydra.yaml",
             testdata / "tagpacks/graphsense/actors/graphsense.actorpack.yaml"]
    capture = pytest.MonkeyPatch()
    out, err = io.StringIO(), io.StringIO()
    capture.setattr(sys, "stdout", out)
    capture.setattr(sys, "stderr", err)
    try:
        code = main(["--store", str(path), "tags", "import", *map(str, files)])
    finally:
        capture.undo()
    return path, code, out.getvalue(), err.getvalue()


@pytest.fixture
def store(imported: tuple[Path, int, str, str], tmp_path: Path) -> str:
    """A private copy of the imported store for one test."""
    path, code, out, err = imported
    assert code == 0, err
    assert "3 files: 3 imported" in out
    # Progress and every problem on stderr, with file and line.
    assert "sanctioned_addresses_XBT.txt:355: invalid:" in err and "[3/3] imported" in err
    copy = tmp_path / "store"
    shutil.copytree(path, copy)
    return str(copy)


def test_import_json_report_and_reimport_noop(store: str, testdata: Path, capsys) -> None:
    xbt = str(testdata / "sanctions/ofac-0xB10C/sanctioned_addresses_XBT.txt")
    code, out, _ = run(["--store", store, "tags", "import", xbt, "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["summary"]["unchanged"] == 1 and report["summary"]["tags"] == 0
    assert report["files"][0]["status"] == "unchanged"


def test_show_json_lists_every_tag_with_sources_and_actor(store: str, capsys) -> None:
    code, out, _ = run(["--store", store, "tags", "show", XBT_FIRST, "--json"], capsys)
    assert code == 0
    shown = json.loads(out)
    by_cat = {t["category"]: t for t in shown["tags"]}
    assert set(by_cat) == {"sanction", "market"} and shown["conflict"] is None
    assert by_cat["sanction"]["sources"][0]["line"] == 1
    assert by_cat["market"]["actor_info"]["label"] == "Hydra Market"
    code, out, _ = run(["--store", store, "tags", "show", "12c6DSiU4Rq3P4ZxziKxzrPWzAS3u1JTa8", "--json"], capsys)
    assert code == 0 and json.loads(out)["tags"] == []


def test_lookup_file_one_json_line_per_tag_with_the_address(store: str, tmp_path: Path, capsys) -> None:
    queries = tmp_path / "q.txt"
    queries.write_text(f"{XBT_FIRST}\n{HYDRA}\n\n12c6DSiU4Rq3P4ZxziKxzrPWzAS3u1JTa8\n")
    code, out, err = run(["--store", store, "tags", "lookup", str(queries), "--json"], capsys)
    assert code == 0
    lines = [json.loads(x) for x in out.splitlines()]
    assert sorted((x["address"], x["category"]) for x in lines) == [
        (XBT_FIRST, "market"), (XBT_FIRST, "sanction"), (HYDRA, "market"), (HYDRA, "sanction")]
    assert all(x["sources"] and x["confidence"] for x in lines)
    assert "2 of 3 addresses tagged, 4 tags" in err


def test_search_and_actors(store: str, capsys) -> None:
    code, out, _ = run(["--store", store, "tags", "search", "hydra market", "--json", "--limit", "5"], capsys)
    found = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and len(found) == 5 and all(t["actor"] == "hydramarket" for t in found)
    code, out, _ = run(["--store", store, "tags", "actors", "hydramarket", "--json"], capsys)
    (actor,) = [json.loads(x) for x in out.splitlines()]
    assert actor["id"] == "hydramarket" and actor["tags"] > 0


def test_add_conflicts_and_export_round_trip(store: str, tmp_path: Path, capsys) -> None:
    code, out, _ = run(["--store", store, "tags", "add", HYDRA, "--label", "Kraken hot wallet",
                        "--category", "exchange", "--actor", "kraken", "--source", "case file 12",
                        "--date", "2025-01-31", "--json"], capsys)
    assert code == 0 and json.loads(out)["added"] is True
    code, out, _ = run(["--store", store, "tags", "add", HYDRA, "--label", "Kraken hot wallet",
                        "--category", "exchange", "--actor", "kraken", "--source", "case file 12",
                        "--date", "2025-01-31", "--json"], capsys)
    assert json.loads(out)["added"] is False  # the same claim again changes nothing
    code, out, _ = run(["--store", store, "tags", "add", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                        "--label", "suspect", "--category", "scam", "--visibility", "private",
                        "--case", "C-7"], capsys)
    assert code == 0
    code, out, err = run(["--store", store, "tags", "conflicts", "--json"], capsys)
    (conflict,) = [json.loads(x) for x in out.splitlines()]
    assert conflict["address"] == HYDRA and {e["actor"] for e in conflict["entities"]} == {"kraken", "hydramarket"}

    pack = tmp_path / "mine.yaml"
    code, _, err = run(["--store", store, "tags", "export", "--format", "tagpack", "-o", str(pack)], capsys)
    assert code == 0 and "exported 1 tags" in err  # the private tag stays home
    fresh = str(tmp_path / "fresh")
    assert run(["--store", fresh, "tags", "import", str(pack)], capsys)[0] == 0
    code, out, _ = run(["--store", fresh, "tags", "show", HYDRA, "--json"], capsys)
    (tag,) = json.loads(out)["tags"]
    assert (tag["label"], tag["category"], tag["actor"], tag["confidence"]) == (
        "Kraken hot wallet", "exchange", "kraken", "forensic")
    assert tag["sources"][0]["source"] == "case file 12" and tag["sources"][0]["lastmod"] == "2025-01-31"


def test_bad_input_is_one_line_with_exit_code(store: str, tmp_path: Path, capsys) -> None:
    code, _, err = run(["--store", store, "tags", "add", "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbB",
                        "--label", "x", "--category", "exchange"], capsys)
    assert code == 2 and err.count("\n") == 1 and "bad checksum" in err
    code, _, err = run(["--store", store, "tags", "add", HYDRA, "--label", "x", "--category", "nonsense"], capsys)
    assert code == 2 and "unknown category 'nonsense'" in err
    code, _, err = run(["--store", store, "tags", "import", str(tmp_path / "missing.yaml")], capsys)
    assert code == 2 and "no such file" in err and err.count("\n") == 1
    code, _, err = run(["--store", store, "tags", "import", str(tmp_path), "--format", "bogus"], capsys)
    assert code == 2 and "unknown --format 'bogus'" in err
    broken = tmp_path / "broken.yaml"
    broken.write_text("title: x\ncreator: y\ntags:\n- address: [unclosed\n")
    code, _, err = run(["--store", store, "tags", "import", str(broken)], capsys)
    assert code == 3 and f"{broken}:" in err and "YAML syntax error" in err
    code, _, err = run(["--store", str(tmp_path / "none"), "tags", "show", HYDRA], capsys)
    assert code == 4 and "no fundtrail store" in err


def test_generic_csv_with_a_column_mapping(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "mine.csv"
    csv.write_text("wallet_addr,who,kind\n0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed,Bad Actor,ransomware\n"
                   "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD,Typo,scam\n")
    store = str(tmp_path / "store")
    code, out, err = run(["--store", store, "tags", "import", str(csv), "--format", "csv",
                          "--map", "address=wallet_addr", "--map", "label=who", "--map", "category=kind",
                          "--currency", "ETH", "--source", "https://example.org/list", "--json"], capsys)
    assert code == 0
    (f,) = json.loads(out)["files"]
    assert f["tags"] == 1 and f["invalid"] == 1 and f"{csv.resolve()}:3: invalid:" in f["problems"][0]
    code, out, _ = run(["--store", store, "tags", "show", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "--json"], capsys)
    (tag,) = json.loads(out)["tags"]
    assert (tag["label"], tag["category"], tag["sources"][0]["source"]) == (
        "Bad Actor", "ransomware", "https://example.org/list")
    code, _, err = run(["--store", store, "tags", "import", str(csv), "--format", "csv", "--map", "address=nope"], capsys)
    assert code == 2 and "no column 'nope'" in err
