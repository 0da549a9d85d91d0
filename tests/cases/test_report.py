"""`fundtrail case report`: PDF and HTML in English and Chinese on a simulated ransomware case.

Amounts are checked against the simulator's answer key (`answers.<policy>.by_target_sat`, the
reference oracle of docs/taint-policies.md), rendered by the test's own formatter; PDFs are read
with poppler (`pdftotext`, `pdffonts`, `pdftoppm`), and every page is written as a PNG to
test-artifacts/report/ for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.errors import DataError, NotFoundError, UsageError
from fundtrail.workspace import Actor, Workspace
from tests.cases.support_report import (ARTIFACTS, FACT, INFERENCE, SCRIPT, btc, build_case, label_of, pdftotext,
                                        poppler)


@pytest.fixture(scope="module")
def env(built: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The case, a bundle-shaped ZIP, and the report in both languages as PDF, in English as HTML."""
    e = build_case(built, tmp_path_factory.mktemp("report"))
    bundle = e["base"] / "case.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        zf.writestr("SHA256SUMS", "0" * 64 + "  manifest.json\n")
        zf.writestr("manifest.json", "{}")
    e["bundle"], e["bundle_hash"] = bundle, hashlib.sha256(b"0" * 64 + b"  manifest.json\n").hexdigest()
    ws: Workspace = e["ws"]
    for lang in ("en", "zh_CN"):
        e[f"pdf_{lang}"] = ws.case_report(e["case"], e["base"] / f"report-{lang}.pdf", lang=lang, bundle=bundle)
    e["html"] = ws.case_report(e["case"], e["base"] / "report.html")
    return e


def _pages(pdf: Path) -> int:
    info = subprocess.run([poppler("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_pdf_holds_findings_marks_amounts_and_bundle_hash(env: dict[str, Any], lang: str) -> None:
    result = env[f"pdf_{lang}"]
    assert (result.format, result.lang, result.bundle_hash) == ("pdf", lang, env["bundle_hash"])
    pdf = Path(result.path)
    assert pdf.read_bytes()[:5] == b"%PDF-" and hashlib.sha256(pdf.read_bytes()).hexdigest() == result.sha256
    text = pdftotext(pdf)
    flat = re.sub(r"\s+", " ", text)
    for finding in (FACT, INFERENCE, SCRIPT):
        assert finding in flat, finding
    marks = ("事实 [FACT]", "推断 [INFERENCE]") if lang == "zh_CN" else ("FACT", "INFERENCE")
    for mark in marks:
        assert mark in text
    assert env["bundle_hash"] in flat.replace(" ", "")
    seed = env["truth"]["seed_outputs"][0]
    assert f"output:{seed['txid']}:{seed['vout']}" in flat.replace(" ", "")  # the fact's reference, in its basis
    answers = env["truth"]["answers"]
    for address, sat in answers["fifo"]["by_target_sat"].items():
        assert address in flat.replace(" ", "")
        assert btc(sat) in flat, (address, sat)
    for address, sat in answers["haircut"]["by_target_sat"].items():  # exact haircut, rounded down
        assert btc(sat) in flat, (address, sat)
    reached = set(answers["fifo"]["by_target_sat"]) | set(answers["haircut"]["by_target_sat"])
    labels = {label_of(p) for p in env["truth"]["cashout_points"] if p["address"] in reached}
    assert all(label in flat for label in labels)
    for seed in env["truth"]["seed_txids"]:
        assert seed in flat.replace(" ", "")  # the appendix
    if lang == "zh_CN":
        assert "区块链资金追踪报告" in text and "方法说明" in text
    else:
        assert "Methodology" in text and "Timeline" in text


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_fonts_embedded_and_every_page_renders(env: dict[str, Any], lang: str) -> None:
    pdf = Path(env[f"pdf_{lang}"].path)
    fonts = subprocess.run([poppler("pdffonts"), str(pdf)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all(r[-5] == "yes" for r in rows), fonts  # the emb column
    if lang == "zh_CN":
        assert any("WenQuanYi" in r[0] for r in rows), fonts
    out = ARTIFACTS / lang
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("page-*.png"):
        old.unlink()
    subprocess.run([poppler("pdftoppm"), "-r", "60", "-png", str(pdf), str(out / "page")], check=True)
    pngs = sorted(out.glob("page-*.png"))
    assert len(pngs) == _pages(pdf) >= 7
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 2000 for p in pngs)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "data")]


def test_html_is_self_contained_and_escaped(env: dict[str, Any]) -> None:
    html = Path(env["html"].path).read_text("utf-8")
    parser = _Tags()
    parser.feed(html)
    parser.close()
    assert parser.tags[:1] == ["html"] and "svg" in parser.tags and "style" in parser.tags
    assert "script" not in parser.tags  # the finding's <script> is text
    assert "Victim paid &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; said so" in html
    assert "Ransomware &lt;group&gt; 1" in html
    assert "http://" not in html and "https://" not in html
    assert all(ref.startswith(("#", "data:")) for ref in parser.refs), parser.refs
    assert "url(" not in re.sub(r'url\(#[A-Za-z]+\)', "", html)
    assert env["html"].bundle_hash is None  # no --bundle and no bundle made: the cover says so
    assert "No evidence bundle has been made for this case." in html


def test_cover_takes_the_latest_bundle_made(env: dict[str, Any]) -> None:
    ws: Workspace = env["ws"]
    older, newer = "a" * 64, "b" * 64
    with ws.store.connect() as con:
        for h, when in ((newer, dt.datetime(2026, 12, 2)), (older, dt.datetime(2026, 12, 1))):
            con.execute("INSERT INTO case_bundles VALUES (?, ?, ?, 'alice', NULL, 1, 1)", [env["case"], h, when])
    try:
        result = ws.case_report(env["case"], env["base"] / "latest.html", lang="zh_CN")
        html = Path(result.path).read_text("utf-8")
        assert result.bundle_hash == newer and newer in html and older not in html
        assert "推断 [INFERENCE]" in html and 'lang="zh-CN"' in html
    finally:
        with ws.store.connect() as con:
            con.execute("DELETE FROM case_bundles WHERE case_id = ?", [env["case"]])


def test_bad_input_is_one_clear_error(env: dict[str, Any]) -> None:
    ws: Workspace = env["ws"]
    base: Path = env["base"]
    with pytest.raises(UsageError) as fmt:
        ws.case_report(env["case"], base / "report.docx")
    assert fmt.value.field == "output"
    with pytest.raises(UsageError) as lang:
        ws.case_report(env["case"], base / "r.pdf", lang="fr")
    assert lang.value.field == "lang"
    with pytest.raises(UsageError) as where:
        ws.case_report(env["case"], base / "missing-dir" / "r.html")
    assert where.value.field == "output"
    (base / "not-a-bundle.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError) as bad:
        ws.case_report(env["case"], base / "r.html", bundle=base / "not-a-bundle.zip")
    assert bad.value.field == "bundle"
    with pytest.raises(NotFoundError) as gone:
        ws.case_report(env["case"], base / "r.html", bundle=base / "nothing.zip")
    assert gone.value.field == "bundle"
    assert not (base / "r.html").exists() and not (base / "r.pdf").exists()
    stranger = Workspace.open(store=env["store"], actor=Actor(user="mallory"))
    with pytest.raises(NotFoundError) as hidden:
        stranger.case_report(env["case"], base / "r.html")
    assert hidden.value.field == "case"
    with pytest.raises(NotFoundError) as unknown:
        stranger.case_report("C-00000000", base / "r.html")
    assert hidden.value.one_line().replace(env["case"], "X") == unknown.value.one_line().replace("C-00000000", "X")


def test_cli_report_json_and_errors(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    out = env["base"] / "cli.html"
    code = main(["--store", str(env["store"]), "--as", "alice", "case", "report", env["case"], "-o", str(out),
                 "--lang", "zh_CN", "--bundle", str(env["bundle"]), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (doc["path"], doc["format"], doc["lang"], doc["bundle_hash"]) == (str(out), "html", "zh_CN",
                                                                             env["bundle_hash"])
    assert doc["findings"] == 3 and doc["traces"] == 2 and doc["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    code = main(["--store", str(env["store"]), "--as", "alice", "case", "report", env["case"], "-o", str(out),
                 "--lang", "de"])
    err = capsys.readouterr().err
    assert code == 2 and "lang" in err and len(err.strip().splitlines()) == 1
    code = main(["--store", str(env["store"]), "--as", "eve", "case", "report", env["case"], "-o", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and env["case"] in err and "Traceback" not in err
