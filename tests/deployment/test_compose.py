"""The compose file for a production-like run: PostgreSQL, migrations as their own one-shot step
that every replica waits for (never run on a replica's start), two replicas, no secret in the
file, and a graceful stop period longer than a turn."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.paths import REPO

pytestmark = pytest.mark.unit

COMPOSE = REPO / "deployment" / "compose.yaml"


def services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return dict(loaded["services"])


def test_migrations_run_once_before_the_replicas() -> None:
    found = services()
    assert found["migrate"]["command"] == ["db", "upgrade"]
    assert found["migrate"]["restart"] == "no"
    waits = found["bot"]["depends_on"]
    assert waits["migrate"]["condition"] == "service_completed_successfully"
    assert waits["postgres"]["condition"] == "service_healthy"
    assert found["bot"]["command"] == ["serve"]


def test_two_replicas_share_the_limits_and_stop_gracefully() -> None:
    bot = services()["bot"]
    assert bot["deploy"]["replicas"] == 2
    assert bot["environment"]["IMPACT_SERVICE_PROCESSES"] == str(bot["deploy"]["replicas"])
    assert bot["stop_grace_period"] == "30s"
    assert bot["env_file"] == "bot.env"


def test_no_secret_is_written_in_the_file() -> None:
    text = COMPOSE.read_text()
    assert "${POSTGRES_PASSWORD:?" in text
    example = (REPO / "deployment" / "bot.env.example").read_text()
    assert "MicrosoftAppPassword=\n" in example
    assert "deployment/bot.env" in (REPO / ".gitignore").read_text()


def test_the_image_is_the_repositorys_dockerfile() -> None:
    build = services()["migrate"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == (
        REPO / "Dockerfile"
    )


def test_the_dockerfile_keeps_its_promises() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in text
    assert "/healthz" in text
    assert "requirements/azure.lock" in text
    assert "db upgrade" not in text.split("ENTRYPOINT")[1], "no migration on a replica's start"
    [base] = [line for line in text.splitlines() if line.startswith("ARG BASE=")]
    assert "slim" in base
