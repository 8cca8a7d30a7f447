"""Huddle items as stored, on SQLite and PostgreSQL: a double-tapped Save records one item, a
change applies once per revision, and the seam strategic alignment reads ideas through."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from framework.identity import Identity
from huddles.rules.items import ItemKind
from store.db import Database
from store.huddles.items import NewItem, add_item, change_item, ideas_for_alignment, item_row
from store.people import ensure_person
from store.teams import TeamInstall, record_install

pytestmark = pytest.mark.service

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def team_and_person(session: Any, team_id: str, name: str) -> tuple[int, int]:
    team = record_install(
        session, TeamInstall("t", team_id, None, name, team_id, "https://x/", "{}"), NOW
    )
    person = ensure_person(session, Identity("t", "29:nia", None, "Nia Nurse"), NOW)
    assert team.id is not None
    assert person.id is not None
    return team.id, person.id


def test_an_item_is_added_once_per_capture_key_and_changed_once_per_revision(
    db: Database,
) -> None:
    def work(session: Any) -> tuple[int | None, int | None, bool, bool, str]:
        team, nia = team_and_person(session, "19:w", "Ward 7")
        new = NewItem(team, None, ItemKind.ACTION, "Order pads", nia, nia, NOW.date(), "key-1")
        first, again = add_item(session, new, NOW), add_item(session, new, NOW)
        assert first is not None
        done = change_item(session, first, 0, NOW, status="done")
        stale = change_item(session, first, 0, NOW, status="open")
        row = item_row(session, first)
        assert row is not None
        return first, again, done, stale, row.status

    first, again, done, stale, status = db.run_sync(work)
    assert (again, done, stale, status) == (None, True, False, "done")
    assert first is not None


def test_strategic_alignment_reads_every_idea_with_its_team_and_status(db: Database) -> None:
    def work(session: Any) -> list[tuple[int, str, str, str]]:
        ward, nia = team_and_person(session, "19:w", "Ward 7")
        icu, _ = team_and_person(session, "19:i", "Critical care")
        for team, kind, text in ((ward, ItemKind.IDEA, "Quiet hour"),
                                 (ward, ItemKind.ACTION, "Not an idea"),
                                 (icu, ItemKind.IDEA, "Early mobility")):  # fmt: skip
            add_item(session, NewItem(team, None, kind, text, nia, nia), NOW)
        return ideas_for_alignment(session)

    ideas = db.run_sync(work)
    assert [(title, team, status) for _id, title, team, status in ideas] == [
        ("Early mobility", "Critical care", "new"),
        ("Quiet hour", "Ward 7", "new"),
    ]
    assert all(isinstance(idea_id, int) for idea_id, *_rest in ideas)
