"""What staff do with a round's invitation: start (the answers count for the round), remind me
later, stop reminding me; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.config import Settings
from framework.content import default_framework
from impact.features.rounds import round_steps
from impact.service import CONTEXT_KEY, create_app
from store.assessments.tables import Assessment
from store.db import Database
from store.rounds.lifecycle import RoundSpec, create_round
from store.rounds.tables import RoundParticipant
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_text
from tests.rounds.services.test_opening import member

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"


@pytest.fixture
async def round_with_staff(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> Any:
    app = create_app(settings_factory(), db=db, clock=clock)
    runner, url = await serve(app)
    lead = TeamsUser(bot_url=url, connector=connector, session=http, name="Sam Lead")
    await lead.add_bot_to_team(WARD, "Ward 7")
    connector.conversations[WARD].members = [member(n, lead.tenant_id) for n in range(3)]
    framework = default_framework()
    spec = RoundSpec("Winter 2026", (WARD,), clock.now, clock.now + timedelta(days=14), "3d")
    round_id = db.run_sync(
        lambda s: create_round(s, spec, framework=framework, actor="t", now=clock.now).id
    )
    await round_steps(app[CONTEXT_KEY]).opener.open_due(clock.now)

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

    yield round_id, staff, url
    await runner.cleanup()


def participant(db: Database, round_id: int, teams_user_id: str) -> RoundParticipant:
    def read(session: Any) -> RoundParticipant:
        from store.people import Person

        return session.exec(
            select(RoundParticipant)
            .join(Person, Person.id == RoundParticipant.person_id)
            .where(RoundParticipant.round_id == round_id, Person.teams_user_id == teams_user_id)
        ).one()

    return db.run_sync(read)


async def test_start_from_the_invitation_counts_for_the_round(
    round_with_staff: Any, db: Database
) -> None:
    round_id, staff, _url = round_with_staff
    person = staff(1)
    await person.execute("invitation", "start", {"verb": "start", "round": round_id})
    _, card = person.last_card()
    assert "Question 1 of 22" in card_text(card)
    row = participant(db, round_id, "29:staff-1")
    assessment = db.run_sync(lambda s: s.get(Assessment, row.assessment_id))
    assert assessment.round_id == round_id


async def test_typing_start_also_counts_for_the_open_round(
    round_with_staff: Any, db: Database
) -> None:
    round_id, staff, _url = round_with_staff
    person = staff(2)
    await person.say("start")
    row = participant(db, round_id, "29:staff-2")
    assert row.assessment_id is not None


async def test_remind_me_later_snoozes_to_the_next_working_morning(
    round_with_staff: Any, db: Database
) -> None:
    round_id, staff, _url = round_with_staff
    person = staff(0)
    # the clock says Wednesday 25 November 2026, 10:00 in London
    result = await person.execute("invitation", "snooze", {"verb": "snooze", "round": round_id})
    text = card_text(result.body["value"])
    assert "I'll remind you on Thursday 26 November at 09:00" in text
    row = participant(db, round_id, "29:staff-0")
    assert row.snoozed_until == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert "Start" in text


async def test_stop_reminding_me_opts_out_but_still_allows_answering(
    round_with_staff: Any, db: Database
) -> None:
    round_id, staff, _url = round_with_staff
    person = staff(0)
    result = await person.execute("invitation", "optout", {"verb": "optout", "round": round_id})
    assert "no more reminders for Winter 2026" in card_text(result.body["value"])
    assert participant(db, round_id, "29:staff-0").opted_out is True


async def test_someone_not_on_the_roster_cannot_snooze_the_round(
    round_with_staff: Any, db: Database
) -> None:
    round_id, staff, _url = round_with_staff
    stranger = staff(99)
    result = await stranger.execute("x", "optout", {"verb": "optout", "round": round_id})
    assert "isn't for you" in card_text(result.body["value"])
    assert participant(db, round_id, "29:staff-0").opted_out is False


async def test_the_role_question_comes_first_when_the_round_asks_it(
    round_with_staff: Any, db: Database
) -> None:
    round_id, staff, _url = round_with_staff

    def ask_roles(session: Any) -> None:
        from store.rounds.tables import Round

        session.get(Round, round_id).role_question = True

    db.run_sync(ask_roles)
    person = staff(1)
    await person.execute("invitation", "start", {"verb": "start", "round": round_id})
    card_id, card = person.last_card()
    assert "Which best describes your role?" in card_text(card)
    result = await person.press("Continue", {"role": "chief_of_everything"}, card_id=card_id)
    assert result.status == 200
    assert participant(db, round_id, "29:staff-1").role is None
    result = await person.press("Continue", {"role": "frontline_clinical"}, card_id=card_id)
    assert "Role: Frontline clinical" in card_text(result.body["value"])
    assert participant(db, round_id, "29:staff-1").role == "frontline_clinical"
    assert "Question 1 of 22" in card_text(person.last_card()[1])
    await person.say("resume")  # asked once only
    assert "Question 1 of 22" in card_text(person.last_card()[1])


async def test_a_submitted_round_assessment_can_be_changed_until_the_round_closes(
    round_with_staff: Any, db: Database, clock: Clock
) -> None:
    from framework.identity import Identity
    from store.assessments.tables import Answer
    from store.rounds.tables import Round
    from tests.rounds.services.test_steps import complete

    round_id, staff, _url = round_with_staff
    person = staff(1)
    complete(db, Identity(person.tenant_id, "29:staff-1", None, "Staff 1"), round_id, 2, clock.now)
    original = participant(db, round_id, "29:staff-1").assessment_id
    await person.say("status")
    assert "Thank you" in card_text(person.last_card()[1])
    await person.press("Change my answers")
    assert "Until you do, your earlier answers count" in card_text(person.last_card()[1])
    await person.press("Change answer", {"change_q": "1"})
    await person.press("Next", {"level": "5"})
    # not submitted again yet: the submitted assessment is still the one that counts
    assert participant(db, round_id, "29:staff-1").assessment_id == original
    await person.press("Submit my answers")
    latest = participant(db, round_id, "29:staff-1").assessment_id
    assert latest != original

    def state(session: Any) -> tuple[str, str, int]:
        old = session.get(Assessment, original)
        new = session.get(Assessment, latest)
        q1 = session.exec(
            select(Answer.level).where(Answer.assessment_id == latest, Answer.question_number == 1)
        ).one()
        return old.status, new.status, q1

    assert db.run_sync(state) == ("superseded", "submitted", 5)

    def close(session: Any) -> None:
        session.get(Round, round_id).status = "closed"

    await person.say("status")
    before_the_close, _card = person.last_card()
    db.run_sync(close)
    await person.say("status")  # the profile no longer offers a change that can't be made
    assert "Change my answers" not in card_text(person.last_card()[1])
    result = await person.press("Change my answers", card_id=before_the_close)
    assert "That round has closed" in card_text(result.body["value"])


async def test_reminder_times_from_the_invitation(round_with_staff: Any, db: Database) -> None:
    from store.rounds.tables import NudgePreference

    _round_id, staff, _url = round_with_staff
    person = staff(2)
    form = {"verb": "reminder_times", "remind_days": "sat,sun", "remind_from": "20:00",
            "remind_to": "06:00"}  # fmt: skip
    await person.execute("invitation", "reminder_times", form)
    assert "Saturdays and Sundays, 20:00–06:00 overnight" in card_text(person.last_card()[1])
    row = db.run_sync(lambda s: s.exec(select(NudgePreference)).one())
    assert (row.days, row.window_start_minute, row.window_end_minute) == ("sat,sun", 1200, 360)
    await person.execute("invitation", "reminder_times", {**form, "remind_days": ""})
    assert "Nothing was changed" in card_text(person.last_card()[1])
    assert db.run_sync(lambda s: s.exec(select(NudgePreference)).one()).days == "sat,sun"
