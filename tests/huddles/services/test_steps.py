"""The huddle steps besides posting, with the clock moved by the test, on SQLite and PostgreSQL:
Monday's digests (the lead's in their 1:1 chat at 08:00 their time, the improvement team's in
its channel) with their figures, and an action owner's one nudge on the due date."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from framework.identity import Identity
from huddles.rules.digest import HuddleStatus
from huddles.rules.views import Draft
from rounds.rules.preferences import NudgePreferences
from store.huddles.occurrences import history
from store.huddles.schedules import team_by_teams_id
from store.people import ensure_person
from store.rounds.participants import save_preferences
from tests.fakes.teams_client import TeamsUser, card_of, card_text
from tests.huddles.world import IMPROVEMENT, WARD, World, payload_card, target_of

pytestmark = pytest.mark.service

MONDAY_8AM = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # GMT: 08:00 in London


def me(user: TeamsUser) -> Identity:
    return Identity(user.tenant_id, user.user_id, user.aad_object_id, user.name)


def huddle_on(world: World, day: date) -> int:
    def read(session: Any) -> int:
        team = team_by_teams_id(session, WARD)
        assert team.id is not None
        return next(r.huddle_id for r in history(session, team.id) if r.local_date == day)

    return world.db.run_sync(read)


async def a_fortnight_of_huddles(world: World) -> tuple[TeamsUser, TeamsUser]:
    """Ward 7's week: four huddles (two held, with 2 and 1 here; one that didn't happen; one
    nobody recorded), four ideas (two new, one in test, one adopted), an overdue action and one
    not yet due, and an escalation raised on Friday."""
    lead, nurse = world.person("lead", "Sam Lead"), world.person("nurse", "Nia Nurse")
    await world.team(WARD, "Ward 7", [lead], [nurse])
    await world.team(IMPROVEMENT, "Improvement", [world.person("ivy", "Ivy Improver")], [])
    await world.schedule(WARD)
    capture, steps = world.services.capture, world.services.steps
    days = [date(2026, 11, d) for d in (24, 25, 26, 27)]
    for day in days:
        world.clock.now = datetime(day.year, day.month, day.day, 8, 25, tzinfo=UTC)
        assert await steps.post_due(world.clock.now) == 1
    tuesday, wednesday, thursday, friday = (huddle_on(world, d) for d in days)
    world.clock.now = datetime(2026, 11, 24, 8, 40, tzinfo=UTC)
    for who in (lead, nurse):
        assert (await capture.here(me(who), tuesday, WARD)).changed
    for n, text in enumerate(("Quiet hour", "Handover board", "Bedside checklist", "Tea rota")):
        added = await capture.add(me(nurse), tuesday, WARD, Draft(kind="idea", text=text))
        assert added.changed, n
    for text, due in (("Order pads", "2026-11-26"), ("Fix rota", "2026-12-02")):
        draft = Draft(kind="action", text=text, owner="me", due=due)
        assert (await capture.add(me(nurse), tuesday, WARD, draft)).changed
    view = (await capture.current(me(nurse), tuesday, WARD, "")).view
    assert view is not None
    refs = {line.text: line.ref for line in view.ideas}
    await capture.change(me(nurse), tuesday, WARD, refs["Handover board"], "start_cycle", "")
    await capture.change(me(nurse), tuesday, WARD, refs["Bedside checklist"], "adopt", "")
    assert (await capture.outcome(me(lead), tuesday, WARD, HuddleStatus.HELD, "")).changed
    world.clock.now = datetime(2026, 11, 25, 8, 40, tzinfo=UTC)
    await capture.here(me(nurse), wednesday, WARD)
    await capture.outcome(me(lead), wednesday, WARD, HuddleStatus.HELD, "")
    await capture.outcome(me(lead), thursday, WARD, HuddleStatus.NOT_HELD, "Short staffed")
    world.clock.now = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
    escalation = Draft(kind="escalation", text="Broken hoist")
    assert (await capture.add(me(nurse), friday, WARD, escalation)).changed
    return lead, nurse


def digests(world: World) -> list[tuple[str, dict[str, Any], str]]:
    """(where, target, card text) of every digest queued."""
    found = []
    for message in world.outbox("digest"):
        target = target_of(message)
        where = target.get("user_id") or target["conversation_id"]
        found.append((where, target, card_text(payload_card(message))))
    return found


async def test_the_lead_and_the_improvement_team_get_mondays_digest_once(world: World) -> None:
    lead, _nurse = await a_fortnight_of_huddles(world)
    steps = world.services.steps
    assert await steps.digest_due(MONDAY_8AM - timedelta(minutes=1)) == 0
    assert await steps.digest_due(MONDAY_8AM) == 2
    assert await steps.digest_due(MONDAY_8AM + timedelta(minutes=1)) == 0
    assert await steps.digest_due(MONDAY_8AM + timedelta(days=1)) == 0
    sent = {where: text for where, _target, text in digests(world)}
    assert set(sent) == {lead.user_id, IMPROVEMENT}
    # long figure names read as a bold line above their figures rather than a FactSet's column
    text, rollup = sent[lead.user_id], sent[IMPROVEMENT].replace("**", "")
    for expected in (
        "Ward 7: your huddles this month",
        "Huddles held\n2 of 4 (1 didn't happen, 1 not recorded)",
        "Attendance\n1.5 people on average",
        "Ideas\nnew 2, testing 1, adopted 1, not taken forward 0",
        "Actions overdue\n1",
        "Escalations open\n1 (3 days)",
        "Open 3 days: \nBroken hoist",
    ):
        assert expected in text
    for expected in (
        "Huddles across the teams",
        "Teams holding huddles\n1 of 1",
        "Huddles held\n2 of 4",
        "Escalations at the top of the cascade",
        "Ward 7 (its own) → Ward 7, 3 days: \nBroken hoist",
    ):
        assert expected in rollup
    world.clock.now = MONDAY_8AM
    await world.deliver()
    chat = world.connector.personal_chat(lead.tenant_id, lead.user_id)
    assert chat is not None, "the sender opened the lead's 1:1 chat"
    assert any("your huddles this month" in card_text(c) for c in _cards(world, chat))


async def test_a_leads_digest_comes_at_08_00_in_their_own_zone(world: World) -> None:
    lead, _nurse = await a_fortnight_of_huddles(world)
    in_new_york = replace(me(lead), time_zone="America/New_York")  # as their Teams client says
    world.db.run_sync(lambda s: ensure_person(s, in_new_york, MONDAY_8AM))
    steps = world.services.steps
    assert await steps.digest_due(MONDAY_8AM) == 1, "only the improvement team's, in London"
    assert await steps.digest_due(MONDAY_8AM + timedelta(hours=5)) == 1  # 08:00 in New York
    assert [d[0] for d in digests(world)] == [IMPROVEMENT, lead.user_id]


def _cards(world: World, conversation_id: str) -> list[dict[str, Any]]:
    return [c for _a, act in world.connector.shown(conversation_id) if (c := card_of(act))]


async def test_an_action_owner_is_nudged_once_on_the_due_date_in_their_hours(
    world: World,
) -> None:
    _lead, nurse = await a_fortnight_of_huddles(world)
    steps = world.services.steps
    thursday = datetime(2026, 11, 26, 8, 59, tzinfo=UTC)
    assert await steps.nudge_due(thursday) == 0, "before 09:00, their default window"
    assert await steps.nudge_due(thursday + timedelta(minutes=1)) == 1
    assert await steps.nudge_due(thursday + timedelta(hours=2)) == 0
    [nudge] = world.outbox("nudge")
    assert target_of(nudge)["user_id"] == nurse.user_id
    text = card_text(payload_card(nudge))
    assert "An action due today" in text
    assert "Order pads" in text
    await world.deliver()
    chat = world.connector.personal_chat(nurse.tenant_id, nurse.user_id)
    assert chat is not None
    nurse.conversation_id = chat
    card_id, card = nurse.last_card()
    done = next(a for a in card["actions"] if a["title"] == "Done")
    await nurse.press_action(card_id, done, {})
    assert "✓ Nia Nurse: action done." in card_text(nurse.last_card()[1])
    await nurse.press_action(card_id, done, {})  # a double tap
    assert "This action is done already" in card_text(nurse.last_card()[1])


async def test_no_nudge_while_the_owner_is_away(world: World) -> None:
    _lead, nurse = await a_fortnight_of_huddles(world)

    def away(session: Any) -> None:
        person = ensure_person(session, me(nurse), MONDAY_8AM)
        assert person.id is not None
        usual = NudgePreferences.default()
        on_leave = NudgePreferences(usual.days, usual.start, usual.end, date(2026, 11, 27))
        save_preferences(session, person.id, on_leave, MONDAY_8AM)

    world.db.run_sync(away)
    assert await world.services.steps.nudge_due(datetime(2026, 11, 26, 10, 0, tzinfo=UTC)) == 0
