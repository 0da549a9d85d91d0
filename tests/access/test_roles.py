"""The role table: who may do what, and bad roles named as such."""

from __future__ import annotations

import pytest

from fundtrail.errors import PermissionDenied, UsageError
from fundtrail.workspace.access import PERMISSIONS, ROLES, allows, require

EXPECTED = {
    "analyst": {"read", "screen", "risk"},
    "investigator": {"read", "screen", "risk", "trace", "paths", "tags.write", "cases"},
    "auditor": {"audit.read"},
    "admin": {"admin"},
}


def test_the_whole_role_permission_matrix() -> None:
    assert set(ROLES) == set(EXPECTED)
    for role, granted in EXPECTED.items():
        for perm in PERMISSIONS:
            assert allows(role, perm) is (perm in granted), (role, perm)


def test_unknown_role_is_a_usage_error_on_field_role() -> None:
    with pytest.raises(UsageError) as err:
        allows("superuser", "read")
    assert err.value.field == "role" and "superuser" in err.value.message


def test_unknown_permission_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        allows("admin", "delete-everything")


def test_require_denies_with_403_error() -> None:
    require("investigator", "trace")
    for role in ("analyst", None, "nonsense"):
        with pytest.raises(PermissionDenied) as err:
            require(role, "trace")
        assert err.value.http_status == 403
