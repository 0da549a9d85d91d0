"""Settings precedence: flags > FUNDTRAIL_* environment > settings file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from fundtrail.errors import ConfigError
from fundtrail.settings import Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in ("FUNDTRAIL_STORE", "FUNDTRAIL_LOG_LEVEL", "FUNDTRAIL_BATCH_MB", "FUNDTRAIL_RPC_URL",
                "FUNDTRAIL_RPC_COOKIE", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(key, raising=False)
    cfg = tmp_path / "settings.toml"
    monkeypatch.setenv("FUNDTRAIL_CONFIG", str(cfg))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return cfg


def test_defaults(clean_env: Path, tmp_path: Path) -> None:
    s = Settings.load()
    assert s.store == tmp_path / "home" / ".local" / "share" / "fundtrail" / "store"
    assert s.log_level == "warning" and s.batch_mb == 64


def test_file_then_env_then_flags(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.write_text('store = "/from/file"\nbatch_mb = 8\nlog_level = "info"\n')
    s = Settings.load()
    assert (s.store, s.batch_mb, s.log_level) == (Path("/from/file"), 8, "info")
    monkeypatch.setenv("FUNDTRAIL_STORE", "/from/env")
    monkeypatch.setenv("FUNDTRAIL_BATCH_MB", "16")
    s = Settings.load()
    assert (s.store, s.batch_mb, s.log_level) == (Path("/from/env"), 16, "info")
    s = Settings.load(store=Path("/from/flag"), log_level=None)
    assert (s.store, s.batch_mb) == (Path("/from/flag"), 16)


def test_bad_settings_are_config_errors(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env.write_text("stroe = 1\n")
    with pytest.raises(ConfigError, match="unknown setting.*stroe"):
        Settings.load()
    clean_env.write_text("store = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load()
    clean_env.unlink()
    monkeypatch.setenv("FUNDTRAIL_BATCH_MB", "lots")
    with pytest.raises(ConfigError, match="batch_mb must be a whole number"):
        Settings.load()
