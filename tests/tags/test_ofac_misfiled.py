"""OFAC's XBT list carries a TRON address (real data): it is tagged as TRX with a warning, never
dropped, so screening that address finds the sanction (issue 12, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

from fundtrail.cli.main import main

TRON_IN_XBT = "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq"


def test_misfiled_tron_address_is_tagged_and_screens_as_sanctioned(testdata: Path, tmp_path: Path,
                                                                    capsys) -> None:
    xbt = testdata / "sanctions" / "ofac-0xB10C" / "sanctioned_addresses_XBT.txt"
    assert TRON_IN_XBT in xbt.read_text().split()  # the real list files it under XBT
    store = str(tmp_path / "s")
    assert main(["--store", store, "tags", "import", str(xbt)]) == 0
    err = capsys.readouterr().err
    assert f"{TRON_IN_XBT} is listed under XBT but its form is a TRX address" in err
    assert main(["--store", store, "tags", "show", TRON_IN_XBT, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    tags = shown["tags"] if isinstance(shown, dict) else shown
    assert any(t["currency"] == "TRX" and t["category"] == "sanction" for t in tags)
    assert main(["--store", store, "risk", TRON_IN_XBT, "--json"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[0])
    assert result["score"] == 100
