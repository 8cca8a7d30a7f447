"""`impact-bot rounds …` on the bad days, as real processes on SQLite and PostgreSQL: times at a
DST change refused; resend of what failed (see tests/rounds/services/test_round_faults.py for
the steps themselves)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from store.db import Database
from store.rounds.tables import Round
from tests.fakes.connector import Failure
from tests.fakes.teams_client import TeamsUser
from tests.impact.test_main import base_env, run_cli
from tests.rounds.services.test_round_faults import World, drain, world

__all__ = ["world"]

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


async def test_resend_queues_failed_invitations_and_summaries_once_each(
    world: World, db: Database, database_url: str, tmp_path: Path
) -> None:
    """Fault: Teams refuses staff 1's chat (their invitation fails), then the Ward 7 channel
    (its summary fails). Outcome: `rounds resend --failed` queues each again once (a second run
    queues nothing), they are delivered once, and every run is audited; --person picks one."""
    env = base_env(DATABASE_URL=database_url)
    world.connector.fail_create_for("29:staff-1", Failure(403, "ConversationBlockedByUser"))
    round_id = world.new_round(WARD)
    await world.steps.open_due(world.clock.now)
    await drain(world)
    [failed] = [m.id for m in world.outbox("invitation") if m.status == "failed"]
    world.connector.fail_create_for("29:staff-1", None)

    refused = run_cli("rounds", "resend", str(round_id), env=env, cwd=tmp_path)
    assert refused.returncode == 1
    assert "say what to resend: --failed, --person ID, or both" in refused.stderr
    nobody = run_cli(
        "rounds", "resend", str(round_id), "--person", "29:nobody", env=env, cwd=tmp_path
    )
    assert nobody.returncode == 1
    assert "nobody '29:nobody' is on round" in nobody.stderr
    first = run_cli(
        "rounds", "resend", str(round_id), "--person", "29:staff-1", env=env, cwd=tmp_path
    )
    second = run_cli("rounds", "resend", str(round_id), "--failed", env=env, cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.strip() == f"round {round_id}: 1 queued again (1 invitations, 0 summaries)"
    assert second.stdout.strip() == f"round {round_id}: 0 queued again (0 invitations, 0 summaries)"
    world.clock.now = datetime.now(UTC)  # the CLI queued them at the real time
    await drain(world)
    assert sorted(m.status for m in world.outbox("invitation")) == ["sent"] * 3
    chat = world.connector.personal_chat(world.lead.tenant_id, "29:staff-1")
    assert chat is not None
    assert world.connector.received()[chat] == 1

    world.connector.fail_conversation(WARD, Failure(403, "BotNotInConversationRoster"))
    world.clock.advance(timedelta(days=15))
    assert await world.steps.close_due(world.clock.now) == [round_id]
    await drain(world)
    assert [m.status for m in world.outbox("summary")] == ["failed"]
    world.connector.fail_conversation(WARD, None)
    again = run_cli("rounds", "resend", str(round_id), "--failed", env=env, cwd=tmp_path)
    assert again.stdout.strip() == f"round {round_id}: 1 queued again (0 invitations, 1 summaries)"
    world.clock.now = max(world.clock.now, datetime.now(UTC))
    await drain(world)
    assert [m.status for m in world.outbox("summary")] == ["sent"]
    summaries = [c for c in world.connector.calls if c.conversation_id == WARD and c.status == 201]
    assert len(summaries) == 1
    entries = world.audit("round.resend")
    assert [json.loads(e.detail)["messages"] for e in entries] == [
        [failed],
        [],
        [world.outbox("summary")[0].id],
    ]
