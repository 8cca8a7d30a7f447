"""The opener queues invitations only so far ahead of the sender (`Lead`): the sender sends at
Teams' limits, so a whole trust's invitations queued in the first seconds only took the cores
from the answers meanwhile (issue 13). A sender that has stopped slows the queuing down and
does not stop it; a nudge tick does not queue a round its opener is still queuing. On SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from rounds.services.opening import Lead, RoundOpener
from store.db import Database
from store.outbox import OutboxMessage, due_backlog
from tests.rounds.services import test_steps_at_scale as at_scale
from tests.rounds.services.test_steps_at_scale import TEAMS, WEDNESDAY, World, batches

pytestmark = pytest.mark.service
world = at_scale.world  # the fixture: the service on a fresh database, two teams installed

PEOPLE = 40


def send_one(session: Session) -> int:
    """What the sender does to the oldest pending message, as far as the outbox can tell."""
    oldest = session.exec(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending")
        .order_by(col(OutboxMessage.id))
        .limit(1)
    ).first()
    if oldest is None:
        return 0
    session.execute(
        sa.update(OutboxMessage).where(col(OutboxMessage.id) == oldest).values(status="sent")
    )
    return 1


async def a_sender(db: Database, every: float) -> None:
    """A sender slower than the opener: one message every `every` seconds."""
    while True:
        await db.run(send_one)
        await asyncio.sleep(every)


def backlog_after_each_look(opener: RoundOpener, db: Database) -> list[int]:
    """The due backlog each time the opener has decided to queue its next batch."""
    seen: list[int] = []
    look = opener.within_lead

    async def looked(now: datetime) -> None:
        await look(now)
        seen.append(db.run_sync(functools.partial(due_backlog, now=now, at_most=10_000)))

    opener.within_lead = looked  # type: ignore[method-assign]
    return seen


def invitations(db: Database) -> list[Any]:
    return db.run_sync(
        lambda s: s.exec(
            select(OutboxMessage.dedupe_key).where(OutboxMessage.kind == "invitation")
        ).all()
    )


async def queued_at_least(db: Database, count: int, *, within: float = 30.0) -> None:
    """Wait until `count` invitations are in the outbox (polled: nothing to wait on there)."""
    for _ in range(int(within / 0.005)):
        if len(invitations(db)) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"fewer than {count} invitations queued within {within} s")


async def test_the_opener_queues_only_so_far_ahead_of_the_sender(world: World) -> None:
    batches(world.steps, 5)
    world.new_round(TEAMS[1], 0, PEOPLE)
    opener = world.steps.opener
    opener.lead = Lead(messages=10, look_every=0.005, longest_wait=60.0)
    backlogs = backlog_after_each_look(opener, world.db)
    sending = asyncio.ensure_future(a_sender(world.db, every=0.01))
    try:
        [result] = await opener.open_due(WEDNESDAY)
    finally:
        sending.cancel()
    assert result.invited == PEOPLE
    assert len(backlogs) >= PEOPLE // 5, "a look before every batch"
    # A batch is drawn while the one before it is written, which the look may not have seen:
    # fewer than 10 + 5 are waiting (without the lead, the opener runs 35 ahead).
    assert max(backlogs) < 10 + 5, backlogs
    assert len(invitations(world.db)) == PEOPLE


async def test_a_sender_that_has_stopped_slows_the_opening_down_and_does_not_stop_it(
    world: World,
) -> None:
    batches(world.steps, 5)
    world.new_round(TEAMS[1], 0, PEOPLE)
    opener = world.steps.opener
    opener.lead = Lead(messages=10, look_every=0.005, longest_wait=0.2)
    started = time.monotonic()
    [result] = await opener.open_due(WEDNESDAY)
    assert result.invited == PEOPLE
    assert len(invitations(world.db)) == PEOPLE
    # From the third batch on (10 queued, nothing sent) each waited its longest wait.
    assert time.monotonic() - started >= 0.2 * (PEOPLE // 5 - 2)


async def test_a_nudge_tick_leaves_a_round_to_the_opener_still_queuing_it(world: World) -> None:
    batches(world.steps, 5)
    world.new_round(TEAMS[1], 0, PEOPLE)
    opener = world.steps.opener
    opener.lead = Lead(messages=10, look_every=0.005, longest_wait=60.0)
    opening = asyncio.ensure_future(opener.open_due(WEDNESDAY))
    # Nothing is sent, so once 10 are queued the opener waits at its next look. Watched in the
    # outbox, not at the look's start: a batch written during a look counts for that look.
    await queued_at_least(world.db, 10)
    await asyncio.sleep(0.05)
    assert not opening.done(), "the opener waits for the sender"
    assert await opener.invite_waiting(WEDNESDAY) == 0, "the opener's own round"
    sending = asyncio.ensure_future(a_sender(world.db, every=0.002))
    try:
        [result] = await opening
    finally:
        sending.cancel()
    assert result.invited == PEOPLE
    assert await opener.invite_waiting(WEDNESDAY) == 0, "nobody left"
    keys = invitations(world.db)
    assert len(keys) == len(set(keys)) == PEOPLE
