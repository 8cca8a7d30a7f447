"""store.rounds.steps.record_nudges: the compare-and-set of a batch's decisions, on both
databases (on SQLite the read and the update are one statement each, through JSON)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from framework.content import default_framework
from framework.identity import TeamMember
from store.db import Database
from store.outbox import OutboxMessage, Queued, Target
from store.rounds.lifecycle import RoundSpec, create_round
from store.rounds.opening import RosterEntry, freeze_people
from store.rounds.steps import NudgeOutcome, record_nudges
from store.rounds.tables import RoundParticipant
from store.teams import Team

pytestmark = pytest.mark.service

NOW = datetime(2026, 11, 30, 9, 15, 30, 123456, tzinfo=UTC)  # microseconds kept as stored
DUE = NOW + timedelta(days=3, microseconds=7)


def _round_with_people(session: Session, people: int) -> list[RoundParticipant]:
    team = Team(
        tenant_id="t", team_id="19:a@thread.tacv2", name="A", channel_conversation_id="19:a",
        service_url="https://smba.example/", reference="{}", updated_at=NOW,
    )  # fmt: skip
    session.add(team)
    session.flush()
    spec = RoundSpec("R", ("19:a@thread.tacv2",), NOW, NOW + timedelta(days=14), "3d")
    round_ = create_round(session, spec, framework=default_framework(), actor="b", now=NOW)
    assert team.id is not None
    assert round_.id is not None
    entries = [
        RosterEntry(TeamMember(f"29:u{n}", f"aad-{n}", f"P {n}", "t"), ((team.id, "user"),))
        for n in range(people)
    ]
    freeze_people(session, round_.id, entries, NOW)
    session.execute(
        sa.update(RoundParticipant)
        .where(RoundParticipant.round_id == round_.id)  # type: ignore[arg-type]
        .values(next_nudge_at=DUE)
    )
    return list(session.exec(select(RoundParticipant).order_by(RoundParticipant.id)).all())  # type: ignore[arg-type]


def _outcome(participant: RoundParticipant, was: datetime) -> NudgeOutcome:
    assert participant.id is not None
    message = Queued(
        dedupe_key=f"round:{participant.round_id}:nudge:person:{participant.person_id}:1",
        kind="nudge",
        tenant_id="t",
        target=Target(
            service_url="https://smba.example/",
            user_id=f"29:p{participant.person_id}",
            tenant_id="t",
            bot_id="28:b",
        ),
        activity_json='{"type":"message","text":"a reminder"}',
        person_id=participant.person_id,
        round_id=participant.round_id,
    )
    return NudgeOutcome(
        participant.id, was, 1, DUE, DUE + timedelta(days=2, microseconds=1), message
    )


async def test_only_those_still_due_at_the_decisions_time_are_nudged_and_moved_on(
    db: Database,
) -> None:
    participants = await db.run(lambda s: _round_with_people(s, 5))
    outcomes = [_outcome(p, DUE) for p in participants[:4]]
    # the fourth changed since the read (a snooze): its decision was made from another time
    outcomes[3] = _outcome(participants[3], DUE - timedelta(hours=1))

    queued = await db.run(lambda s: record_nudges(s, outcomes, NOW))

    assert queued == 3
    rows = await db.run(
        lambda s: {
            p.id: (p.nudges_sent, p.last_nudged_at, p.next_nudge_at)
            for p in s.exec(select(RoundParticipant)).all()
        }
    )
    for participant in participants[:3]:
        assert rows[participant.id] == (1, DUE, DUE + timedelta(days=2, microseconds=1))
    for participant in participants[3:]:  # the stale decision and the one not in the batch
        assert rows[participant.id] == (0, None, DUE)
    keys = await db.run(lambda s: sorted(m.dedupe_key for m in s.exec(select(OutboxMessage))))
    assert len(keys) == 3
    # asked again with the same decisions: nobody is still at the old time, nothing is queued
    assert await db.run(lambda s: record_nudges(s, outcomes, NOW)) == 0


async def test_on_postgresql_the_update_itself_compares_and_sets(db: Database) -> None:
    """Two statements a batch: the UPDATE, which compares and returns whom it moved on, then
    those people's nudges; no read of the times first (a round trip a part of every tick)."""
    if db.is_sqlite:
        pytest.skip("SQLite reads the times first: RETURNING would hand the GIL over per row")
    participants = await db.run(lambda s: _round_with_people(s, 3))
    outcomes = [_outcome(p, DUE) for p in participants]
    outcomes[1] = _outcome(participants[1], DUE - timedelta(hours=1))  # a stale decision
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]).lstrip().split()[0].upper())

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        queued = await db.run(lambda s: record_nudges(s, outcomes, NOW))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert queued == 2
    assert [s for s in statements if s in {"SELECT", "UPDATE", "INSERT"}] == ["UPDATE", "INSERT"]
