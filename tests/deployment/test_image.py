"""The container image, built from the Dockerfile with podman and run against the local
PostgreSQL: `db upgrade` as its own one-shot step, `serve` refusing an un-migrated database,
ready on /readyz, healthy by its own HEALTHCHECK, running as a non-root user with JSON logs, and
stopping cleanly on SIGTERM (what `docker stop` and Container Apps send).

The image is built FROM a Debian 12 base made locally (tests/deployment/make_base_image.sh), as
no image registry is reachable here. Needs podman (with runc) and that base; skipped with a
message where there is no container engine, required in CI (IMPACT_REQUIRE_CONTAINER=1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.playground import free_port
from tests.paths import REPO

pytestmark = pytest.mark.service

BASE = os.environ.get("IMPACT_TEST_BASE_IMAGE", "localhost/impact-base:bookworm")
IMAGE = "localhost/impact-bot:test"
HERE = Path(__file__).parent
APP_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def _unavailable(reason: str) -> None:
    message = f"{reason}; see tests/deployment/make_base_image.sh and .ci/run"
    if os.environ.get("IMPACT_REQUIRE_CONTAINER") == "1":
        pytest.fail(f"container test required but {message}")
    pytest.skip(message)


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(HERE / "containers.conf")}
    runtime = ["--runtime", shutil.which("runc") or "runc"] if args[0] in ("run", "build") else []
    command = ["podman", args[0], *runtime, *args[1:]]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)}: {result.returncode}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def image() -> str:
    if shutil.which("podman") is None or shutil.which("runc") is None:
        _unavailable("podman and runc are not installed (apt-get install podman runc)")
    if podman("image", "exists", BASE, check=False).returncode != 0:
        _unavailable(f"the base image {BASE} does not exist")
    if podman("run", "--rm", BASE, "true", check=False, timeout=60).returncode != 0:
        _unavailable("podman cannot run a container here")
    podman("build", "--format", "docker", "--network", "host", "--build-arg", f"BASE={BASE}",
           "-t", IMAGE, str(REPO), timeout=1500)  # fmt: skip
    return IMAGE


def run_once(image: str, database_url: str, *command: str) -> subprocess.CompletedProcess[str]:
    return podman("run", "--rm", "--network", "host", "-e", f"DATABASE_URL={database_url}",
                  image, *command, check=False)  # fmt: skip


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:  # not listening yet
        return 0, ""


@pytest.fixture
def served(image: str, postgres_url: str) -> Iterator[tuple[str, str]]:
    """The image serving on a free port, after its one-shot migration."""
    upgrade = run_once(image, postgres_url, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "current" in upgrade.stdout
    port = free_port()
    name = f"impact-test-{port}"
    podman("run", "-d", "--name", name, "--network", "host", "-e", f"PORT={port}",
           "-e", f"DATABASE_URL={postgres_url}", "-e", f"MicrosoftAppId={APP_ID}",
           "-e", "MicrosoftAppPassword=not-a-real-secret",
           "-e", "IMPACT_ALLOWED_TENANTS=tenant-nhs-trust", image)  # fmt: skip
    try:
        yield name, f"http://127.0.0.1:{port}"
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


def test_serve_refuses_a_database_that_was_not_migrated(image: str, postgres_url: str) -> None:
    result = podman("run", "--rm", "--network", "host", "-e", f"DATABASE_URL={postgres_url}",
                    "-e", f"MicrosoftAppId={APP_ID}", "-e", "IMPACT_ALLOWED_TENANTS=t",
                    image, "serve", check=False)  # fmt: skip
    assert result.returncode == 1
    assert "impact-bot db upgrade" in result.stderr


def test_the_image_serves_healthy_as_a_non_root_user_and_stops_cleanly(
    served: tuple[str, str],
) -> None:
    name, url = served
    deadline = time.monotonic() + 60
    while get(f"{url}/readyz")[0] != 200:
        assert time.monotonic() < deadline, podman("logs", name).stderr[-2000:]
        time.sleep(0.5)
    assert get(f"{url}/healthz") == (200, '{"status": "alive"}')
    assert podman("healthcheck", "run", name, check=False).returncode == 0
    assert podman("exec", name, "id", "-u").stdout.strip() == "10001"
    started = time.monotonic()
    podman("stop", "-t", "30", name)
    assert time.monotonic() - started < 25, "SIGTERM stopped it, not the kill after 30 s"
    state = json.loads(podman("inspect", name).stdout)[0]["State"]
    assert state["ExitCode"] == 0
    logs = podman("logs", name).stderr.splitlines()
    entries = [json.loads(line) for line in logs if line.startswith("{")]
    assert entries, "JSON logs outside local mode"
    assert any(e["message"] == "scheduler stopped" for e in entries)
    assert not any(e["level"] == "ERROR" for e in entries), logs[-20:]


def test_the_image_is_configured_as_documented(image: str) -> None:
    [config] = json.loads(podman("image", "inspect", image).stdout)
    settings = config["Config"]
    assert settings["User"] == "10001:10001"
    assert settings["Entrypoint"] == ["impact-bot"]
    assert settings["Cmd"] == ["serve"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    assert settings["StopSignal"] == "SIGTERM"
    names = {entry.split("=", 1)[0] for entry in settings["Env"]}
    assert not {n for n in names if "PASSWORD" in n.upper() or "SECRET" in n.upper()}
