"""A round's scheduled steps with the clock moved by the test: nudges, closing with results and
summaries to the team channel, repeating; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from assessment.rules import ChooseLevel, Submit
from bot.config import Settings
from framework.content import default_framework
from framework.identity import Identity
from impact.features.rounds import round_steps
from impact.service import CONTEXT_KEY, create_app
from rounds.services.steps import RoundSteps
from store.assessments.aggregate import AssessmentStore
from store.db import Database
from store.outbox import OutboxMessage
from store.rounds.lifecycle import RoundSpec, create_round
from store.rounds.tables import Round, RoundTeam
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_text
from tests.rounds.services.test_opening import member

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"
ADMIN_AAD = "11111111-2222-3333-4444-555555555555"
FRAMEWORK = default_framework()


def complete(db: Database, identity: Identity, round_id: int, level: int, now: datetime) -> None:
    store = AssessmentStore(FRAMEWORK, lambda: now)
    snapshot = db.run_sync(lambda s: store.start_or_resume(s, identity, round_id))
    token = snapshot.revision
    for q in range(1, FRAMEWORK.question_count + 1):
        db.run_sync(
            lambda s, q=q, t=token: store.act(
                s, identity, snapshot.assessment_id, ChooseLevel(q, level, None, t)
            )
        )
        token += 1
    outcome = db.run_sync(lambda s: store.act(s, identity, snapshot.assessment_id, Submit(token)))
    assert outcome.snapshot is not None
    assert outcome.snapshot.status.value == "submitted"


@pytest.fixture
async def world(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> Any:
    settings = settings_factory(public_url="https://impact.example.nhs.uk", admin_ids=ADMIN_AAD)
    app = create_app(settings, db=db, clock=clock)
    runner, url = await serve(app)
    lead = TeamsUser(bot_url=url, connector=connector, session=http, name="Sam Lead")
    await lead.add_bot_to_team(WARD, "Ward 7")
    connector.conversations[WARD].members = [member(n, lead.tenant_id) for n in range(7)]
    jobs = round_steps(app[CONTEXT_KEY])

    def new_round(days: int = 14, plan: str = "3d,last-day", repeat: str | None = None) -> int:
        spec = RoundSpec(
            "Winter 2026",
            (WARD,),
            clock.now,
            clock.now + timedelta(days=days),
            plan,
            repeat_every=repeat,
        )
        return db.run_sync(
            lambda s: create_round(s, spec, framework=FRAMEWORK, actor="t", now=clock.now).id
        )

    def staff(n: int) -> TeamsUser:
        person = TeamsUser(
            bot_url=url,
            connector=connector,
            session=http,
            user_id=f"29:staff-{n}",
            name=f"Staff {n}",
        )
        person.tenant_id = lead.tenant_id
        return person

    lead.aad_object_id = ADMIN_AAD  # the team lead is on the improvement team here
    yield jobs, new_round, staff, lead
    await runner.cleanup()


async def six_of_seven_answered(
    jobs: RoundSteps, new_round: Callable[..., int], lead: TeamsUser, db: Database, clock: Clock
) -> int:
    """A week-long round; six of its seven staff submit; the clock is then past its close."""
    round_id = new_round(days=7)
    await jobs.run_due(clock.now)
    for n, level in zip(range(6), (1, 2, 3, 3, 4, 5), strict=True):
        identity = Identity(lead.tenant_id, f"29:staff-{n}", None, f"Staff {n}")
        complete(db, identity, round_id, level, clock.now)
    clock.now += timedelta(days=8)
    return round_id


async def closed_with_full_results(
    jobs: RoundSteps, new_round: Callable[..., int], lead: TeamsUser, db: Database, clock: Clock
) -> dict[str, Any]:
    """The six-of-seven round, closed: its summary card's Full results action."""
    await six_of_seven_answered(jobs, new_round, lead, db, clock)
    await jobs.close_due(clock.now)
    [summary] = outbox(db, "summary")
    card = json.loads(summary.payload)["activity"]["attachments"][0]["content"]
    return next(a for a in card["actions"] if a["title"] == "Full results")


def outbox(db: Database, kind: str) -> list[OutboxMessage]:
    return db.run_sync(
        lambda s: list(
            s.exec(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            ).all()
        )
    )


async def test_nudges_follow_the_plan_and_working_hours(
    world: Any, db: Database, clock: Clock
) -> None:
    jobs, new_round, staff, _lead = world
    round_id = new_round(plan="3d")
    await jobs.run_due(clock.now)  # opens: Wednesday 25 November 10:00
    for n in (1, 2, 3):
        await staff(n).say("help")  # they have a 1:1 chat with the bot now
    complete(
        db, Identity(staff(2).tenant_id, "29:staff-2", None, "Staff 2"), round_id, 3, clock.now
    )
    await staff(3).execute("x", "optout", {"verb": "optout", "round": round_id})

    clock.now = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)  # Saturday: not a working day
    assert await jobs.nudge_due(clock.now) == 0
    clock.now = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # Monday morning
    assert await jobs.nudge_due(clock.now) == 1  # staff 1 only: 2 submitted, 3 opted out
    assert await jobs.nudge_due(clock.now) == 0, "never twice"
    clock.now += timedelta(hours=3)
    assert await jobs.nudge_due(clock.now) == 0, "the plan had one nudge"
    [nudge] = outbox(db, "nudge")
    card = json.loads(nudge.payload)["activity"]["attachments"][0]["content"]
    assert "A reminder: Winter 2026" in card_text(card)


async def test_closing_posts_the_summary_to_the_team_channel_once(
    world: Any, db: Database, clock: Clock
) -> None:
    jobs, new_round, _staff, lead = world
    round_id = await six_of_seven_answered(jobs, new_round, lead, db, clock)
    assert await jobs.close_due(clock.now) == [round_id]
    assert await jobs.close_due(clock.now) == [], "a round closes once"
    assert db.run_sync(lambda s: s.get(Round, round_id).status) == "closed"
    [summary] = outbox(db, "summary")
    payload = json.loads(summary.payload)
    assert payload["target"]["conversation_id"] == WARD
    card = payload["activity"]["attachments"][0]["content"]
    text = card_text(card)
    assert "6 of 7" in text
    images = [e for e in card["body"] if e.get("type") == "Image"]
    assert images
    assert images[0]["url"].startswith("https://impact.example.nhs.uk/charts/")
    assert images[0]["altText"]


async def test_too_few_responses_show_no_results(world: Any, db: Database, clock: Clock) -> None:
    jobs, new_round, _staff, lead = world
    round_id = new_round(days=7)
    await jobs.run_due(clock.now)
    for n in range(3):
        complete(
            db,
            Identity(lead.tenant_id, f"29:staff-{n}", None, f"Staff {n}"),
            round_id,
            4,
            clock.now,
        )
    clock.now += timedelta(days=8)
    await jobs.close_due(clock.now)
    [summary] = outbox(db, "summary")
    card = json.loads(summary.payload)["activity"]["attachments"][0]["content"]
    text = card_text(card)
    assert "Not enough responses to show results" in text
    assert "Improving" not in text
    assert "Progressing" not in text


async def test_a_repeating_round_schedules_the_next_one_when_it_closes(
    world: Any, db: Database, clock: Clock
) -> None:
    jobs, new_round, _staff, _lead = world
    round_id = new_round(days=14, repeat="6m")
    await jobs.run_due(clock.now)
    clock.now += timedelta(days=15)
    await jobs.close_due(clock.now)

    def following(session: Any) -> tuple[Round, list[int]]:
        next_round = session.exec(select(Round).where(Round.previous_round_id == round_id)).one()
        teams = list(
            session.exec(select(RoundTeam.team_id).where(RoundTeam.round_id == next_round.id)).all()
        )
        return next_round, teams

    next_round, teams = db.run_sync(following)
    assert next_round.status == "scheduled"
    assert next_round.opens_at == datetime(2027, 5, 25, 9, 0, tzinfo=UTC)  # 10:00 BST
    assert next_round.closes_at - next_round.opens_at == timedelta(days=14)
    assert len(teams) == 1


async def test_full_results_for_the_improvement_team_only(
    world: Any, db: Database, clock: Clock
) -> None:
    jobs, new_round, staff, lead = world
    action = await closed_with_full_results(jobs, new_round, lead, db, clock)
    await lead.execute("summary", action["verb"], action["data"])
    text = card_text(lead.last_card()[1])
    assert "Winter 2026: Ward 7" in text
    assert "6 of 7 responded" in text
    assert "1. Board and executives setting the shared purpose and vision: Progressing" in text
    nurse = staff(4)
    result = await nurse.execute("summary", action["verb"], action["data"])
    assert "Only the improvement team can do that" in card_text(result.body["value"])


async def test_team_owners_read_their_own_teams_full_results(
    world: Any, db: Database, clock: Clock, connector: FakeConnector
) -> None:
    jobs, new_round, staff, lead = world
    connector.conversations[WARD].members[6]["userRole"] = "owner"  # staff 6: the ward's owner
    action = await closed_with_full_results(jobs, new_round, lead, db, clock)
    owner = staff(6)
    await owner.execute("summary", action["verb"], action["data"])
    assert "Winter 2026: Ward 7" in card_text(owner.last_card()[1])
    other_team = {**action["data"], "team_id": action["data"]["team_id"] + 1}
    result = await owner.execute("summary", action["verb"], other_team)
    assert "Only the improvement team can do that" in card_text(result.body["value"])


async def test_the_improvement_team_downloads_the_export_from_teams(
    world: Any, db: Database, clock: Clock
) -> None:
    jobs, new_round, staff, lead = world
    full = await closed_with_full_results(jobs, new_round, lead, db, clock)
    await lead.execute("summary", full["verb"], full["data"])
    await lead.press("Download CSV")
    _, link_card = lead.last_card()
    url = link_card["actions"][0]["url"]
    assert url.startswith("https://impact.example.nhs.uk/exports/")
    local = url.replace("https://impact.example.nhs.uk", lead.bot_url)
    assert lead.session is not None
    async with lead.session.get(local) as response:
        assert response.status == 200
        assert "attachment" in response.headers["Content-Disposition"]
        body = await response.text()
    assert "Ward 7" in body
    assert not any(f"Staff {n}" in body or f"29:staff-{n}" in body for n in range(7)), "no names"
    clock.now += timedelta(minutes=16)
    async with lead.session.get(local) as response:
        assert response.status == 404
    nurse = staff(2)
    export = {"verb": "export", "round_id": full["data"]["round_id"], "fmt": "csv"}
    result = await nurse.execute("x", "export", export)
    assert "Only the improvement team can do that" in card_text(result.body["value"])


async def test_a_paused_repetition_schedules_nothing_until_resumed(
    world: Any, db: Database, clock: Clock
) -> None:
    from store.rounds.lifecycle import set_repetition

    jobs, new_round, _staff, _lead = world
    round_id = new_round(days=14, repeat="6m")
    await jobs.run_due(clock.now)
    db.run_sync(lambda s: set_repetition(s, round_id, "pause", actor="t", now=clock.now))
    clock.now += timedelta(days=15)
    await jobs.close_due(clock.now)
    assert await jobs.repeat_due(clock.now) == 0

    def successors(session: Any) -> int:
        return len(session.exec(select(Round).where(Round.previous_round_id == round_id)).all())

    assert db.run_sync(successors) == 0
    db.run_sync(lambda s: set_repetition(s, round_id, "resume", actor="t", now=clock.now))
    assert await jobs.repeat_due(clock.now) == 1
    assert await jobs.repeat_due(clock.now) == 0, "once"
    assert db.run_sync(successors) == 1
