"""Configuration: one pydantic-settings object; a malformed setting stops start-up with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import AppType, ConfigurationError, load_settings

pytestmark = pytest.mark.service


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("IMPACT_", "Microsoft")) or name in {"PORT", "DATABASE_URL"}:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_local_mode_on_sqlite(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.port == 3978
    assert settings.database_url == f"sqlite:///{tmp_path / 'impact-bot.db'}"
    assert settings.local_mode
    assert settings.bind_host == "127.0.0.1"
    assert settings.timezone == "Europe/London"
    assert settings.app_type is AppType.MULTI_TENANT
    assert settings.allowed_tenants == ()


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=4000\nIMPACT_ADMIN_IDS=a, b\n")
    monkeypatch.setenv("MicrosoftAppId", "app-123")
    monkeypatch.setenv("MicrosoftAppType", "SingleTenant")
    monkeypatch.setenv("IMPACT_ALLOWED_TENANTS", "t1,t2,")
    settings = load_settings()
    assert settings.port == 4000
    assert settings.admin_ids == ("a", "b")
    assert settings.allowed_tenants == ("t1", "t2")
    assert not settings.local_mode
    assert settings.bind_host == "0.0.0.0"
    assert settings.app_type is AppType.SINGLE_TENANT


def test_huddle_options_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().huddle_options().escalate_after_days == 3
    monkeypatch.setenv("IMPACT_ESCALATE_AFTER_DAYS", "5")
    monkeypatch.setenv("IMPACT_IMPROVEMENT_TEAM_ID", "19:improve")
    options = load_settings().huddle_options()
    assert (options.escalate_after_days, options.improvement_team_id) == (5, "19:improve")
    assert options.zone.key == "Europe/London"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "eighty", "PORT: "),
        ("PORT", "70000", "PORT: "),
        ("IMPACT_TIMEZONE", "Mars/Olympus", "IMPACT_TIMEZONE: unknown time zone"),
        ("MicrosoftAppType", "Anything", "MicrosoftAppType: "),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL: must start with"),
        ("IMPACT_ESCALATE_AFTER_DAYS", "0", "IMPACT_ESCALATE_AFTER_DAYS: "),
    ],
)
def test_malformed_setting_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    text = str(raised.value)
    assert text.startswith(f"configuration error: {message}")
    assert "\n" not in text


def test_cli_stops_with_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMPACT_", "Microsoft"))}
    env["PORT"] = "not-a-port"
    result = subprocess.run(
        [sys.executable, "-m", "impact", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("configuration error: PORT: Input should be a valid integer")
