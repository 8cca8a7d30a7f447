"""Strategic alignment in Teams, through the real service on loopback (SQLite and PostgreSQL):
the improvement team records an aim, a goal, a national target and a project from the forms,
links work to a goal and reads the matrix; everyone else is refused, and every decision is
audited; a form with a problem comes back with what was typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, select

from bot.config import Settings
from framework.content import default_alignment_tool
from impact.service import create_app
from store.alignment.tables import AlignmentLink, ImprovementProject, StrategicAim
from store.audit import AuditEntry
from store.db import Database
from store.people import Person
from tests.conftest import Clock, serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_text

pytestmark = pytest.mark.service

ADMIN_AAD = "11111111-2222-3333-4444-555555555555"
WARD = "19:ward7@thread.tacv2"
TOOL = default_alignment_tool()


@pytest.fixture
async def people(
    db: Database,
    settings_factory: Callable[..., Settings],
    clock: Clock,
    connector: FakeConnector,
    http: Any,
) -> Any:
    app = create_app(settings_factory(admin_ids=ADMIN_AAD), db=db, clock=clock)
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
            (a.action, a.allowed)
            for a in s.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
        ]
    )


async def open_form(user: TeamsUser, button: str) -> dict[str, Any]:
    """Record or link… on the matrix, then the form's button on the menu."""
    await user.press("Record or link…")
    await user.press(button)
    return user.last_card()[1]


async def test_the_improvement_team_records_links_and_reads_the_matrix(
    people: Any, db: Database
) -> None:
    admin, _nurse = people
    await admin.say("alignment")
    matrix = card_text(admin.last_card()[1])
    assert "No strategic aims are recorded yet." in matrix
    assert "What are the strategic aims of your organisation?" in matrix

    form = await open_form(admin, "Add a strategic aim")
    assert TOOL.stage("strategic-aims").description in card_text(form)
    await admin.press("Record aim", {"title": "Safe care, every time"})
    assert "✓ Aim 1 recorded." in card_text(admin.last_card()[1])

    form = await open_form(admin, "Add a measurable goal")
    assert "What are you currently measuring?" in card_text(form)
    aims = next(e for e in form["body"] if e.get("id") == "aim")
    assert aims["choices"] == [{"title": "Safe care, every time", "value": "1"}]
    await admin.press("Record goal", {"aim": "1", "title": "Fewer falls", "measure": "Falls/1,000"})
    assert "✓ Goal 1 recorded under aim 1." in card_text(admin.last_card()[1])

    await open_form(admin, "Add a national target")
    await admin.press("Record target", {"title": "Patient safety framework", "goals": "1"})
    assert "✓ National target 1 recorded." in card_text(admin.last_card()[1])

    form = await open_form(admin, "Add an improvement project")
    teams = next(e for e in form["body"] if e.get("id") == "team")
    assert teams["choices"] == [{"title": "Ward 7", "value": WARD}]
    await admin.press(
        "Record project", {"title": "Low beds", "team": WARD, "status": "planned", "lead": "true"}
    )
    assert "✓ Project 1 recorded." in card_text(admin.last_card()[1])

    form = await open_form(admin, "Link work to a goal")
    work = next(e for e in form["body"] if e.get("id") == "work")
    assert work["choices"] == [{"title": "Project 1: Low beds", "value": "project:1"}]
    await admin.press("Link", {"work": "project:1", "goal": "1"}, via="submit")
    _card_id, matrix_card = admin.last_card()
    shown = card_text(matrix_card)
    assert "✓ Project 1 now serves goal 1." in shown
    assert "1 aim · 1 goal · 1 national target · 1 piece of work, 0 linked to no aim" in shown
    assert "Patient safety framework" in shown
    assert "Ward 7, planned" in shown

    project = db.run_sync(lambda s: s.exec(select(ImprovementProject)).one())
    owner = db.run_sync(lambda s: s.get(Person, project.owner_person_id))
    assert owner is not None
    assert owner.aad_object_id == ADMIN_AAD, "I lead this project"
    link = db.run_sync(lambda s: s.exec(select(AlignmentLink)).one())
    assert (link.work_kind, link.work_id, link.goal_id, link.linked_by) == (
        "project", 1, 1, ADMIN_AAD,
    )  # fmt: skip
    assert ("alignment.view", True) in audit_log(db)
    for change in ("aim.add", "goal.add", "target.add", "project.add", "link"):
        assert (f"alignment.{change}", True) in audit_log(db)


async def test_a_form_with_a_problem_comes_back_with_what_was_typed(
    people: Any, db: Database
) -> None:
    admin, _nurse = people
    await admin.say("aims")
    await open_form(admin, "Add a strategic aim")
    await admin.press("Record aim", {"title": "   "})
    form = admin.last_card()[1]
    assert "The aim's title is empty. Nothing was recorded." in card_text(form)
    await admin.press("Record aim", {"title": "**Safe** care"})
    await admin.say("matrix")
    await open_form(admin, "Add a strategic aim")
    await admin.press("Record aim", {"title": "**SAFE** CARE"})
    _card_id, form = admin.last_card()
    note = "There is already an aim '**Safe** care' (aim 1). Nothing was recorded."
    assert note in card_text(form)
    assert not [e for e in form["body"] if e.get("type") == "TextBlock" and "**" in e["text"]]
    title = next(e for e in form["body"] if e.get("id") == "title")
    assert title["value"] == "**SAFE** CARE", "nothing typed is lost"
    assert db.run_sync(lambda s: len(s.exec(select(StrategicAim)).all())) == 1


async def test_a_goal_removed_while_the_form_was_open_is_refused_cleanly(
    people: Any, db: Database
) -> None:
    admin, _nurse = people
    await admin.say("alignment")
    await open_form(admin, "Add a strategic aim")
    await admin.press("Record aim", {"title": "Flow"})
    await open_form(admin, "Add an improvement project")
    await admin.press("Record project", {"title": "Discharge lounge", "goal": "7"})
    shown = card_text(admin.last_card()[1])
    assert "There is no goal 7. Nothing was recorded." in shown
    assert db.run_sync(lambda s: s.exec(select(ImprovementProject)).all()) == []


async def test_everyone_else_is_refused_and_every_refusal_is_audited(
    people: Any, db: Database
) -> None:
    _admin, nurse = people
    await nurse.say("matrix")
    assert "Only the improvement team can do that" in card_text(nurse.last_card()[1])
    forged = await nurse.execute("x", "alignment_aim_add", {"title": "Mine"})
    refusal = card_text(forged.body["value"])
    assert "Only the improvement team can do that" in refusal
    assert "Mine" in refusal, "what they typed is shown back to them"
    paged = await nurse.execute("x", "alignment_page", {"page": 2})
    assert "Only the improvement team can do that" in card_text(paged.body["value"])
    assert db.run_sync(lambda s: s.exec(select(StrategicAim)).all()) == []
    assert audit_log(db) == [
        ("alignment.view", False),
        ("alignment_aim_add", False),
        ("alignment_page", False),
    ]


async def test_malformed_card_data_changes_nothing(people: Any, db: Database) -> None:
    admin, _nurse = people
    result = await admin.execute("x", "alignment_page", {"page": "two"})
    assert "Nothing was changed" in card_text(result.body["value"])
    result = await admin.execute("x", "alignment_form", {"form": "everything"})
    assert "Nothing was changed" in card_text(result.body["value"])
    assert audit_log(db) == []
