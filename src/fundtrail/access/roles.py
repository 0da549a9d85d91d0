"""Roles and the permissions they grant: the one table the API and the CLI check against.

Permissions are names (`read`, `trace`, `audit.read`, ...) rather than roles, so a route says what
it needs and the table says who has it; adding a role never touches a route.
"""

from __future__ import annotations

from fundtrail.errors import PermissionDenied, UsageError

#: Every permission a route or command can require.
PERMISSIONS: tuple[str, ...] = ("read", "screen", "risk", "trace", "paths", "tags.write", "cases",
                                "audit.read", "admin")

_ANALYST = frozenset({"read", "screen", "risk"})

#: role -> the permissions it grants. The auditor reads the audit log and nothing else (so that
#: the person checking lookups is not the one making them); the admin manages users and tokens.
ROLES: dict[str, frozenset[str]] = {
    "analyst": _ANALYST,
    "investigator": _ANALYST | {"trace", "paths", "tags.write", "cases"},
    "auditor": frozenset({"audit.read"}),
    "admin": frozenset({"admin"}),
}


def check_role(role: str) -> str:
    """`role` when it is a known role, else a UsageError on field `role`."""
    if role not in ROLES:
        raise UsageError(f"role {role!r} is not a role (one of: {', '.join(ROLES)})", field="role")
    return role


def allows(role: str, permission: str) -> bool:
    """True when `role` grants `permission`. An unknown role is a UsageError (field `role`); an
    unknown permission is a programming error (ValueError), never silently denied."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return permission in ROLES[check_role(role)]


def require(role: str | None, permission: str) -> None:
    """PermissionDenied unless `role` grants `permission` (a missing role grants nothing)."""
    if role is None or role not in ROLES or not allows(role, permission):
        raise PermissionDenied(f"this needs the {permission!r} permission, which role "
                               f"{role or 'none'!r} does not have")
