"""Improvement-team commands: `impact-bot teams …` and `impact-bot rounds …`, as real processes
on the database the service uses (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from rounds.rules.when import Period, WhenError, parse_when
from store.audit import AuditEntry
from store.db import Database
from store.rounds.tables import Round, RoundTeam
from tests.fakes.teams_client import TeamsUser
from tests.impact.test_main import base_env, run_cli

pytestmark = pytest.mark.service

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("+14d", datetime(2026, 12, 9, 10, 30, tzinfo=UTC)),
        ("+2w", datetime(2026, 12, 9, 10, 30, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),  # 09:00 GMT
        ("2027-06-01", datetime(2027, 6, 1, 8, 0, tzinfo=UTC)),  # 09:00 BST
        ("2026-12-01T14:30", datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
        ("2026-12-01T14:30+01:00", datetime(2026, 12, 1, 13, 30, tzinfo=UTC)),
    ],
)
def test_when(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW, zone=LONDON) == expected


@pytest.mark.parametrize("text", ["tomorrow", "+3y", "2026-13-01", "", "+d"])
def test_when_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(WhenError, match="use 2026-12-01"):
        parse_when(text, now=NOW, zone=LONDON)


def test_period_keeps_local_time_and_day() -> None:
    start = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    assert Period.parse("1m").after(start, LONDON) == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert Period.parse("6m").after(start, LONDON) == datetime(2026, 7, 31, 8, 0, tzinfo=UTC)
    assert Period.parse("2w").after(start, LONDON) == datetime(2026, 2, 14, 9, 0, tzinfo=UTC)
    with pytest.raises(WhenError):
        Period.parse("0m")


async def test_round_commands_on_a_team_the_bot_was_added_to(
    teams_user: Callable[..., TeamsUser], db: Database, database_url: str, tmp_path: Path
) -> None:
    owner = teams_user(name="Sam Lead")
    await owner.add_bot_to_team("19:ward7@thread.tacv2", "Ward 7")
    env = base_env(DATABASE_URL=database_url)

    listed = run_cli("teams", "list", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {"id": "19:ward7@thread.tacv2", "name": "Ward 7", "tenant": owner.tenant_id}
    ]

    created = run_cli(
        "rounds", "create", "--name", "Winter 2026", "--team", "19:ward7@thread.tacv2",
        "--opens", "+1d", "--closes", "+15d", "--reminders", "3d,7d,last-day",
        "--role-question", "--repeat-every", "6m", "--json",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    round_id = json.loads(created.stdout)["id"]

    def stored(session: Any) -> tuple[Round, int]:
        round_ = session.get(Round, round_id)
        teams = len(session.exec(select(RoundTeam).where(RoundTeam.round_id == round_id)).all())
        return round_, teams

    round_, team_count = db.run_sync(stored)
    assert (round_.name, round_.status, round_.role_question, round_.repeat_every) == (
        "Winter 2026", "scheduled", True, "6m",
    )  # fmt: skip
    assert team_count == 1

    status = run_cli("rounds", "status", str(round_id), "--json", env=env, cwd=tmp_path)
    assert json.loads(status.stdout)["teams"] == ["Ward 7"]
    assert run_cli("rounds", "list", env=env, cwd=tmp_path).stdout.startswith(
        f"{round_id}\tscheduled"
    )
    extended = run_cli("rounds", "extend", str(round_id), "--closes", "+20d", env=env, cwd=tmp_path)
    assert extended.returncode == 0, extended.stderr
    paused = run_cli("rounds", "repeat", str(round_id), "pause", env=env, cwd=tmp_path)
    assert paused.stdout.strip() == f"round {round_id}: repetition paused"
    assert db.run_sync(lambda s: s.get(Round, round_id).repeat_paused) is True
    assert run_cli("rounds", "cancel", str(round_id), env=env, cwd=tmp_path).returncode == 0
    again = run_cli("rounds", "close", str(round_id), env=env, cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: round {round_id} is already cancelled"

    def audit(session: Any) -> list[str]:
        return list(session.exec(select(AuditEntry.action).order_by(AuditEntry.id)).all())

    assert db.run_sync(audit) == [
        "round.create", "round.extend", "round.repeat.pause", "round.cancel",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--team", "19:nowhere", "--closes", "+7d"], "not installed in these teams: 19:nowhere"),
        (["--team", "19:ward7", "--opens", "+9d", "--closes", "+7d"], "must close after it opens"),
        (["--team", "19:ward7", "--closes", "someday"], "can't read 'someday'"),
        (["--team", "19:ward7", "--closes", "+7d", "--repeat-every", "often"], "as a period"),
        (["--team", "19:ward7", "--closes", "+7d", "--reminders", "3d,soon"], "reminder plan: "),
    ],
)
def test_round_create_errors_are_one_line(
    db: Database, database_url: str, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli(
        "rounds",
        "create",
        "--name",
        "X",
        *args,
        env=base_env(DATABASE_URL=database_url),
        cwd=tmp_path,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert message in line
