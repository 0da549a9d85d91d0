"""The one settings object of fundtrail and how it is resolved.

Precedence, highest first: command-line flags > environment variables (FUNDTRAIL_*) > the settings
file (TOML; `FUNDTRAIL_CONFIG` or ~/.config/fundtrail/settings.toml) > built-in defaults.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from fundtrail.errors import ConfigError


def _default_store() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fundtrail" / "store"


def _config_path() -> Path:
    env = os.environ.get("FUNDTRAIL_CONFIG")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fundtrail" / "settings.toml"


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with `Settings.load(**flags)`."""

    store: Path
    log_level: str = "warning"
    batch_mb: int = 64  # ingest batch size in MB of block data
    batch_blocks: int = 5000  # ... and at most this many blocks per batch (whichever comes first)
    # Memory the whole-chain stages (ingest state, clustering, graph and exposure indexes) may hold before
    # they spill to disk (docs/scale.md): "50%" of the machine's memory (the default), "512MB", "4GB", or MB.
    memory_limit: str = "50%"
    rpc_url: str | None = None
    rpc_cookie: Path | None = None
    # Bounds on untrusted input (docs/cli.md, "Resource limits"): each is checked before the resource
    # is spent, and exceeding one is a one-line error naming the input and the setting.
    max_decompressed_mb: int = 1024  # a .bz2 raw-block file may expand to at most this much
    max_block_bytes: int = 4_000_000  # a blk frame's declared length (Bitcoin's consensus maximum)
    max_rpc_response_mb: int = 512  # one JSON-RPC / HTTP answer of a node
    rpc_timeout: int = 60  # seconds without progress on one request before it fails
    rpc_deadline: int = 600  # seconds for one call including its retries
    max_yaml_nodes: int = 1_000_000  # nodes a TagPack may expand to (YAML aliases counted each time)
    max_csv_field_kb: int = 1024  # one CSV cell of a label file or a user's sheet
    max_json_depth: int = 2_500  # nesting of one JSON document (node answers, label files)
    # The REST API (`fundtrail serve`, docs/api.md "Limits"): per-token token bucket, body and batch bounds,
    # and how often a running server looks for new ingests, tag imports and cluster runs.
    api_rate_per_second: int = 50  # requests per second one token may sustain
    api_burst: int = 100  # requests one token may make at once before the rate applies
    api_max_body_mb: int = 16  # one request body (JSON or CSV upload)
    api_max_upload_mb: int = 512  # one file upload: a case attachment, a bundle to verify
    api_max_screen_rows: int = 100_000  # inputs of one POST /api/v1/screen
    api_refresh_seconds: int = 5  # at most this often a request first picks up store changes
    # The web workbench (docs/security.md "Passwords and web sessions"): how long a login lasts, and how many
    # failed logins one user name, and one client address, may make per minute (the web layer limits them).
    web_session_hours: int = 12
    web_login_per_minute: int = 10
    case_attachment_max_mb: int = 64  # one case attachment
    # Webhook delivery of alerts (docs/watch.md, "Delivery"): one POST's whole exchange, the first retry's
    # wait (doubling, with jitter, after each failed attempt), and the attempts before a delivery is dead.
    webhook_timeout: float = 5.0
    webhook_retry_base: float = 2.0
    webhook_max_attempts: int = 8
    # How often a running `serve` delivers the due outbox rows (docs/api.md, "Monitoring"); 0: it does not.
    webhook_poll_seconds: float = 2.0

    @classmethod
    def load(cls, **flags: object) -> Settings:
        """Resolve defaults, then the settings file, then FUNDTRAIL_* variables, then `flags`."""
        values: dict[str, object] = {"store": _default_store()}
        path = _config_path()
        if path.exists():
            try:
                data = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from None
            values.update(_known(data, str(path)))
        for f in fields(cls):
            env = os.environ.get(f"FUNDTRAIL_{f.name.upper()}")
            if env:
                values[f.name] = env
        values.update({k: v for k, v in flags.items() if v is not None})
        return cls(**_coerce(values))

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def memory_limit_bytes(self) -> int:
        """`memory_limit` in bytes (a percentage taken of this machine's memory, or its cgroup's limit)."""
        return parse_memory_limit(self.memory_limit)


def machine_memory_bytes() -> int:
    """Physical memory, or the memory cgroup's limit when that is lower (a container, a systemd slice)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MIN_MEMORY_LIMIT = 64 << 20  # below this the fixed costs (Python, numba, DuckDB) dominate anyway


def parse_memory_limit(text: str) -> int:
    """Bytes for "50%", "512MB", "4GB", "4g" or a plain number of MB; ConfigError naming the setting."""
    m = _MEMORY.match(str(text))
    if not m:
        raise ConfigError(f"memory_limit must be a percentage of memory (\"50%\") or a size (\"512MB\", "
                          f"\"4GB\"), got {text!r}", field="memory_limit")
    number, unit = float(m.group(1)), (m.group(2) or "m").lower()
    if unit == "%":
        if not 0 < number <= 100:
            raise ConfigError(f"memory_limit must be between 0% and 100%, got {text!r}", field="memory_limit")
        size = int(machine_memory_bytes() * number / 100)
    else:
        size = int(number * _UNITS[unit[0]])
    if size < MIN_MEMORY_LIMIT:
        raise ConfigError(f"memory_limit must be at least {MIN_MEMORY_LIMIT >> 20}MB, got {text!r}",
                          field="memory_limit")
    return size


def _known(data: dict, origin: str) -> dict:
    names = {f.name for f in fields(Settings)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{origin}: unknown setting(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(names))}")
    return data


_INT_RANGES = {"batch_mb": (1, 4096), "batch_blocks": (1, 1_000_000),
               "max_decompressed_mb": (1, 1 << 20), "max_block_bytes": (81, 1 << 30),
               "max_rpc_response_mb": (1, 1 << 16), "rpc_timeout": (1, 86_400), "rpc_deadline": (1, 864_000),
               "max_yaml_nodes": (1, 1 << 40), "max_csv_field_kb": (1, 1 << 20), "max_json_depth": (8, 100_000),
               "api_rate_per_second": (1, 1_000_000), "api_burst": (1, 1_000_000), "api_max_body_mb": (1, 4096),
               "api_max_upload_mb": (1, 1 << 16),
               "api_max_screen_rows": (1, 10_000_000), "api_refresh_seconds": (0, 86_400),
               "web_session_hours": (1, 720), "web_login_per_minute": (1, 10_000),
               "case_attachment_max_mb": (1, 4096), "webhook_max_attempts": (1, 100)}
#: Settings in seconds that may have a fraction (a test's receiver answers in well under a second).
_FLOAT_RANGES = {"webhook_timeout": (0.1, 600.0), "webhook_retry_base": (0.01, 86_400.0),
                 "webhook_poll_seconds": (0.0, 3_600.0)}


def _whole_number(key: str, value: object, lo: int, hi: int) -> int:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a whole number, got {value!r}") from None
    if not lo <= number <= hi:
        raise ConfigError(f"{key} must be between {lo} and {hi}, got {number}")
    return number


def _seconds(key: str, value: object, lo: float, hi: float) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number of seconds, got {value!r}") from None
    if not lo <= number <= hi:  # also refuses nan
        raise ConfigError(f"{key} must be between {lo:g} and {hi:g} seconds, got {number:g}")
    return number


def _coerce(values: dict[str, object]) -> dict[str, Any]:
    out = dict(values)
    for key in ("store", "rpc_cookie"):
        if out.get(key) is not None:
            out[key] = Path(str(out[key])).expanduser()
    for key, (lo, hi) in _INT_RANGES.items():
        if key in out:
            out[key] = _whole_number(key, out[key], lo, hi)
    for key, (flo, fhi) in _FLOAT_RANGES.items():
        if key in out:
            out[key] = _seconds(key, out[key], flo, fhi)
    level = str(out.get("log_level", "warning")).lower()
    if level not in {"debug", "info", "warning", "error"}:
        raise ConfigError(f"log_level must be debug, info, warning or error, got {level!r}")
    out["log_level"] = level
    if "memory_limit" in out:
        parse_memory_limit(str(out["memory_limit"]))  # a bad value is an error at load, not mid-run
        out["memory_limit"] = str(out["memory_limit"])
    return out
