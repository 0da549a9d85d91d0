"""Test-only crash injection shared by every ingest pipeline.

FUNDTRAIL_TEST_CRASH_POINT names a point (see the `crash_point` calls) and FUNDTRAIL_TEST_CRASH_AT
the how-many-th time it is reached (default 1); the process then kills itself with SIGKILL, as
`kill -9` would. Unset in normal use, it costs one environment lookup per call.
"""

from __future__ import annotations

import os
import signal

_CRASH_ENV, _CRASH_AT_ENV = "FUNDTRAIL_TEST_CRASH_POINT", "FUNDTRAIL_TEST_CRASH_AT"
_crash_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here with SIGKILL if the crash-injection variables select this point (tests only)."""
    if os.environ.get(_CRASH_ENV) != name:
        return
    _crash_hits[name] = _crash_hits.get(name, 0) + 1
    if _crash_hits[name] >= int(os.environ.get(_CRASH_AT_ENV) or 1):
        os.kill(os.getpid(), signal.SIGKILL)
