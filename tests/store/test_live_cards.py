"""The live card swap on SQLite and PostgreSQL: every swap returns the card it replaced, also
when two swaps for one person race (on PostgreSQL each is one statement, in autocommit)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from assessment.service import AssessmentService
from framework.content import default_framework
from framework.identity import Identity
from store.assessments.live_cards import ShownCard, swap_live_card
from store.db import Database

pytestmark = pytest.mark.service

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
ALEX = Identity("tenant-1", "29:alex", "aad-alex", "Alex Morgan")


async def _alex(db: Database) -> tuple[AssessmentService, int, int]:
    service = AssessmentService(db, default_framework(), lambda: NOW)
    snapshot = await service.start_or_resume(ALEX)
    return service, snapshot.person_id, snapshot.assessment_id


async def test_each_swap_returns_the_card_it_replaced(db: Database) -> None:
    service, person, aid = await _alex(db)
    first, second, third = (ShownCard(f"act-{n}", aid, n) for n in (1, 2, 3))

    assert await service.swap_live_card(person, first) is None
    assert await service.swap_live_card(person, second) == first
    assert await service.live_card(person) == second
    assert await service.swap_live_card(person, None) == second
    assert await service.live_card(person) is None
    assert await service.swap_live_card(person, None) is None
    assert await service.swap_live_card(person, third) is None
    assert await service.live_card(person) == third


@pytest.mark.parametrize("existing", [True, False], ids=["replacing", "first-card"])
async def test_a_swap_racing_another_returns_the_card_the_other_wrote(
    db: Database, existing: bool
) -> None:
    """The first swap holds its transaction open (its row locked, or its first card inserted
    and not yet committed); the second, in autocommit, waits for it, then replaces the card
    the first wrote and returns it: no card is left live without a swap knowing of it."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer (BEGIN IMMEDIATE): swaps cannot interleave")
    service, person, aid = await _alex(db)
    original, held, racing = (ShownCard(f"act-{n}", aid, n) for n in (1, 2, 3))
    if existing:
        await service.swap_live_card(person, original)
    swapped, release = threading.Event(), threading.Event()

    def swap_and_hold(session: Session) -> ShownCard | None:
        replaced = swap_live_card(session.connection(), person, held, NOW)
        swapped.set()
        assert release.wait(10)
        return replaced

    holder = asyncio.get_running_loop().run_in_executor(None, db.run_sync, swap_and_hold)
    await _until(swapped.is_set)
    racer = asyncio.ensure_future(service.swap_live_card(person, racing))
    await _until(lambda: _backends_waiting_for_a_lock(db) == 1)
    release.set()

    assert await holder == (original if existing else None)
    assert await racer == held
    assert await service.live_card(person) == racing


def _backends_waiting_for_a_lock(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(
            connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    ends = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < ends, "timed out waiting for the condition"
        await asyncio.sleep(0.01)
