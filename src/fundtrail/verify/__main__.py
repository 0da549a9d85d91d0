"""`python -m fundtrail.verify BUNDLE [--expect HASH] [--json] [--exact]`, or the package copied out of the
project and run as a directory: `python -I -S verify BUNDLE` (standard library only, no install).

Exit status: 0 every check passed; 1 a check failed; 2 the bundle cannot be read at all.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

if not __package__:  # run as a directory (`python -I -S path/to/verify`): import it as a package (PEP 366)
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[0] = os.path.dirname(_here)
    __package__ = os.path.basename(_here)
    importlib.import_module(__package__)

from .bundle import verify_bundle
from .report import render


def main(argv: list[str] | None = None) -> int:
    """Verify one bundle, print the result; the exit status."""
    parser = argparse.ArgumentParser(prog="verify", description="Check a fundtrail evidence bundle (no store, "
                                                                "no network).")
    parser.add_argument("bundle", help="the bundle (a .zip file)")
    parser.add_argument("--expect", metavar="HASH", help="the bundle hash it must have (SHA-256 of SHA256SUMS)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--exact", action="store_true", help="haircut in exact fractions, not on a 2^-256-sat grid "
                                                             "(the same satoshi within a stated bound; slow)")
    args = parser.parse_args(argv)
    report = verify_bundle(args.bundle, expect=args.expect, exact=args.exact)
    doc = report.as_dict()
    print(json.dumps(doc, indent=2, sort_keys=True) if args.json else render(doc))
    return 0 if report.ok else 1 if report.readable else 2


if __name__ == "__main__":
    sys.exit(main())
