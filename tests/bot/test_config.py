"""Configuration: one pydantic-settings object; a malformed setting stops start-up with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import (
    AppType,
    ConfigurationError,
    Settings,
    child_environment,
    load_settings,
    setting_environment,
)

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


NON_DEFAULTS: dict[str, object] = {
    "port": 4001,
    "database_url": "postgresql://impact:s3cret@db.example:5432/impact",
    "app_id": "app-123",
    "app_password": "p@ss, word=1",
    "app_type": AppType.SINGLE_TENANT,
    "app_tenant_id": "tenant-home",
    "allowed_tenants": ("t1", "t2"),
    "allow_any_tenant": True,
    "admin_ids": ("29:a", "29:b", "29:c"),
    "timezone": "America/New_York",
    "comment_max_chars": 500,
    "log_level": "DEBUG",
    "public_url": "https://bot.example/",
    "improvement_team_id": "19:improve",
    "min_group_size": 3,
    "min_comment_group_size": 4,
    "per_conversation_per_second": 6,
    "per_conversation_per_2s": 7,
    "per_conversation_per_30s": 50,
    "per_conversation_per_hour": 1500,
    "per_tenant_per_second": 40,
    "send_retry_hours": 0.1,
    "send_backoff_cap_seconds": 1e-3,
    "reply_timeout_seconds": 7.25,
    "service_processes": 3,
    "sender_process": False,
    "sender_niceness": 0,
    "reconcile_seconds": 2.5,
    "escalate_after_days": 9,
    "retention_days": 400,
    "draft_retention_days": 30,
    "outbox_retention_days": 10,
    "chart_retention_days": 200,
    "log_format": "json",
    "metrics_token": "token",
    "metrics_port": 9100,
    "appinsights_connection_string": "InstrumentationKey=x;IngestionEndpoint=https://e/",
}


@pytest.mark.parametrize("metrics_port", [9100, None])
def test_a_childs_environment_gives_back_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, metrics_port: int | None
) -> None:
    assert set(NON_DEFAULTS) == set(Settings.model_fields)  # a new setting: add it here
    original = load_settings(**(NON_DEFAULTS | {"metrics_port": metrics_port}))
    defaults = load_settings()
    assert [n for n in NON_DEFAULTS if getattr(original, n) == getattr(defaults, n)] == (
        [] if metrics_port is not None else ["metrics_port"]
    )
    # The parent's own environment says otherwise, under other spellings: the child must not
    # read any of it.
    parent = {"PATH": "/usr/bin", "impact_log_level": "ERROR", "IMPACT_METRICS_PORT": "9200"}
    child = child_environment(original, parent)
    assert child["PATH"] == "/usr/bin"
    assert "impact_log_level" not in child
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in child.items():
        monkeypatch.setenv(name, value)
    assert load_settings() == original
    assert setting_environment(original)["MicrosoftAppPassword"] == "p@ss, word=1"
