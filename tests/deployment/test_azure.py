"""The Azure templates say what deployment/README.md says they do: every parameter documented
(in the template and in the README's table), the bot on the Teams channel only, two or more
replicas, the secrets in a private Key Vault, the database private. checkov checks the rest
(`make lint-deployment`); no registry reachable here serves the Bicep compiler."""

from __future__ import annotations

import re

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.unit

BICEP = (REPO / "deployment" / "azure" / "main.bicep").read_text()
README = (REPO / "deployment" / "README.md").read_text()


def params() -> list[str]:
    return re.findall(r"^param (\w+) ", BICEP, flags=re.MULTILINE)


def block(symbol: str) -> str:
    """The text of `resource <symbol> …` up to the next top-level closing brace."""
    start = re.search(rf"^resource {symbol} .*$", BICEP, flags=re.MULTILINE)
    assert start is not None, symbol
    end = BICEP.index("\n}\n", start.end())
    return BICEP[start.start() : end]


def test_every_parameter_is_described_and_documented() -> None:
    lines = BICEP.splitlines()
    for name in params():
        index = next(i for i, line in enumerate(lines) if line.startswith(f"param {name} "))
        decorators = []
        for line in reversed(lines[:index]):
            if not line.strip():
                break
            decorators.append(line)
        assert any(d.startswith("@description(") for d in decorators), name
        assert f"`{name}`" in README, f"{name} is missing from deployment/README.md"


def test_secrets_are_secure_parameters() -> None:
    for name in ("botAppPassword", "postgresAdminPassword", "metricsToken", "databaseUrlOverride"):
        assert re.search(rf"@secure\(\)\n(@\w+\(.*\)\n)*param {name} ", BICEP), name


def test_the_bot_has_the_teams_channel_only() -> None:
    channels = re.findall(r"channelName: '(\w+)'", BICEP)
    assert sorted(channels) == ["MsTeamsChannel", "WebChatChannel"]
    assert "DirectLine" not in BICEP
    web_chat = block("webChat")
    assert "isEnabled: true" not in web_chat
    assert "isEnabled: false" in web_chat
    assert "isEnabled: true" in block("teams")


def test_two_or_more_replicas_with_probes() -> None:
    assert re.search(r"@minValue\(2\)\n@maxValue\(\d+\)\nparam replicas int", BICEP)
    app = block("app")
    assert "minReplicas: replicas" in app
    assert "path: '/healthz'" in app
    assert "path: '/readyz'" in app
    assert "IMPACT_SERVICE_PROCESSES" in BICEP


def test_secrets_and_database_are_private() -> None:
    vault = block("vault")
    assert "publicNetworkAccess: 'Disabled'" in vault
    assert "enablePurgeProtection: true" in vault
    assert "delegatedSubnetResourceId" in block("postgres")
    for setting, secret in (
        ("DATABASE_URL", "database-url"),
        ("MicrosoftAppPassword", "bot-app-password"),
        ("IMPACT_METRICS_TOKEN", "metrics-token"),
    ):
        assert re.search(rf"name: '{setting}'\n\s+secretRef: '{secret}'", BICEP), setting


def test_migrations_are_a_job_not_the_replicas_start() -> None:
    job = block("migrate")
    assert "triggerType: 'Manual'" in job
    assert "'upgrade'" in job
    assert "'upgrade'" not in block("app")


def test_the_readme_shows_what_if() -> None:
    assert "az deployment group what-if" in README
