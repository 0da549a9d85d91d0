"""The one exception tree of fundtrail.

Every error a user can cause or meet derives from `FundtrailError`. Entry points (the CLI, later the
REST API) map this tree once: to an exit code and a one-line message, or to an HTTP status and body.
Messages say what is wrong and where (file, byte offset, block, field) and, where useful, what to do.
"""

from __future__ import annotations


class FundtrailError(Exception):
    """Base of all errors fundtrail reports to a user.

    Besides the message, an error carries structured details the interfaces render: `field` names
    the request field at fault (the CLI shows its option, the API returns it with HTTP 422), `code`
    is a stable machine-readable name of the kind of error (the API's `error.code`).
    """

    exit_code: int = 1
    code: str = "error"
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field

    def one_line(self) -> str:
        """The message as one line, with the hint appended when there is one."""
        text = self.message.replace("\n", " ")
        return f"{text} ({self.hint})" if self.hint else text


class UsageError(FundtrailError):
    """The caller asked for something malformed (bad option value, unknown chain, bad address)."""

    exit_code = 2
    code = "bad_request"
    http_status = 422


class ConfigError(FundtrailError):
    """Settings are missing or inconsistent (bad store path, unreadable settings file)."""

    exit_code = 2
    code = "config"
    http_status = 500


class DataError(FundtrailError):
    """Input data is malformed: a truncated or corrupt block file, a bad raw block, a bad record."""

    exit_code = 3
    code = "bad_data"
    http_status = 422


class StoreError(FundtrailError):
    """The store is unusable: locked by another process, newer schema than this version, damaged."""

    exit_code = 4
    code = "store_unavailable"
    http_status = 503


class SourceError(FundtrailError):
    """A data source (node RPC endpoint) is unreachable or misbehaves."""

    exit_code = 5
    code = "source_failed"
    http_status = 502


class BlockMissing(SourceError):
    """The node does not have a block (or a receipt) it should: not synced, pruned, or its head
    moved back meanwhile (a reorganisation to a shorter branch); a follow run polls again."""


class NotFoundError(FundtrailError):
    """The requested object (block, transaction, address) is not in the store."""

    exit_code = 6
    code = "not_found"
    http_status = 404


class Interrupted(FundtrailError):
    """The user interrupted a long-running job; everything committed so far is kept."""

    exit_code = 130
    code = "interrupted"
    http_status = 503


class TooLargeError(UsageError):
    """A request or input exceeds a configured bound (rows in a batch, bytes in a body)."""

    code = "too_large"
    http_status = 413


class AuthError(FundtrailError):
    """No valid credentials: a missing, unknown, revoked or expired token, or a disabled user."""

    exit_code = 7
    code = "unauthenticated"
    http_status = 401


class PermissionDenied(FundtrailError):
    """The authenticated user's role does not allow the action."""

    exit_code = 7
    code = "forbidden"
    http_status = 403


class RateLimited(FundtrailError):
    """Too many requests for one token in the current window."""

    exit_code = 5
    code = "rate_limited"
    http_status = 429


class AuditError(StoreError):
    """The audit log cannot be written or read; the action it would record is refused."""

    code = "audit_unavailable"
