"""Reliability of label imports: the malformed label corpus through the real CLI, one subprocess each.

    .venv/bin/python benchmarks/reliability_labels.py [--timeout 60] [--json]

For every case of tests/tags/labelcorpus.py (malformed TagPacks, OFAC lists, CSVs, JSON label files),
a store holding one committed file gets a directory with the bad file and a good file imported into
it (`fundtrail tags import DIR`). Counted:

- clean error: the bad file is reported `failed` with a one-line problem naming file:line, exit 3;
- accepted: the file is imported, its bad records (if any) reported by file:line and left out;
- traceback: a Python traceback on stderr, or a file reported as an unexpected error (a reader bug);
- hang: no answer within --timeout seconds (the process is killed);
- data wrong or lost: the good file not committed, the earlier file's tags changed, or a rejected
  file's tags stored; also any outcome other than the one the corpus expects.

Set PYTHONPATH to another checkout's `src` to measure that version (docs/reliability.md has both).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("labelcorpus", ROOT / "tests/tags/labelcorpus.py")
corpus = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules["labelcorpus"] = corpus
_spec.loader.exec_module(corpus)  # type: ignore[union-attr]

GOOD = f"address,label,category\n{corpus.GOOD_BTC},Good exchange,exchange\n"
EARLIER = f"address,label,category\n{corpus.GOOD_BTC2},Earlier exchange,exchange\n"


def _cli(store: Path, *args: str, timeout: float) -> tuple[int | None, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_")}
    env["FUNDTRAIL_CONFIG"] = str(store.parent / "none.toml")
    try:
        p = subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "--store", str(store), *args],
                           capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None, "", ""
    return p.returncode, p.stdout, p.stderr


def run_case(case, base: Path, work: Path, timeout: float) -> tuple[str, str]:
    store = work / "store"
    shutil.copytree(base, store)
    folder = work / "labels"
    bad = folder / case.filename
    bad.parent.mkdir(parents=True)
    bad.write_bytes(case.data)
    (folder / "zz_good.csv").write_text(GOOD)
    started = time.monotonic()
    code, out, err = _cli(store, "tags", "import", str(folder), "--json", timeout=timeout)
    if code is None:
        return "hang", f"no answer in {timeout:.0f} s"
    if "Traceback" in err or ("unexpected " in err and "reading this file" in err):
        return "traceback", err.strip().splitlines()[-1][:200]
    if any(ln.startswith(str(bad.resolve())) and len(ln) > 400 for ln in err.splitlines()):
        return "wrong", "a problem is not one short line"
    try:
        report = json.loads(out)
    except ValueError:
        return "wrong", f"no JSON report (exit {code})"
    files = {Path(f["path"]).name: f for f in report["files"]}
    good, mine = files.get("zz_good.csv"), files.get(Path(case.filename).name)
    _, shown, _ = _cli(store, "tags", "show", corpus.GOOD_BTC, "--json", timeout=timeout)
    _, earlier, _ = _cli(store, "tags", "show", corpus.GOOD_BTC2, "--json", timeout=timeout)
    if not good or good["status"] != "imported" or "Good exchange" not in shown:
        return "wrong", "the good file next to it was not committed"
    if "Earlier exchange" not in earlier:
        return "wrong", "the earlier file's tags were lost"
    status = mine["status"] if mine else "missing"
    expected = {"failed": "failed", "partial": "imported", "imported": "imported"}[case.outcome]
    if status != expected or (case.outcome == "failed") != (code == 3):
        return "wrong", f"{status}, exit {code}; expected {case.outcome}"
    problems = mine["problems"] if mine else []
    if case.says and not any(case.says in p for p in problems):
        return "wrong", f"no problem saying {case.says!r}"
    if any("\n" in p or len(p) > 400 for p in problems):
        return "wrong", "a problem is not one short line"
    took = time.monotonic() - started
    return ("clean" if status == "failed" else "accepted"), f"{status} in {took:.1f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cases = corpus.cases()
    counts = {"tried": 0, "clean": 0, "accepted": 0, "traceback": 0, "hang": 0, "wrong": 0}
    rows = []
    with tempfile.TemporaryDirectory(prefix="fundtrail-labels-") as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        (base / "earlier.csv").write_text(EARLIER)
        code, _, err = _cli(base / "store", "tags", "import", str(base / "earlier.csv"), timeout=args.timeout)
        assert code == 0, err
        for i, case in enumerate(cases):
            work = Path(tmp) / f"case{i}"
            work.mkdir()
            outcome, detail = run_case(case, base / "store", work, args.timeout)
            shutil.rmtree(work, ignore_errors=True)
            counts["tried"] += 1
            counts[outcome] += 1
            rows.append({"case": case.name, "kind": case.kind, "outcome": outcome, "detail": detail})
            if not args.json:
                print(f"{outcome:9} {case.kind:7} {case.name}: {detail}", flush=True)
    machine = f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    if args.json:
        print(json.dumps({"machine": machine, "counts": counts, "cases": rows}, indent=1))
    else:
        print(f"\n{machine}\ninputs tried {counts['tried']}, clean errors {counts['clean']}, accepted "
              f"{counts['accepted']}, tracebacks {counts['traceback']}, hangs {counts['hang']}, "
              f"data wrong or lost {counts['wrong']}")
    return 0 if counts["traceback"] == counts["hang"] == counts["wrong"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
