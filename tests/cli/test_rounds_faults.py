"""`impact-bot rounds …` on the bad days, as real processes on SQLite and PostgreSQL: times at a
DST change refused; resend of what failed (see tests/rounds/services/test_round_faults.py for
the steps themselves)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import select

from store.db import Database
from store.rounds.tables import Round
from tests.fakes.teams_client import TeamsUser
from tests.impact.test_main import base_env, run_cli

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"


async def test_cli_refuses_times_that_do_not_exist_or_happen_twice(
    teams_user: Callable[..., TeamsUser], db: Database, database_url: str, tmp_path: Path
) -> None:
    """Fault: --opens in the hour the clocks skip (March), --closes in the hour they repeat
    (October). Outcome: exit 1, one line saying which and why, no round."""
    owner = teams_user(name="Sam Lead")
    await owner.add_bot_to_team(WARD, "Ward 7")
    env = base_env(DATABASE_URL=database_url, IMPACT_TIMEZONE="Europe/London")
    skipped = run_cli(
        "rounds", "create", "--name", "Spring", "--team", WARD,
        "--opens", "2027-03-28T01:30", "--closes", "2027-04-09", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert skipped.returncode == 1
    assert skipped.stderr.strip() == (
        "error: 2027-03-28 01:30 does not exist in Europe/London: the clocks go forward then. "
        "Choose a time an hour later or earlier"
    )
    twice = run_cli(
        "rounds", "create", "--name", "Autumn", "--team", WARD,
        "--opens", "2027-10-01", "--closes", "2027-10-31T01:15", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert twice.returncode == 1
    assert "error: 2027-10-31 01:15 happens twice in Europe/London" in twice.stderr
    assert "2027-10-31T01:15+01:00 or 2027-10-31T01:15+00:00" in twice.stderr
    assert db.run_sync(lambda s: list(s.exec(select(Round)).all())) == []
    created = run_cli(
        "rounds", "create", "--name", "Autumn", "--team", WARD,
        "--opens", "2027-10-01", "--closes", "2027-10-31T01:15+00:00", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    extend = run_cli(
        "rounds", "extend", created.stdout.strip(), "--closes", "2028-03-26T01:00",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert extend.returncode == 1
    assert "2028-03-26 01:00 does not exist in Europe/London" in extend.stderr
