"""Huddles' personal data (store.huddles.personal), on SQLite and PostgreSQL: everything about
one person is exported, and erasing them removes their attendance and lead naming and takes
their name off the team's items, which stay as the team's record."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from sqlmodel import select

from framework.identity import Identity
from huddles.rules.items import ItemKind
from store.db import Database
from store.huddles.items import NewItem, add_item
from store.huddles.occurrences import Claim, add_attendance, claim
from store.huddles.personal import HUDDLES
from store.huddles.schedules import ScheduleSpec, add_lead, create_schedule
from store.huddles.tables import HuddleAttendance, HuddleItem, HuddleLead
from store.people import ensure_person
from store.teams import TeamInstall, record_install

pytestmark = pytest.mark.service

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
NIA = Identity("tenant", "29:nia", "aad-nia", "Nia Nurse")
SAM = Identity("tenant", "29:sam", "aad-sam", "Sam Lead")
WARD = "19:ward7@thread.tacv2"


def a_huddle_with_nia(session: Any) -> tuple[int, int]:
    team = record_install(
        session, TeamInstall("tenant", WARD, None, "Ward 7", WARD, "https://x/", "{}"), NOW
    )
    assert team.id is not None
    spec = ScheduleSpec(WARD, "Morning", "safety", frozenset({3}), time(8, 30), "Europe/London")
    schedule = create_schedule(session, spec, actor="test", now=NOW)
    assert schedule.id is not None
    huddle = claim(session, Claim(schedule.id, team.id, date(2026, 11, 26), 0, NOW, WARD, "k"), NOW)
    assert huddle is not None
    nia, sam = ensure_person(session, NIA, NOW), ensure_person(session, SAM, NOW)
    assert nia.id is not None
    assert sam.id is not None
    add_attendance(session, huddle, nia.id, NOW)
    add_attendance(session, huddle, sam.id, NOW)
    add_item(session, NewItem(team.id, huddle, ItemKind.IDEA, "Quiet hour", nia.id, nia.id), NOW)
    add_item(session, NewItem(team.id, huddle, ItemKind.IDEA, "Tea rota", sam.id, sam.id), NOW)
    add_lead(session, WARD, "aad-nia", actor="cli:test", now=NOW)
    return nia.id, sam.id


def test_one_persons_huddle_data_is_exported_and_erased(db: Database) -> None:
    nia, sam = db.run_sync(a_huddle_with_nia)
    exported = db.run_sync(lambda s: HUDDLES.export(s, nia))
    assert [row["person_id"] for row in exported["huddle_attendance"]] == [nia]
    assert [row["text"] for row in exported["huddle_items"]] == ["Quiet hour"]
    assert len(exported["huddle_lead_of"]) == 1
    db.run_sync(lambda s: HUDDLES.erase(s, nia))

    def left(session: Any) -> tuple[list[int], list[tuple[str, int | None]], int]:
        attendance = [a.person_id for a in session.exec(select(HuddleAttendance)).all()]
        items = [(i.text, i.raised_by) for i in session.exec(select(HuddleItem)).all()]
        return attendance, sorted(items), len(session.exec(select(HuddleLead)).all())

    assert db.run_sync(left) == ([sam], [("Quiet hour", None), ("Tea rota", sam)], 0)
    assert db.run_sync(lambda s: HUDDLES.export(s, nia)) == {
        "huddle_attendance": [], "huddle_items": [], "huddles_recorded": [], "huddle_lead_of": [],
    }  # fmt: skip
