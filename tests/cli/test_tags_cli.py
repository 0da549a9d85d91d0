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
    assert "sanctioned_addresses_XBT.txt:355: warning: TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq is listed under XBT" in err
    assert "[3/3] imported" in err
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
    code, out, _ = run(["--store", store, "tags", "show", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "--json"], capsys)
    assert code == 0 and json.loads(out)["tags"] == []


def test_lookup_file_one_json_line_per_tag_with_the_address(store: str, tmp_path: Path, capsys) -> None:
    queries = tmp_path / "q.txt"
    queries.write_text(f"{XBT_FIRST}\n{HYDRA}\n\n1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n")
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
    assert code == 6 and "no fundtrail store" in err  # a missing store is "not found"


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
    code, out, _ = run(["--store", store, "tags", "show", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "--json"],
                       capsys)
    (tag,) = json.loads(out)["tags"]
    assert (tag["label"], tag["category"], tag["sources"][0]["source"]) == (
        "Bad Actor", "ransomware", "https://example.org/list")
    code, _, err = run(["--store", store, "tags", "import", str(csv), "--format", "csv", "--map", "address=nope"],
                       capsys)
    assert code == 2 and "no column 'nope'" in err


BECH32_XBT = "bc1q05aktddf9ce4p7hh3stgsf253m4vweu7nkhtmw"  # line 356 of the OFAC XBT list
TYPO = "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbB"  # HYDRA with its last character changed
GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"  # valid, in neither list


def test_lookup_of_an_excel_file_with_bom_and_crlf_finds_the_first_address(store: str, tmp_path: Path,
                                                                           capsys) -> None:
    # Issue 12 item 5: the BOM glued to the first address made it miss, without a word.
    queries = tmp_path / "bom.txt"
    queries.write_bytes(b"\xef\xbb\xbf" + f"{XBT_FIRST}\r\n{GENESIS}\r\n".encode())
    code, out, err = run(["--store", store, "tags", "lookup", str(queries), "--json"], capsys)
    assert code == 0
    found = [json.loads(x) for x in out.splitlines()]
    assert {(t["address"], t["line"], t["category"]) for t in found} == {
        (XBT_FIRST, 1, "sanction"), (XBT_FIRST, 1, "market")}
    assert "1 of 2 addresses tagged, 2 tags" in err


def test_lookup_utf16_file_lists_malformed_rows_and_exits_3(store: str, tmp_path: Path, capsys) -> None:
    # UTF-16 (Excel's "Unicode text") gave a traceback; typos and garbage read as "0 tags".
    rows = ["address", XBT_FIRST, TYPO, "not-an-address", BECH32_XBT, BECH32_XBT.upper(), HYDRA, XBT_FIRST]
    queries = tmp_path / "u16.txt"
    queries.write_bytes("\r\n".join(rows).encode("utf-16"))
    code, out, err = run(["--store", store, "tags", "lookup", str(queries), "--json"], capsys)
    assert code == 3  # bad input data: scripts notice
    records = [json.loads(x) for x in out.splitlines()]
    errors = [r for r in records if r["record"] == "error"]
    assert [(e["line"], e["address"]) for e in errors] == [(3, TYPO), (4, "not-an-address")]
    assert "checksum" in errors[0]["error"] and errors[0]["file"] == str(queries)
    tagged = {(r["line"], r["address"]) for r in records if r["record"] == "tag"}
    assert tagged == {(2, XBT_FIRST), (5, BECH32_XBT), (7, HYDRA)}  # duplicates looked up once
    assert f"{queries}:3: invalid address '{TYPO}'" in err and f"{queries}:4: invalid address" in err
    # 7 rows under the header, 3 distinct addresses: the upper-case bech32 and the repeated
    # XBT_FIRST are duplicate rows.
    assert "3 of 3 addresses tagged" in err and "2 duplicate row(s)" in err
    assert err.strip().splitlines()[-1] == (f"fundtrail: error: 2 of 7 rows of {queries} are not valid "
                                            "addresses (listed above); the others were looked up")


def test_lookup_csv_sheet_by_its_address_column(store: str, tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "customers.csv"
    sheet.write_text(f"customer,address\nc1,{HYDRA}\nc2,\nc3,{GENESIS}\n", encoding="utf-8")
    code, out, err = run(["--store", store, "tags", "lookup", str(sheet)], capsys)
    assert code == 3 and out.count(HYDRA) == 2 and f"{sheet}:3: invalid address '': no address" in err
    assert "1 of 2 addresses tagged" in err
    code, _, err = run(["--store", store, "tags", "lookup", str(sheet), "--column", "wallet"], capsys)
    assert code == 2 and "no column 'wallet'" in err and err.count("\n") == 1


def test_show_refuses_malformed_addresses(store: str, capsys) -> None:
    for text, why in ((TYPO, "bad Base58Check checksum"), ("not-an-address", "not an address"),
                      (HYDRA[:-1], "checksum"), ("0x12345", "wrong length")):
        code, out, err = run(["--store", store, "tags", "show", text], capsys)
        assert code == 2 and out == "" and why in err and err.count("\n") == 1, (text, err)
    # Text of no known form is an address when a tag is keyed by it (an EOS account name).
    assert run(["--store", store, "tags", "add", "bitfinexcw21", "--currency", "EOS", "--label",
                "Bitfinex cold wallet", "--category", "exchange"], capsys)[0] == 0
    code, out, _ = run(["--store", store, "tags", "show", "bitfinexcw21", "--json"], capsys)
    shown = json.loads(out)
    assert code == 0 and shown["validation"] == "unrecognised" and len(shown["tags"]) == 1


def test_add_confidence_is_refused_or_its_mapping_printed(store: str, capsys) -> None:
    def stored() -> list[dict]:
        return json.loads(run(["--store", store, "tags", "show", GENESIS, "--json"], capsys)[1])["tags"]

    code, out, err = run(["--store", store, "tags", "add", GENESIS, "--label", "Satoshi", "--category",
                          "miner", "--confidence", "bogus"], capsys)
    assert code == 2 and "unknown confidence 'bogus'; nothing stored" in err and "stored as" not in err
    assert "ownership" in err and "high -> forensic" in err and stored() == []
    code, _, err = run(["--store", store, "tags", "add", GENESIS, "--label", "Satoshi", "--category", "miner",
                        "--date", "yesterday"], capsys)
    assert code == 2 and "nothing stored" in err and stored() == []
    code, out, err = run(["--store", store, "tags", "add", GENESIS, "--label", "Satoshi", "--category",
                          "miner", "--confidence", "high", "--json"], capsys)
    assert code == 0 and "confidence 'high' read as forensic (level 50)" in err
    added = json.loads(out)
    assert (added["confidence"], added["confidence_level"], added["confidence_given"]) == ("forensic", 50, "high")
    (tag,) = stored()
    assert tag["confidence"] == "forensic"


def test_search_says_date_unknown_instead_of_none(store: str, capsys) -> None:
    code, out, _ = run(["--store", store, "tags", "search", "OFAC SDN", "--limit", "3"], capsys)
    assert code == 0 and "date unknown" in out and "None" not in out  # the OFAC lists carry no date
    code, out, _ = run(["--store", store, "tags", "search", "hydra", "--limit", "1"], capsys)
    assert "date=2023-05-10" in out and "None" not in out


def test_export_to_a_missing_directory_or_onto_a_directory(store: str, tmp_path: Path, capsys) -> None:
    for target, why in ((tmp_path / "no" / "such" / "dir.yaml", "does not exist"), (tmp_path, "is a directory")):
        code, out, err = run(["--store", store, "tags", "export", "--all", "-o", str(target)], capsys)
        assert code == 2 and why in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "no").exists()
