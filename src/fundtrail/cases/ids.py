"""Case ids and the checks of what users type into a case (titles, notes, findings).

Ids are random (`C-` and 8 hex digits for cases; `S-`, `N-`, `F-` and 8 hex digits for seeds,
notes and findings, unique within their case) so that they say nothing about how many cases
exist or when they were opened.
"""

from __future__ import annotations

import re
import secrets

from fundtrail.errors import UsageError

CASE_ID = re.compile(r"C-[0-9a-f]{8}")
MAX_SHORT = 200
MAX_TEXT = 20_000
CASE_ROLES = ("owner", "member", "viewer")
STATUSES = ("open", "closed", "archived")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f]")


def new_id(prefix: str) -> str:
    """A fresh random id `<prefix>-<8 hex>`; callers retry on the (rare) collision."""
    return f"{prefix}-{secrets.token_hex(4)}"


def check_case_id(case_id: object, *, field: str = "case") -> str:
    """`case_id` when shaped like a case id, else a UsageError on `field` (says nothing about
    whether such a case exists)."""
    if not isinstance(case_id, str) or not CASE_ID.fullmatch(case_id):
        raise UsageError(f"{field} {str(case_id)[:40]!r} is not a case id (C- and 8 hex digits, as "
                         "`fundtrail case list` shows)", field=field)
    return case_id


def _checked(value: object, field: str, required: bool, limit: int, control: re.Pattern[str],
             rule: str) -> str | None:
    """`value` stripped, within `limit` characters and free of `control` characters (else a
    UsageError saying `rule`); None for an absent optional one."""
    body = value.strip() if isinstance(value, str) else ""
    if not body:
        if required:
            raise UsageError(f"{field} is empty", field=field)
        return None
    if len(body) > limit or control.search(body):
        raise UsageError(f"{field} must be {rule}", field=field)
    return body


def line(value: object, field: str, *, required: bool = True) -> str | None:
    """A one-line text of at most 200 characters, stripped; None for an absent optional one."""
    return _checked(value, field, required, MAX_SHORT, _CONTROL_LINE, f"one line of at most {MAX_SHORT} characters")


def text(value: object, field: str, *, required: bool = True) -> str | None:
    """A free text (notes, findings, bases) of at most 20,000 characters; line breaks allowed."""
    return _checked(value, field, required, MAX_TEXT, _CONTROL, f"at most {MAX_TEXT:,} characters of text")


def confidence(value: object) -> float:
    """A confidence between 0 and 1, else a UsageError on `confidence`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise UsageError(f"confidence must be a number from 0 to 1 (got {value!r})", field="confidence")
    return float(value)

