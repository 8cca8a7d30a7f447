"""Fault: a time at a DST change typed into the improvement team's round form. Outcome: the card
says why it was refused and nothing is created (audited as tried); real service, SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from store.db import Database
from store.rounds.tables import Round
from tests.bot.dialogs.test_rounds_admin import WARD, audit_log, people
from tests.fakes.teams_client import card_text

pytestmark = pytest.mark.service

__all__ = ["people"]


@pytest.mark.parametrize(
    ("opens", "closes", "says"),
    [
        ("2027-03-28T01:30", "2027-04-09", "2027-03-28 01:30 does not exist in Europe/London"),
        ("2027-10-01", "2027-10-31T01:15", "2027-10-31 01:15 happens twice in Europe/London"),
    ],
)
async def test_a_time_at_a_dst_change_is_refused_on_the_card(
    people: Any, db: Database, opens: str, closes: str, says: str
) -> None:
    admin, _nurse = people
    await admin.say("new round")
    await admin.press(
        "Create round",
        {"name": "Spring 2027", "teams": WARD, "opens": opens, "closes": closes},
    )
    notice = card_text(admin.cards()[-2][1])
    assert says in notice
    assert "Nothing was created." in notice
    assert db.run_sync(lambda s: list(s.exec(select(Round)).all())) == []
    assert ("round_create", True) in audit_log(db)
