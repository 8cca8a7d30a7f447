"""The `impact-bot` command line, run as a real process, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.service


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "impact.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMPACT_", "Microsoft"))}
    env.pop("DATABASE_URL", None)
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_db_status_and_upgrade(database_url: str, tmp_path: Path) -> None:
    env = base_env(DATABASE_URL=database_url)
    status = run_cli("db", "status", env=env, cwd=tmp_path)
    assert status.returncode == 1
    assert "out of date (empty database" in status.stdout
    assert "impact-bot db upgrade" in status.stdout
    upgraded = run_cli("db", "upgrade", env=env, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database schema is current" in upgraded.stdout
    again = run_cli("db", "upgrade", env=env, cwd=tmp_path)
    assert again.returncode == 0


def test_serve_refuses_an_out_of_date_schema_outside_local_mode(
    database_url: str, tmp_path: Path
) -> None:
    env = base_env(
        DATABASE_URL=database_url,
        MicrosoftAppId="app",
        MicrosoftAppPassword="x",
        IMPACT_ALLOWED_TENANTS="tenant-a",
    )
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "run `impact-bot db upgrade`" in result.stderr


def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    env = base_env(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    result = run_cli("db", "status", env=env, cwd=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("database error: ")


def test_python_m_impact_starts_locally_and_upgrades_sqlite_itself(tmp_path: Path) -> None:
    """What `make run` does: local mode, SQLite file in the working directory, loopback only."""
    port = free_port()
    env = base_env(PORT=str(port))
    process = subprocess.Popen(
        [sys.executable, "-m", "impact", "serve", "--local"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    ready = r.status
                    break
            except OSError:
                time.sleep(0.2)  # polling a child process's port, not waiting on the bot's logic
        assert ready == 200
        assert (tmp_path / "impact-bot.db").exists()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert "LOCAL MODE" in output
    assert "listening on http://127.0.0.1:" in output


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["serve"], {}, "MicrosoftAppId is not set"),
        (["serve", "--local"], {"MicrosoftAppId": "app"}, "--local runs without authentication"),
        (
            ["serve", "--local"],
            {"DATABASE_URL": "postgresql://bot:s3cret@db.example.nhs.uk:5432/impact"},
            "local mode uses only a database on this machine",
        ),
        (["serve"], {"MicrosoftAppId": "app"}, "IMPACT_ALLOWED_TENANTS is empty"),
    ],
    ids=["no app id", "local with app id", "local remote db", "no tenants"],
)
def test_serve_refuses_to_fall_into_an_unsafe_mode_with_one_line(
    args: list[str], env: dict[str, str], says: str, tmp_path: Path
) -> None:
    result = run_cli(*args, env=base_env(**env), cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("configuration error: ")
    assert says in line
    assert "s3cret" not in line
    assert not (tmp_path / "impact-bot.db").exists()


def test_any_tenant_is_said_at_every_start(tmp_path: Path) -> None:
    """IMPACT_ALLOW_ANY_TENANT=true starts (here, as far as the schema check) with a warning."""
    env = base_env(
        MicrosoftAppId="app",
        IMPACT_ALLOW_ANY_TENANT="true",
        DATABASE_URL="postgresql://bot:s3cret@127.0.0.1:1/none",
    )
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert "IMPACT_ALLOW_ANY_TENANT=true" in result.stderr
    assert "postgresql://bot:***@127.0.0.1:1/none" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_python_m_impact_without_an_app_id_says_how_to_run_locally(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "impact"],
        cwd=tmp_path,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "impact-bot serve --local" in line


@pytest.mark.parametrize("args", [["frobnicate"], ["db"], []])
def test_bad_usage_exits_with_usage(args: list[str], tmp_path: Path) -> None:
    result = run_cli(*args, env=base_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: impact-bot" in result.stderr
