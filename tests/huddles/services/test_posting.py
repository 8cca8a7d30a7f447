"""Posting huddle prompts through the outbox with the clock moved by the test, on SQLite and
PostgreSQL: time zones, both clock changes, bank holidays, pause, skip, downtime (the 30-minute
late rule), exactly once however often and from however many processes it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.dialogs.huddles.wiring import huddle_services
from huddles.services import jobs
from impact.service import CONTEXT_KEY, create_app
from store.db import Database
from store.huddles.occurrences import history
from store.huddles.schedules import team_by_teams_id
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_text
from tests.huddles.world import WARD, World, payload_card, target_of

pytestmark = pytest.mark.service


async def ward(world: World) -> tuple[TeamsUser, TeamsUser]:
    lead = world.person("lead", "Sam Lead")
    nurse = world.person("nurse", "Nia Nurse")
    await world.team(WARD, "Ward 7", [lead], [nurse])
    return lead, nurse


def posted_dates(world: World) -> list[date]:
    def read(session: Any) -> list[date]:
        team = team_by_teams_id(session, WARD)
        assert team.id is not None
        return sorted(row.local_date for row in history(session, team.id))

    return world.db.run_sync(read)


async def post_at(world: World, moment: datetime) -> int:
    world.clock.now = moment
    return await world.services.steps.post_due(moment)


async def test_a_prompt_is_posted_at_its_time_once_in_the_team_channel(world: World) -> None:
    lead, _nurse = await ward(world)
    await world.schedule(WARD)  # Mon-Fri 08:30 London, 5 minutes before
    # Thursday 26 November 2026, GMT: 08:25 local is 08:25 UTC
    assert await post_at(world, datetime(2026, 11, 26, 8, 24, tzinfo=UTC)) == 0
    assert await post_at(world, datetime(2026, 11, 26, 8, 25, tzinfo=UTC)) == 1
    assert await post_at(world, datetime(2026, 11, 26, 8, 26, tzinfo=UTC)) == 0
    assert await world.services.steps.post_due(world.clock.now) == 0
    [message] = world.outbox("huddle")
    assert message.dedupe_key.endswith(":2026-11-26:0")
    assert target_of(message)["conversation_id"] == WARD
    card = payload_card(message)
    text = card_text(card)
    assert "Weekly improvement huddle: Ward 7" in text
    assert "Thursday 26 November, 08:30" in text
    assert "Led by <at>Sam Lead</at>" in text
    assert card["msteams"]["entities"] == [
        {
            "type": "mention",
            "text": "<at>Sam Lead</at>",
            "mentioned": {"id": lead.user_id, "name": "Sam Lead"},
        }
    ]
    await world.deliver()
    [(_card_id, shown)] = world.channel_cards(WARD)
    assert "Where we left off" in card_text(shown)


async def test_two_leads_are_mentioned_on_one_prompt(world: World) -> None:
    first, second = world.person("a", "Ada Owner"), world.person("b", "Ben Owner")
    await world.team(WARD, "Ward 7", [first, second], [])
    await world.schedule(WARD)
    assert await post_at(world, datetime(2026, 11, 26, 8, 25, tzinfo=UTC)) == 1
    [message] = world.outbox("huddle")
    assert [e["mentioned"]["name"] for e in payload_card(message)["msteams"]["entities"]] == [
        "Ada Owner",
        "Ben Owner",
    ]


async def test_the_wall_clock_is_followed_across_both_clock_changes(world: World) -> None:
    await ward(world)
    await world.schedule(
        WARD, days=frozenset(range(7)), at=time(8, 30), lead_minutes=0, skip_bank_holidays=False
    )
    # winter: 08:30 GMT; summer (from Sunday 28 March 2027): 08:30 BST is 07:30 UTC
    assert await post_at(world, datetime(2027, 3, 26, 8, 30, tzinfo=UTC)) == 1
    assert await post_at(world, datetime(2027, 3, 29, 7, 29, tzinfo=UTC)) == 0
    assert await post_at(world, datetime(2027, 3, 29, 7, 30, tzinfo=UTC)) == 1
    assert await post_at(world, datetime(2027, 11, 1, 8, 30, tzinfo=UTC)) == 1
    assert posted_dates(world) == [date(2027, 3, 26), date(2027, 3, 29), date(2027, 11, 1)]


async def test_a_time_the_spring_change_skips_moves_forward(world: World) -> None:
    await ward(world)
    # 01:30 does not exist on Sunday 28 March 2027 in London: it is 02:30 BST, 01:30 UTC
    await world.schedule(
        WARD, days=frozenset({6}), at=time(1, 30), lead_minutes=0, skip_bank_holidays=False
    )
    assert await post_at(world, datetime(2027, 3, 28, 0, 30, tzinfo=UTC)) == 0
    assert await post_at(world, datetime(2027, 3, 28, 1, 29, tzinfo=UTC)) == 0
    assert await post_at(world, datetime(2027, 3, 28, 1, 30, tzinfo=UTC)) == 1
    assert posted_dates(world) == [date(2027, 3, 28)]


async def test_a_time_the_autumn_change_repeats_is_posted_once_at_the_first(world: World) -> None:
    await ward(world)
    # 01:30 happens twice on Sunday 31 October 2027: the first is 01:30 BST = 00:30 UTC
    await world.schedule(WARD, days=frozenset({6}), at=time(1, 30), lead_minutes=0)
    assert await post_at(world, datetime(2027, 10, 31, 0, 30, tzinfo=UTC)) == 1
    assert await post_at(world, datetime(2027, 10, 31, 1, 30, tzinfo=UTC)) == 0
    assert posted_dates(world) == [date(2027, 10, 31)]


async def test_a_schedule_in_another_zone_posts_at_its_local_time(world: World) -> None:
    await ward(world)
    await world.schedule(WARD, zone="America/New_York", at=time(9, 0), lead_minutes=10)
    # Thursday 26 November 2026: 08:50 EST is 13:50 UTC
    assert await post_at(world, datetime(2026, 11, 26, 8, 50, tzinfo=UTC)) == 0
    assert await post_at(world, datetime(2026, 11, 26, 13, 50, tzinfo=UTC)) == 1


async def test_bank_holidays_are_skipped_unless_the_schedule_includes_them(world: World) -> None:
    await ward(world)
    skipping = await world.schedule(WARD, name="Skips")
    keeping = await world.schedule(WARD, name="Keeps", skip_bank_holidays=False)
    # Friday 25 December 2026 is a bank holiday; Monday 28 December is the Boxing Day substitute
    assert await post_at(world, datetime(2026, 12, 25, 8, 25, tzinfo=UTC)) == 1
    assert await post_at(world, datetime(2026, 12, 28, 8, 25, tzinfo=UTC)) == 1
    keys = [m.dedupe_key for m in world.outbox("huddle")]
    assert keys == [f"huddle:{keeping}:2026-12-25:0", f"huddle:{keeping}:2026-12-28:0"]
    assert await post_at(world, datetime(2026, 12, 29, 8, 25, tzinfo=UTC)) == 2
    assert f"huddle:{skipping}:2026-12-29:0" in [m.dedupe_key for m in world.outbox("huddle")]


async def test_pause_skip_resume_and_delete(world: World) -> None:
    await ward(world)
    schedule_id = await world.schedule(WARD)
    admin = world.services.admin
    world.clock.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # Wednesday
    await admin.change(schedule_id, "pause", actor="test")
    assert await post_at(world, datetime(2026, 11, 26, 8, 25, tzinfo=UTC)) == 0
    await admin.change(schedule_id, "resume", actor="test")  # at 08:25: Thursday's is due now
    assert (await admin.schedules(WARD))[0].next_huddle_date == date(2026, 11, 26)
    world.clock.now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # past the late limit
    info = await admin.change(schedule_id, "skip", actor="test")  # the next: Friday 27th
    assert info.skip_dates == ("2026-11-27",)
    assert await post_at(world, datetime(2026, 11, 27, 8, 25, tzinfo=UTC)) == 0
    await admin.change(schedule_id, "skip", actor="test", skip_on=date(2026, 12, 1))
    assert await post_at(world, datetime(2026, 11, 30, 8, 25, tzinfo=UTC)) == 1
    assert await post_at(world, datetime(2026, 12, 1, 8, 25, tzinfo=UTC)) == 0
    await admin.change(schedule_id, "delete", actor="test")
    assert await post_at(world, datetime(2026, 12, 2, 8, 25, tzinfo=UTC)) == 0
    assert posted_dates(world) == [date(2026, 11, 30)]


async def test_after_downtime_a_prompt_is_late_within_30_minutes_only_and_never_twice(
    world: World,
) -> None:
    await ward(world)
    await world.schedule(WARD)
    # down over Thursday's 08:25: back at 08:54, 29 minutes late, it is still posted
    assert await post_at(world, datetime(2026, 11, 26, 8, 54, tzinfo=UTC)) == 1
    assert await post_at(world, datetime(2026, 11, 26, 8, 55, tzinfo=UTC)) == 0
    # down over Friday's: back at 08:56, 31 minutes late, it is dropped, and stays dropped
    assert await post_at(world, datetime(2026, 11, 27, 8, 56, tzinfo=UTC)) == 0
    assert await post_at(world, datetime(2026, 11, 27, 9, 30, tzinfo=UTC)) == 0
    assert posted_dates(world) == [date(2026, 11, 26)]


async def test_the_job_source_asks_for_the_next_prompt_still_worth_posting(world: World) -> None:
    await ward(world)
    schedule_id = await world.schedule(WARD)
    source = jobs.HuddleJobSource(world.db)

    async def wanted(moment: datetime) -> dict[str, datetime | None]:
        return {spec.id: spec.run_at for spec in await source.desired_jobs(moment)}

    thursday = datetime(2026, 11, 26, 8, 25, tzinfo=UTC)
    assert await wanted(datetime(2026, 11, 25, 12, 0, tzinfo=UTC)) == {
        f"huddle:{schedule_id}:post:2026-11-26": thursday,
        "huddles:tick": None,
    }
    # 20 minutes late (a restart): still asked for, so the scheduler runs it at once
    assert f"huddle:{schedule_id}:post:2026-11-26" in await wanted(thursday + timedelta(minutes=20))
    await post_at(world, thursday + timedelta(minutes=20))
    assert f"huddle:{schedule_id}:post:2026-11-27" in await wanted(thursday + timedelta(minutes=21))
    await world.services.admin.change(schedule_id, "pause", actor="cli:test")
    assert set(await wanted(thursday + timedelta(minutes=22))) == {"huddles:tick"}


async def test_the_list_shows_the_prompt_the_job_source_asks_for_at_every_moment(
    world: World,
) -> None:
    """Between a prompt's time and the late limit both say today's, due now, until it is
    posted; before and after, both say the next one (a clean-clone CI run at 08:27 on a Monday
    once saw the list say Tuesday while the job was Monday's)."""
    await ward(world)
    schedule_id = await world.schedule(WARD)
    source = jobs.HuddleJobSource(world.db)
    admin = world.services.admin
    monday = datetime(2026, 11, 30, 8, 25, tzinfo=UTC)

    async def agree(moment: datetime) -> str:
        world.clock.now = moment
        [info] = await admin.schedules(WARD)
        assert info.next_huddle_date is not None
        job = f"huddle:{schedule_id}:post:{info.next_huddle_date.isoformat()}"
        by_id = {spec.id: spec.run_at for spec in await source.desired_jobs(moment)}
        assert by_id.get(job) == info.next_post_at, (moment, by_id)
        return admin.line(info).state

    assert await agree(monday - timedelta(minutes=1)) == "Next prompt Monday 30 November at 08:25"
    assert await agree(monday + timedelta(minutes=2)) == "Prompt due now (was due at 08:25)"
    assert await agree(monday + timedelta(minutes=30)) == "Prompt due now (was due at 08:25)"
    assert await agree(monday + timedelta(minutes=31)) == "Next prompt Tuesday 1 December at 08:25"
    await post_at(world, monday + timedelta(minutes=2))
    assert await agree(monday + timedelta(minutes=3)) == "Next prompt Tuesday 1 December at 08:25"
    skipped = await admin.change(schedule_id, "skip", actor="test")
    assert skipped.skip_dates == ("2026-12-01",)


async def test_two_processes_posting_at_once_post_one_prompt(
    world: World,
    database_url: str,
    settings_factory: Callable[..., Settings],
    connector: FakeConnector,
    http: aiohttp.ClientSession,
) -> None:
    """Two service processes (two databases, two leaders in a failover) both find the prompt
    due, both read the roster (held by the connector until both have asked), then both try to
    post it: one prompt, one huddle."""
    await ward(world)
    await world.schedule(WARD)
    other_db = Database(database_url, pool_size=2)
    clock = Clock(datetime(2026, 11, 26, 8, 25, tzinfo=UTC))
    other = create_app(settings_factory(), db=other_db, clock=clock)
    runner, _url = await serve(other)
    try:
        steps = [world.services.steps, huddle_services(other[CONTEXT_KEY]).steps]
        connector.hold()
        racing = [asyncio.create_task(s.post_due(clock.now)) for s in steps]
        await connector.wait_for(lambda: connector.held == 2)
        connector.release()
        assert sorted(await asyncio.gather(*racing)) == [0, 1]
    finally:
        await runner.cleanup()
        other_db.dispose()
    assert len(world.outbox("huddle")) == 1
    assert posted_dates(world) == [date(2026, 11, 26)]


async def test_an_unscheduled_huddle_is_posted_now_beside_the_scheduled_one(world: World) -> None:
    await ward(world)
    schedule_id = await world.schedule(WARD)
    assert await post_at(world, datetime(2026, 11, 26, 8, 25, tzinfo=UTC)) == 1
    first = await world.services.poster.post_now(schedule_id, actor="cli:test", now=world.clock.now)
    second = await world.services.poster.post_now(
        schedule_id, actor="cli:test", now=world.clock.now
    )
    assert first != second
    keys = [m.dedupe_key for m in world.outbox("huddle")]
    assert keys == [f"huddle:{schedule_id}:2026-11-26:{slot}" for slot in (0, 1, 2)]
