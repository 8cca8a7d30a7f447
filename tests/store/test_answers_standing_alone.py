"""An answer on PostgreSQL in statements that stand alone (AssessmentService.act,
AssessmentStore.act_alone): the read, then one statement that moves the assessment on, records
the answer and checks, under the round's lock, that the round is open. No BEGIN or COMMIT; and
every guarantee of the transaction it replaces still holds: two presses of one card record
once, and an answer and a close of its round are ordered (the answer counted, or refused)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, col, select

from assessment.rules import Back, Choose, ChooseLevel, Decision, Refusal, Refused, Submit
from assessment.service import AssessmentService
from framework.identity import Identity
from store.assessments.tables import Answer, Assessment
from store.db import Database
from store.rounds.tables import Round
from tests.store.rounds.test_results import FRAMEWORK, NOW, TeamMember, World

pytestmark = pytest.mark.service


@pytest.fixture
def postgres(db: Database) -> Database:
    if not db.statements_stand_alone:
        pytest.skip("SQLite: an answer is one transaction on the one writer (BEGIN IMMEDIATE)")
    return db


def in_open_round(db: Database) -> tuple[Identity, int, int]:
    """A person in an open round, on question 1 of an assessment with nothing recorded."""
    world = World(db)
    built = world.round([TeamMember(("ward-a",), status="in_progress")])
    who = Identity("tenant-1", f"29:person-{world.people}", None, f"Person {world.people}")

    def start_afresh(session: Session) -> int:
        session.execute(sa.update(Round).values(status="open", closed_at=None))
        session.execute(sa.delete(Answer))
        session.execute(sa.update(Assessment).values(position=1, revision=1))
        return int(session.exec(select(Assessment.id)).one())  # type: ignore[arg-type]

    return who, built.round_id, db.run_sync(start_afresh)


def stored(db: Database) -> tuple[list[tuple[int, int | None]], int]:
    def read(session: Session) -> tuple[list[tuple[int, int | None]], int]:
        answers = session.exec(select(Answer.question_number, Answer.level)).all()
        revision = session.exec(select(Assessment.revision)).one()
        return [(n, level) for n, level in answers], revision

    return db.run_sync(read)


@pytest.fixture
def statements(postgres: Database) -> Iterator[list[tuple[str, bool]]]:
    """Every statement sent from now on, and whether its connection was in autocommit (psycopg
    then sends no BEGIN before it and no COMMIT after)."""
    seen: list[tuple[str, bool]] = []

    def before(connection: sa.Connection, _cursor: Any, text: str, *_rest: Any) -> None:
        seen.append((text, bool(connection.connection.dbapi_connection.autocommit)))  # type: ignore[union-attr]

    event.listen(postgres.engine, "before_cursor_execute", before)
    yield seen
    event.remove(postgres.engine, "before_cursor_execute", before)


@pytest.fixture
def answering(
    postgres: Database, statements: list[tuple[str, bool]]
) -> tuple[Identity, int, AssessmentService]:
    """A person in an open round, their assessment, and the service, with no statement seen."""
    who, _round_id, aid = in_open_round(postgres)
    statements.clear()
    return who, aid, AssessmentService(postgres, FRAMEWORK, lambda: NOW)


async def test_an_answer_in_a_round_is_two_statements_outside_any_transaction(
    postgres: Database,
    statements: list[tuple[str, bool]],
    answering: tuple[Identity, int, AssessmentService],
) -> None:
    who, aid, service = answering
    outcome = await service.act(who, aid, ChooseLevel(1, 4, "a comment", token=1))
    assert isinstance(outcome.result, Decision)
    assert [autocommit for _text, autocommit in statements] == [True, True]
    assert "FOR SHARE" in statements[1][0], "the round's check, under its lock"
    assert stored(postgres) == ([(1, 4)], 2)
    statements.clear()
    outcome = await service.act(who, aid, Back(2, token=2))  # nothing recorded: one statement
    assert isinstance(outcome.result, Decision)
    assert [autocommit for _text, autocommit in statements] == [True, True]
    assert outcome.snapshot is not None
    assert outcome.snapshot.position == 1


async def test_a_tap_on_a_level_is_one_statement_outside_any_transaction(
    statements: list[tuple[str, bool]], answering: tuple[Identity, int, AssessmentService]
) -> None:
    """Choosing a level (before every Next) writes nothing: one read, standing alone."""
    who, aid, service = answering
    refusal, snapshot = await service.choose(who, aid, Choose(1, 3, token=1))
    assert refusal is None
    assert snapshot is not None
    assert [autocommit for _text, autocommit in statements] == [True]
    refusal, _snapshot = await service.choose(who, aid, Choose(2, 3, token=1))
    assert refusal == Refused(Refusal.STALE, 2), "judged as before"


async def test_a_submit_is_written_in_a_transaction(
    postgres: Database,
    statements: list[tuple[str, bool]],
    answering: tuple[Identity, int, AssessmentService],
) -> None:
    """The submit writes more (the assessment, older submissions superseded, nudges cancelled):
    after the read that decides so, it runs as `act` does, in one transaction."""
    who, aid, service = answering
    await service.act(who, aid, ChooseLevel(1, 4, None, token=1))
    at_the_review = sa.update(Assessment).values(position=FRAMEWORK.question_count + 1)
    postgres.run_sync(lambda s: s.execute(at_the_review))
    statements.clear()
    outcome = await service.act(who, aid, Submit(token=2, confirmed=True))
    assert isinstance(outcome.result, Decision), outcome.result
    assert statements[0][1] is True, "the read that decides"
    assert not any(autocommit for _text, autocommit in statements[1:]), "then a transaction"
    status = postgres.run_sync(lambda s: s.exec(select(Assessment.status)).one())
    assert status == "submitted"


async def test_two_presses_of_one_card_at_once_record_once(postgres: Database) -> None:
    """Both read revision 1 before either writes (a barrier in the clock holds them there); the
    compare-and-set lets one through, and the other is refused on what the first stored."""
    who, _round_id, aid = in_open_round(postgres)
    barrier = threading.Barrier(2, timeout=10)

    def clock() -> datetime:
        barrier.wait()
        return NOW

    service = AssessmentService(postgres, FRAMEWORK, clock)
    outcomes = await asyncio.gather(
        *(service.act(who, aid, ChooseLevel(1, level, None, token=1)) for level in (2, 5))
    )
    results = [outcome.result for outcome in outcomes]
    decisions = [r for r in results if isinstance(r, Decision)]
    assert len(decisions) == 1
    assert [r for r in results if isinstance(r, Refused)] == [Refused(Refusal.STALE, 1)]
    assert decisions[0].record is not None
    assert stored(postgres) == ([(1, decisions[0].record.level)], 2)


def closing_on_the_clock(db: Database, round_id: int) -> Callable[[], datetime]:
    """A clock that, when the answer asks it the time (after its read, before its write),
    closes the round and commits."""

    def clock() -> datetime:
        with db.engine.begin() as connection:
            connection.execute(
                sa.update(Round).where(col(Round.id) == round_id).values(status="closed")
            )
        return NOW

    return clock


async def test_a_round_closed_between_the_read_and_the_write_refuses_the_answer(
    postgres: Database,
) -> None:
    who, round_id, aid = in_open_round(postgres)
    service = AssessmentService(postgres, FRAMEWORK, closing_on_the_clock(postgres, round_id))
    outcome = await service.act(who, aid, ChooseLevel(1, 4, None, token=1))
    assert outcome.result == Refused(Refusal.ROUND_OVER, 1)
    assert stored(postgres) == ([], 1), "nothing written"


@pytest.mark.parametrize("close", ["commits", "rolls back"])
async def test_an_answer_waits_for_a_close_under_way(postgres: Database, close: str) -> None:
    """A close has updated the round's row and not yet committed when the answer writes: the
    answer's statement waits for the round's lock, then is refused if the close committed, or
    recorded if it rolled back. Never recorded in a round that closed before it."""
    who, round_id, aid = in_open_round(postgres)
    closing, answering = threading.Event(), threading.Event()
    ended_at: list[float] = []

    def close_under_way() -> None:
        with postgres.engine.connect() as connection:
            connection.execute(
                sa.update(Round).where(col(Round.id) == round_id).values(status="closed")
            )
            closing.set()
            assert answering.wait(timeout=10)
            time.sleep(0.3)  # the answer's statement is waiting for the round's row meanwhile
            ended_at.append(time.monotonic())
            connection.commit() if close == "commits" else connection.rollback()

    def clock() -> datetime:
        answering.set()
        return NOW

    closer = threading.Thread(target=close_under_way)
    closer.start()
    assert await asyncio.to_thread(closing.wait, 10)
    service = AssessmentService(postgres, FRAMEWORK, clock)
    outcome = await service.act(who, aid, ChooseLevel(1, 4, None, token=1))
    answered_at = time.monotonic()
    closer.join(timeout=10)
    assert answered_at > ended_at[0], "it waited for the close"
    if close == "commits":
        assert outcome.result == Refused(Refusal.ROUND_OVER, 1)
        assert stored(postgres) == ([], 1)
    else:
        assert isinstance(outcome.result, Decision)
        assert stored(postgres) == ([(1, 4)], 2)
