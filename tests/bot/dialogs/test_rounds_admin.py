"""The improvement team's commands in Teams (allowed and refused, audited) and everyone's
`reminders`; real service, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import select

from bot.config import Settings
from impact.service import create_app
from store.audit import AuditEntry
from store.db import Database
from store.rounds.tables import NudgePreference, Round
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_text

pytestmark = pytest.mark.service

ADMIN_AAD = "11111111-2222-3333-4444-555555555555"
WARD = "19:ward7@thread.tacv2"


@pytest.fixture
async def people(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> Any:
    app = create_app(settings_factory(admin_ids=ADMIN_AAD.upper()), db=db, clock=clock)
    runner, url = await serve(app)
    admin = TeamsUser(
        bot_url=url, connector=connector, session=http, name="Ivy Improver", aad_object_id=ADMIN_AAD
    )
    nurse = TeamsUser(bot_url=url, connector=connector, session=http, name="Nia Nurse")
    await admin.add_bot_to_team(WARD, "Ward 7")
    yield admin, nurse
    await runner.cleanup()


def audit_log(db: Database) -> list[tuple[str, bool]]:
    return db.run_sync(
        lambda s: [
            (a.action, a.allowed) for a in s.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
        ]
    )


async def test_admin_creates_and_closes_a_round_from_teams(
    people: Any, db: Database, clock: Clock
) -> None:
    admin, _nurse = people
    await admin.say("rounds")
    assert "No rounds yet." in card_text(admin.last_card()[1])
    await admin.press("New round")
    _, form = admin.last_card()
    teams = next(e for e in form["body"] if e.get("id") == "teams")
    assert teams["choices"] == [{"title": "Ward 7", "value": WARD}]
    await admin.press(
        "Create round",
        {"name": "Winter 2026", "teams": WARD, "opens": "2026-11-25", "closes": "2026-12-09",
         "reminders": "3d,last-day", "role_question": "true", "repeat": "6m"},
    )  # fmt: skip
    rounds = db.run_sync(lambda s: list(s.exec(select(Round)).all()))
    assert [(r.name, r.status, r.role_question, r.repeat_every) for r in rounds] == [
        ("Winter 2026", "scheduled", True, "6m")
    ]
    assert rounds[0].opens_at == clock.now, "today's 09:00 has passed: it opens now"
    assert rounds[0].closes_at == datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
    card_id, listing = admin.last_card()
    assert "Round 1 created: it opens now" in card_text(listing)
    await admin.press("Extend a week", {"round": "1"}, card_id=card_id)
    assert db.run_sync(lambda s: s.get(Round, 1).closes_at) == datetime(
        2026, 12, 16, 9, 0, tzinfo=UTC
    )
    assert "now closes a week later" in card_text(
        admin.connector.activity(admin.conversation_id, card_id)["attachments"][0]["content"]
    )
    await admin.press("Close now", {"round": "1"}, card_id=card_id)
    assert db.run_sync(lambda s: s.get(Round, 1).closes_at) == clock.now
    assert ("round.create", True) in audit_log(db)
    assert ("round.close", True) in audit_log(db)
    assert ("round.extend", True) in audit_log(db)


async def test_a_bad_form_creates_nothing_and_says_why(people: Any, db: Database) -> None:
    admin, _nurse = people
    await admin.say("new round")
    await admin.press(
        "Create round",
        {"name": "Backwards", "teams": WARD, "opens": "2026-12-09", "closes": "2026-12-01"},
    )
    texts = [card_text(c) for _i, c in admin.cards()[-2:]]
    assert "must close after it opens. Nothing was created." in texts[0]
    assert "New round" in texts[1]
    assert db.run_sync(lambda s: list(s.exec(select(Round)).all())) == []


async def test_everyone_else_is_refused_and_the_refusal_is_audited(
    people: Any, db: Database
) -> None:
    _admin, nurse = people
    await nurse.say("rounds")
    assert "Only the improvement team can do that" in card_text(nurse.last_card()[1])
    forged = {
        "verb": "round_create",
        "name": "Mine",
        "teams": WARD,
        "opens": "now",
        "closes": "+7d",
    }
    result = await nurse.execute("x", "round_create", forged)
    assert "Only the improvement team can do that" in card_text(result.body["value"])
    assert db.run_sync(lambda s: list(s.exec(select(Round)).all())) == []
    assert audit_log(db) == [("rounds.view", False), ("round_create", False)]


async def test_reminders_are_set_shown_and_explained(people: Any, db: Database) -> None:
    _admin, nurse = people
    await nurse.say("reminders every day 20:00-06:00")
    assert "✓ Reminders: Every day, 20:00–06:00 overnight (Europe/London)" in card_text(
        nurse.last_card()[1]
    )
    await nurse.say("away until 24 December")
    assert "away until Thursday 24 December" in card_text(nurse.last_card()[1])
    row = db.run_sync(lambda s: s.exec(select(NudgePreference)).one())
    assert (row.days, row.window_start_minute, row.window_end_minute) == (
        "mon,tue,wed,thu,fri,sat,sun", 20 * 60, 6 * 60,
    )  # fmt: skip
    await nurse.say("reminders 25-3")
    refusal = card_text(nurse.last_card()[1])
    assert refusal.startswith("ⓘ ")
    assert "25-3" in refusal
    await nurse.say("reminders")
    assert "Every day, 20:00–06:00" in card_text(nurse.last_card()[1])


async def test_members_of_the_improvement_team_team_count_as_the_improvement_team(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> None:
    improve = "19:improvement@thread.tacv2"
    settings = settings_factory(improvement_team_id=improve)
    app = create_app(settings, db=db, clock=clock)
    runner, url = await serve(app)
    try:
        lead = TeamsUser(bot_url=url, connector=connector, session=http, name="Lee Lead")
        await lead.add_bot_to_team(improve, "Improvement team")
        connector.conversations[improve].members = [
            {"id": lead.user_id, "name": "Lee Lead", "aadObjectId": lead.aad_object_id,
             "tenantId": lead.tenant_id, "userRole": "owner"},
        ]  # fmt: skip
        await lead.say("rounds")
        assert "Assessment rounds" in card_text(lead.last_card()[1])
        outsider = TeamsUser(bot_url=url, connector=connector, session=http, name="Olu Out")
        await outsider.say("rounds")
        assert "Only the improvement team can do that" in card_text(outsider.last_card()[1])
    finally:
        await runner.cleanup()
