"""Secrets stay secret: the app password is a SecretStr (never in a repr, a dump or a log), and
DATABASE_URL's password is masked wherever it is shown, the leader's log lines included."""

from __future__ import annotations

import logging

import pytest

from bot.config import load_settings
from scheduler.leader import LeaderElection
from store.db import masked_url, without_password

PASSWORD = "s3cret/p@ss"  # URL-quoted in a URL: s3cret%2Fp%40ss


@pytest.mark.unit
def test_the_app_password_is_a_secret() -> None:
    settings = load_settings(app_id="app", app_password="hunter2-client-secret")
    assert settings.app_password.get_secret_value() == "hunter2-client-secret"
    for shown in (
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        str(settings.model_dump()),
    ):
        assert "hunter2-client-secret" not in shown


@pytest.mark.unit
def test_database_urls_are_shown_with_their_password_masked() -> None:
    url = "postgresql://bot:s3cret%2Fp%40ss@db.example.nhs.uk:5432/impact"
    assert masked_url(url) == "postgresql://bot:***@db.example.nhs.uk:5432/impact"
    assert load_settings(database_url=url).database_url_masked == masked_url(url)
    assert masked_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    shown = repr(load_settings(database_url=url))
    assert "bot:***@db.example.nhs.uk" in shown
    assert "s3cret" not in shown
    message = f"could not connect to {url} (password {PASSWORD})"
    assert PASSWORD not in without_password(message, url)
    assert "s3cret%2Fp%40ss" not in without_password(message, url)


@pytest.mark.service
async def test_the_leaders_log_lines_mask_the_password(caplog: pytest.LogCaptureFixture) -> None:
    url = "postgresql://bot:s3cret%2Fp%40ss@127.0.0.1:1/none"
    election = LeaderElection(url, timeout_seconds=2.0)

    class Leaky(Exception):
        pass

    async def refuse() -> bool:
        raise Leaky(f"cannot reach {url} as bot with {PASSWORD}")

    election._lock.try_lock = refuse  # type: ignore[method-assign]
    with caplog.at_level(logging.DEBUG):
        assert not await election.acquire()
    assert "could not try for leadership" in caplog.text
    assert "s3cret" not in caplog.text
    assert "bot:***@127.0.0.1" in caplog.text
