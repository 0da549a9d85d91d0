"""The one exception tree of fundtrail.

Every error a user can cause or meet derives from `FundtrailError`. Entry points (the CLI, later the
REST API) map this tree once: to an exit code and a one-line message, or to an HTTP status and body.
Messages say what is wrong and where (file, byte offset, block, field) and, where useful, what to do.
"""

from __future__ import annotations


class FundtrailError(Exception):
    """Base of all errors fundtrail reports to a user."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message as one line, with the hint appended when there is one."""
        text = self.message.replace("\n", " ")
        return f"{text} ({self.hint})" if self.hint else text


class UsageError(FundtrailError):
    """The caller asked for something malformed (bad option value, unknown chain, bad address)."""

    exit_code = 2


class ConfigError(FundtrailError):
    """Settings are missing or inconsistent (bad store path, unreadable settings file)."""

    exit_code = 2


class DataError(FundtrailError):
    """Input data is malformed: a truncated or corrupt block file, a bad raw block, a bad record."""

    exit_code = 3


class StoreError(FundtrailError):
    """The store is unusable: locked by another process, newer schema than this version, damaged."""

    exit_code = 4


class SourceError(FundtrailError):
    """A data source (node RPC endpoint) is unreachable or misbehaves."""

    exit_code = 5


class NotFoundError(FundtrailError):
    """The requested object (block, transaction, address) is not in the store."""

    exit_code = 6


class Interrupted(FundtrailError):
    """The user interrupted a long-running job; everything committed so far is kept."""

    exit_code = 130
