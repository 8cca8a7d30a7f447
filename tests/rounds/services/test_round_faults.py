"""Round steps on the bad days (issue 11): each test names its fault and the outcome someone
could observe; the real service on loopback, the fake Bot Connector, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlmodel import select

from bot.adapter import sdk_authentication
from bot.config import Settings
from bot.sender.outbox_sender import OutboxSender
from bot.teams_reads import RosterRetry, TeamsDirectory
from framework.content import default_framework
from framework.identity import Identity
from impact.features.rounds import round_steps
from impact.service import CONTEXT_KEY, LIMITER_KEY, create_app
from rounds.services.admin import RoundAdmin
from rounds.services.jobs import RoundJobSource
from rounds.services.steps import RoundSteps
from store.audit import AuditEntry
from store.db import Database
from store.outbox import OutboxMessage
from store.people import Person
from store.rounds.lifecycle import RoundSpec, create_round
from store.rounds.tables import Round, RoundParticipant, RoundParticipantTeam
from store.teams import installed_team
from tests.conftest import Clock, serve
from tests.fakes.connector import Failure, FakeConnector
from tests.fakes.teams_client import TeamsUser, card_text
from tests.rounds.services.test_opening import member
from tests.rounds.services.test_steps import complete

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"
PHARMACY = "19:pharmacy@thread.tacv2"
FRAMEWORK = default_framework()
ADMIN_AAD = "11111111-2222-3333-4444-555555555555"  # Sam Lead is on the improvement team
ROSTER_503 = Failure(503, "ServiceUnavailable", retry_after=0.01, kinds=frozenset({"members"}))


@dataclass
class World:
    app: web.Application
    db: Database
    clock: Clock
    connector: FakeConnector
    lead: TeamsUser
    steps: RoundSteps
    admin: RoundAdmin

    def new_round(
        self, *team_ids: str, days: int = 14, repeat: str | None = None, plan: str = "3d,last-day"
    ) -> int:
        spec = RoundSpec(
            "Winter 2026",
            team_ids or (WARD, PHARMACY),
            self.clock.now,
            self.clock.now + timedelta(days=days),
            plan,
            repeat_every=repeat,
        )
        now = self.clock.now
        return self.db.run_sync(
            lambda s: create_round(s, spec, framework=FRAMEWORK, actor="t", now=now).id
        )

    def outbox(self, kind: str) -> list[OutboxMessage]:
        return self.db.run_sync(
            lambda s: list(s.exec(select(OutboxMessage).where(OutboxMessage.kind == kind)).all())
        )

    def audit(self, action: str) -> list[AuditEntry]:
        return self.db.run_sync(
            lambda s: list(s.exec(select(AuditEntry).where(AuditEntry.action == action)).all())
        )


@pytest.fixture
async def world(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> AsyncIterator[World]:
    app = create_app(settings_factory(admin_ids=ADMIN_AAD), db=db, clock=clock)
    runner, url = await serve(app)
    lead = TeamsUser(
        bot_url=url, connector=connector, session=http, name="Sam Lead", aad_object_id=ADMIN_AAD
    )
    await lead.add_bot_to_team(WARD, "Ward 7")
    await lead.add_bot_to_team(PHARMACY, "Pharmacy")
    tenant = lead.tenant_id
    connector.conversations[WARD].members = [member(n, tenant) for n in range(3)]
    connector.conversations[PHARMACY].members = [member(n, tenant) for n in (2, 100, 101)]
    ctx = app[CONTEXT_KEY]
    admin = RoundAdmin(db, ctx.framework, ctx.settings.round_options(), clock)
    yield World(app, db, clock, connector, lead, round_steps(ctx), admin)
    await runner.cleanup()


def roster_calls(connector: FakeConnector, team: str) -> list[int]:
    return [c.status for c in connector.calls if c.kind == "members" and c.conversation_id == team]


async def job_ids(db: Database, world: World) -> set[str]:
    return {spec.id for spec in await RoundJobSource(db).desired_jobs(world.clock.now)}


async def test_roster_503_for_one_of_two_teams_stays_pending_then_is_invited_once(
    world: World, db: Database
) -> None:
    """Fault: Teams answers every roster read of Pharmacy 503 while the round opens, and at the
    first retry. Outcome: the round opens for Ward 7 only, Pharmacy is pending (status, card
    note, audit, a retry job); once Teams answers, Pharmacy's two new people get one invitation
    each, the person in both teams none more, and retrying again invites nobody."""
    world.connector.fail_conversation(PHARMACY, ROSTER_503)
    round_id = world.new_round()
    assert await world.steps.open_due(world.clock.now) == 1
    assert roster_calls(world.connector, PHARMACY) == [503] * 5, "retried 5 times, then pending"
    status = await world.admin.status(round_id)
    assert status.summary.participants == 3
    assert status.summary.pending_teams == ("Pharmacy",)
    assert status.summary.note == "roster not read yet (retried every few minutes): Pharmacy"
    assert [json.loads(a.detail)["names"] for a in world.audit("round.roster.pending")] == [
        ["Pharmacy"]
    ]
    assert "rosters:retry" in await job_ids(db, world)
    assert len(world.outbox("invitation")) == 3
    await world.lead.say("rounds")  # the improvement team's rounds card says so too
    shown = card_text(world.lead.last_card()[1]).replace("\\", "")  # markdown escapes
    assert "⚠ roster not read yet (retried every few minutes): Pharmacy" in shown

    world.clock.advance(timedelta(minutes=2))
    assert await world.steps.opener.pending.retry_due(world.clock.now) == []  # still 503
    assert len(world.outbox("invitation")) == 3

    world.connector.fail_conversation(PHARMACY, None)  # Teams recovers
    world.clock.advance(timedelta(minutes=2))
    [frozen] = await world.steps.opener.pending.retry_due(world.clock.now)
    assert (frozen.joined, frozen.invited) == (2, 2)
    assert await world.steps.opener.pending.retry_due(world.clock.now) == []

    invitations = world.outbox("invitation")
    assert len(invitations) == 5
    assert len({m.person_id for m in invitations}) == 5, "one invitation per person"
    status = await world.admin.status(round_id)
    assert status.summary.pending_teams == ()
    assert status.summary.note == ""
    assert {(r.name, r.roster) for r in status.responses} == {("Ward 7", 3), ("Pharmacy", 3)}
    links = db.run_sync(lambda s: len(s.exec(select(RoundParticipantTeam)).all()))
    assert links == 6  # staff 2 counts for both teams
    assert "rosters:retry" not in await job_ids(db, world)


async def test_a_429_with_retry_after_on_a_roster_page_is_waited_out_and_read(
    world: World,
) -> None:
    """Fault: Teams answers the first roster read 429 with Retry-After: 0.3. Outcome: the reader
    waits at least that long, reads it, and nobody is left pending."""
    world.connector.fail_next(
        1, Failure(429, "Throttled", retry_after=0.3, kinds=frozenset({"members"}))
    )
    round_id = world.new_round(WARD)
    await world.steps.open_due(world.clock.now)
    calls = [c for c in world.connector.calls if c.kind == "members"]
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.3
    status = await world.admin.status(round_id)
    assert (status.summary.participants, status.summary.pending_teams) == (3, ())


async def test_an_empty_roster_is_not_an_empty_team(world: World) -> None:
    """Fault: Teams answers a roster read 200 with no members. Outcome: the team is pending, not
    opened with nobody in it; the round says so."""
    world.connector.conversations[PHARMACY].members = []
    round_id = world.new_round()
    await world.steps.open_due(world.clock.now)
    summary = (await world.admin.status(round_id)).summary
    assert (summary.participants, summary.pending_teams) == (3, ("Pharmacy",))


async def test_an_opening_processed_after_the_closing_time_invites_nobody_and_says_why(
    world: World, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault: the service was down for the whole round; its opening is processed a day after
    it should have closed. Outcome: no roster read, no invitation; the round is closed and never
    opened, with the reason in the log, the status and the audit trail."""
    round_id = world.new_round(days=7)
    world.clock.advance(timedelta(days=8))
    with caplog.at_level(logging.WARNING, logger="rounds.services.opening"):
        assert await world.steps.open_due(world.clock.now) == 0
    assert await world.steps.open_due(world.clock.now) == 0
    assert [c for c in world.connector.calls if c.kind == "members"] == []
    assert world.outbox("invitation") == []
    round_ = db.run_sync(lambda s: s.get(Round, round_id))
    assert (round_.status, round_.opened_at) == ("closed", None)
    note = (
        "never opened: its opening was processed after its closing time; no invitations were sent"
    )
    assert (await world.admin.status(round_id)).summary.note == note
    [entry] = world.audit("round.open.missed")
    assert json.loads(entry.detail)["reason"] == "its opening was processed after its closing time"
    assert f"round {round_id} not opened and nobody invited" in caplog.text
    assert db.run_sync(lambda s: s.exec(select(RoundParticipant)).all()) == []


async def drain(world: World) -> None:
    """Send everything due, as the service's sender would (the fake connector answers)."""
    ctx = world.app[CONTEXT_KEY]
    sender = OutboxSender(
        world.db,
        sdk_authentication(ctx.settings),
        app_id="",
        clock=world.clock,
        limiter=world.app[LIMITER_KEY],  # the service's budget, which its roster reads count in
    )
    try:
        for _ in range(50):
            result = await sender.drain_once()
            if result.claimed == 0:
                return
    finally:
        await sender.aclose()


def by_person(world: World, kind: str) -> dict[str, OutboxMessage]:
    people = world.db.run_sync(
        lambda s: {p.id: p.teams_user_id for p in s.exec(select(Person)).all()}
    )
    return {people[m.person_id]: m for m in world.outbox(kind) if m.person_id is not None}


async def test_a_failed_invitation_is_nudged_later_and_submitting_cancels_pending_nudges(
    world: World, db: Database
) -> None:
    """Fault: Teams refuses to create staff 1's chat, so their invitation fails. Outcome: at the
    plan's nudge they are still nudged (through their team, a new chat); staff 0 submits while
    their nudge waits in the outbox, and it is cancelled, not sent; the others' are not."""
    world.connector.fail_create_for("29:staff-1", Failure(403, "ConversationBlockedByUser"))
    round_id = world.new_round(WARD, plan="3d")
    await world.steps.open_due(world.clock.now)  # Wednesday 25 November 10:00
    await drain(world)
    invitations = by_person(world, "invitation")
    assert {p: m.status for p, m in invitations.items()} == {
        "29:staff-0": "sent",
        "29:staff-1": "failed",
        "29:staff-2": "sent",
    }
    world.connector.fail_create_for("29:staff-1", None)  # they unblocked the bot meanwhile

    world.clock.now = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # Monday morning
    assert await world.steps.nudge_due(world.clock.now) == 3
    nudges = by_person(world, "nudge")
    target = json.loads(nudges["29:staff-1"].payload)["target"]
    assert target["user_id"] == "29:staff-1", "a chat created for them, through Ward 7"

    identity = Identity(world.lead.tenant_id, "29:staff-0", None, "Staff 0")
    complete(db, identity, round_id, 3, world.clock.now)
    assert {p: m.status for p, m in by_person(world, "nudge").items()} == {
        "29:staff-0": "cancelled",
        "29:staff-1": "pending",
        "29:staff-2": "pending",
    }
    await drain(world)
    assert {p: m.status for p, m in by_person(world, "nudge").items()} == {
        "29:staff-0": "cancelled",
        "29:staff-1": "sent",
        "29:staff-2": "sent",
    }
    chat = world.connector.personal_chat(world.lead.tenant_id, "29:staff-1")
    assert chat is not None
    assert world.connector.received()[chat] == 1


async def test_roster_reads_count_against_the_senders_rate_limits(
    world: World, settings_factory: Callable[..., Settings], db: Database, clock: Clock
) -> None:
    """Fault: roster pages bypassing the limiter would let a fan-out plus a roster read exceed
    Teams' per-tenant limit. Outcome: the service's roster reader uses the sender's own limiter,
    and each page read is counted in the tenant's and the team's windows."""
    served = create_app(settings_factory(), db=db, clock=clock, background=True)
    ctx = served[CONTEXT_KEY]
    sender = ctx.wake_sender.__self__  # type: ignore[attr-defined]
    assert isinstance(sender, OutboxSender)
    assert ctx.teams.limiter is sender.limiter

    world.connector.conversations[WARD].members = [
        member(n, world.lead.tenant_id) for n in range(1001)
    ]
    reader = world.app[CONTEXT_KEY].teams
    world.new_round(WARD)
    await world.steps.open_due(world.clock.now)
    tenant = reader.limiter.tenant(world.lead.tenant_id)
    team = reader.limiter.conversation(WARD)
    assert (len(tenant.done), len(team.done)) == (3, 3), "three pages of 500, each counted"
    await sender.aclose()


async def test_a_roster_page_held_past_its_timeout_is_read_again(world: World) -> None:
    """Fault: Teams holds the first roster page request past the reader's page timeout (0.3 s
    here). Outcome: that request is abandoned, the page is asked for again, and the whole
    roster comes back."""
    reader = TeamsDirectory(
        world.app[CONTEXT_KEY].teams.adapter,
        "",
        retry=RosterRetry(page_timeout_seconds=0.3, backoff_base_seconds=0.01),
    )
    team = world.db.run_sync(lambda s: installed_team(s, WARD))
    assert team is not None
    world.connector.hold()
    reading = asyncio.ensure_future(reader.roster(team.team_id, team.reference, team.tenant_id))
    await world.connector.wait_for(lambda: world.connector.held == 2)  # the second attempt
    world.connector.release()
    members = await asyncio.wait_for(reading, 10)
    assert sorted(m.teams_user_id for m in members) == [f"29:staff-{n}" for n in range(3)]
