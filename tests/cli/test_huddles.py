"""`impact-bot huddles …`, `impact-bot ideas …` and `impact-bot teams parent …` as real processes
on the database the service uses (SQLite and PostgreSQL): machine-readable --json, one-line
errors, the audit trail, and the scheduler's job source following each change."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from framework.identity import Identity
from huddles.rules.items import ItemKind
from huddles.services.jobs import HuddleJobSource
from store.audit import AuditEntry
from store.db import Database
from store.huddles.items import NewItem, add_item
from store.huddles.schedules import team_by_teams_id
from store.outbox import OutboxMessage
from store.people import ensure_person
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser
from tests.impact.test_main import base_env, run_cli

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"
DIRECTORATE = "19:medicine@thread.tacv2"


async def ok(*args: str, env: dict[str, str], cwd: Path) -> str:
    """Run the command on a thread: the fake connector it may call answers on this loop."""
    result = await asyncio.to_thread(run_cli, *args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def error(*args: str, env: dict[str, str], cwd: Path) -> str:
    result = await asyncio.to_thread(run_cli, *args, env=env, cwd=cwd)
    assert result.returncode == 1, result.stdout
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


async def jobs(db: Database) -> set[str]:
    return {spec.id for spec in await HuddleJobSource(db).desired_jobs(datetime.now(UTC))}


async def test_huddle_commands_on_a_team_the_bot_was_added_to(
    teams_user: Callable[..., TeamsUser],
    connector: FakeConnector,
    db: Database,
    database_url: str,
    tmp_path: Path,
) -> None:
    owner = teams_user(name="Sam Lead")
    await owner.add_bot_to_team(WARD, "Ward 7")
    await owner.add_bot_to_team(DIRECTORATE, "Medicine")
    connector.conversations[WARD].members = [owner.member("owner")]
    env = base_env(DATABASE_URL=database_url)

    created = await ok("huddles", "schedule", "--team", WARD, "--days", "mon,tue,wed,thu,fri",
                 "--at", "08:30", "--json", env=env, cwd=tmp_path)  # fmt: skip
    schedule = str(json.loads(created)["id"])
    [listed] = json.loads(
        await ok("huddles", "list", "--team", WARD, "--json", env=env, cwd=tmp_path)
    )
    assert {k: listed[k] for k in ("id", "team_id", "name", "format_id", "days", "at", "zone")} == {
        "id": int(schedule), "team_id": WARD, "name": "Daily safety huddle",
        "format_id": "safety", "days": "mon,tue,wed,thu,fri", "at": "08:30",
        "zone": "Europe/London",
    }  # fmt: skip
    assert (listed["lead_minutes"], listed["skip_bank_holidays"], listed["channel_id"]) == (
        5, True, None,
    )  # fmt: skip
    assert listed["next_post_at"] is not None
    assert f"huddle:{schedule}:post:{listed['next_huddle_date']}" in await jobs(db)

    assert (await ok("huddles", "pause", schedule, env=env, cwd=tmp_path)).strip() == (
        f"huddle schedule {schedule} paused"
    )
    assert not any(job.startswith(f"huddle:{schedule}:post") for job in await jobs(db))
    await ok("huddles", "resume", schedule, env=env, cwd=tmp_path)
    skipped = await ok("huddles", "skip", schedule, "--on", "2027-01-05", env=env, cwd=tmp_path)
    assert skipped.strip() == f"huddle schedule {schedule}: skipping 2027-01-05"

    posted = await ok("huddles", "post", schedule, env=env, cwd=tmp_path)
    assert "posted" in posted
    [prompt] = db.run_sync(
        lambda s: list(s.exec(select(OutboxMessage).where(OutboxMessage.kind == "huddle")).all())
    )
    mentions = json.loads(prompt.payload)["activity"]["attachments"][0]["content"]["msteams"]
    assert mentions["entities"][0]["mentioned"]["id"] == owner.user_id, "roster read from Teams"
    [huddle] = json.loads(
        await ok("huddles", "history", "--team", WARD, "--json", env=env, cwd=tmp_path)
    )
    assert (huddle["unscheduled"], huddle["status"], huddle["attendance"]) == (True, "pending", 0)

    lead = await ok("huddles", "leads", "add", "--team", WARD, "--person", "29:named-lead",
                    env=env, cwd=tmp_path)  # fmt: skip
    assert lead.strip() == f"29:named-lead is now a lead of {WARD}"

    said = await ok("teams", "parent", WARD, "--parent", DIRECTORATE, env=env, cwd=tmp_path)
    assert said.strip() == "Ward 7 now escalates to Medicine"
    teams = json.loads(await ok("teams", "list", "--json", env=env, cwd=tmp_path))
    assert [(t["id"], t.get("parent")) for t in teams] == [(DIRECTORATE, None), (WARD, DIRECTORATE)]
    loop = await error("teams", "parent", DIRECTORATE, "--parent", WARD, env=env, cwd=tmp_path)
    assert "would make the tree loop" in loop

    _add_idea(db, "Quiet hour", huddle["id"])
    new = await ok("ideas", "list", "--team", WARD, "--status", "new", "--json",
                   env=env, cwd=tmp_path)  # fmt: skip
    assert [(i["text"], i["status"], i["pdsa_cycles"]) for i in json.loads(new)] == [
        ("Quiet hour", "new", 0)
    ]

    deleted = await ok("huddles", "delete", schedule, env=env, cwd=tmp_path)
    assert deleted.strip() == f"huddle schedule {schedule} deleted"
    assert await jobs(db) == set(), "no schedule, nothing open: no jobs"

    def audit(session: Any) -> list[tuple[str, str]]:
        rows = session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
        return [(a.action, a.actor.split(":")[0]) for a in rows]

    assert db.run_sync(audit) == [
        ("huddle.schedule", "cli"), ("huddle.pause", "cli"), ("huddle.resume", "cli"),
        ("huddle.skip", "cli"), ("huddle.post", "cli"), ("huddle.lead.add", "cli"),
        ("team.parent", "cli"), ("huddle.delete", "cli"),
    ]  # fmt: skip


def _add_idea(db: Database, text: str, huddle_id: int) -> None:
    def add(session: Any) -> None:
        team = team_by_teams_id(session, WARD)
        person = ensure_person(session, Identity("t", "29:nia", None, "Nia"), datetime.now(UTC))
        assert team.id is not None
        assert person.id is not None
        new = NewItem(team.id, huddle_id, ItemKind.IDEA, text, person.id, person.id)
        add_item(session, new, datetime.now(UTC))

    db.run_sync(add)


BAD_SCHEDULES = [
    (["--team", "19:nowhere", "--days", "mon", "--at", "08:30"], "not installed in the team"),
    (["--team", WARD, "--days", "someday", "--at", "08:30"], "someday"),
    (["--team", WARD, "--days", "mon", "--at", "08:30", "--zone", "Mars/Base"], "Mars/Base"),
    (["--team", WARD, "--days", "mon", "--at", "08:30", "--format", "yoga"], "no huddle format"),
]


async def test_schedule_errors_are_one_line_and_change_nothing(
    teams_user: Callable[..., TeamsUser], db: Database, database_url: str, tmp_path: Path
) -> None:
    await teams_user(name="Sam Lead").add_bot_to_team(WARD, "Ward 7")
    env = base_env(DATABASE_URL=database_url)
    for args, message in BAD_SCHEDULES:
        assert message in await error("huddles", "schedule", *args, env=env, cwd=tmp_path)
    assert json.loads(await ok("huddles", "list", "--json", env=env, cwd=tmp_path)) == []
