"""The standalone verifier printed in docs/security.md works on a real log, without fundtrail."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fundtrail.workspace.access import AuditEntry, append_audit

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_documented_verifier_agrees_with_audit_verify(store_dir: Path, tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert code is not None
    script = tmp_path / "verify_audit.py"
    script.write_text(code.group(1))
    for i in range(5):
        last = append_audit(store_dir, AuditEntry(user="u", action="tx", subjects=[f"tx{i}", "ünï"]))
    log, head = store_dir / "audit" / "audit.log", store_dir / "audit" / "head.json"

    def check() -> str:
        done = subprocess.run([sys.executable, "-I", str(script), str(log), str(head)], capture_output=True,
                              text=True, timeout=60, check=True)
        return done.stdout.strip()

    assert check() == f"intact: 5 records, last hash {last.hash}"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:2] + lines[3:]))
    assert check() == "bad record at line 3"
    log.write_bytes(b"".join(lines[:4]))
    assert check() == "records cut off after seq 4"
