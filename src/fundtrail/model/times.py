"""Points in time as users write them: an ISO date or datetime (UTC unless it says otherwise), or
unix seconds. The CLI's `--since`/`--until` and the API's `since`/`until` read them the same way."""

from __future__ import annotations

import datetime as _dt

from fundtrail.errors import UsageError


def parse_time(text: str | None, field: str) -> int | None:
    """Unix seconds of `text`, None for None; a UsageError naming `field` for anything else."""
    if text is None:
        return None
    t = text.strip()
    if t.isdigit():
        return int(t)
    try:
        when = _dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{field} {text!r} is not a date (YYYY-MM-DD[THH:MM[:SS]]) or unix time",
                         field=field) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return int(when.timestamp())
