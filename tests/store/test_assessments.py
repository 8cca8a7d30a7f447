"""Storage on SQLite and PostgreSQL: migrations are the schema, and concurrent changes to one
assessment can never both be recorded."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

import store.tables  # noqa: F401  (tables on the metadata)
from assessment.rules import Back, ChooseLevel, Decision, Refusal, Refused
from framework.content import default_framework
from framework.identity import Identity
from store.assessments.aggregate import AssessmentStore
from store.assessments.tables import Answer, Assessment
from store.db import Database
from store.schema import EXTERNAL_TABLES, downgrade, head_revision, schema_status, upgrade

pytestmark = pytest.mark.service

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ALEX = Identity("tenant-1", "29:alex", "aad-alex", "Alex Morgan")


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": lambda _o, name, kind, *_a: name not in EXTERNAL_TABLES},
        )
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_migrations_go_down_and_up_again(db: Database) -> None:
    assert schema_status(db.engine).is_current
    downgrade(db.engine, "base")
    status = schema_status(db.engine)
    assert status.current is None
    assert "impact-bot db upgrade" in status.describe()
    assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
    upgrade(db.engine)
    assert schema_status(db.engine).current == head_revision()


def test_at_most_one_open_assessment_per_person_is_enforced_by_the_database(db: Database) -> None:
    store_ = AssessmentStore(default_framework(), lambda: NOW)
    snapshot = db.run_sync(lambda s: store_.start_or_resume(s, ALEX))

    def second_open(session: Any) -> None:
        session.add(
            Assessment(
                person_id=snapshot.person_id,
                framework_id=default_framework().id,
                framework_version="1",
                status="in_progress",
                started_at=NOW,
                updated_at=NOW,
            )
        )
        session.flush()

    with pytest.raises(sa.exc.IntegrityError):
        db.run_sync(second_open)


def test_double_start_from_two_connections_makes_one_assessment(
    database_url: str, db: Database
) -> None:
    """Two service processes (two Databases) handling a double-tapped Start at once."""
    framework = default_framework()
    others = [Database(database_url, pool_size=2) for _ in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            results = list(
                pool.map(
                    lambda d: d.run_sync(
                        lambda s: AssessmentStore(framework, lambda: NOW).start_or_resume(s, ALEX)
                    ),
                    others,
                )
            )
    finally:
        for other in others:
            other.dispose()
    assert results[0].assessment_id == results[1].assessment_id

    def count(session: Any) -> int:
        return session.exec(select(sa.func.count()).select_from(Assessment)).one()

    assert db.run_sync(count) == 1


def test_racing_answers_on_the_same_card_record_once(database_url: str, db: Database) -> None:
    """Both transactions read the same revision before either writes (a barrier in the clock
    holds them there); the compare-and-set lets exactly one through."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer (BEGIN IMMEDIATE): transactions cannot interleave")
    framework = default_framework()
    snapshot = db.run_sync(
        lambda s: AssessmentStore(framework, lambda: NOW).start_or_resume(s, ALEX)
    )
    barrier = threading.Barrier(2, timeout=10)

    def clock() -> datetime:
        barrier.wait()
        return NOW

    def answer(level: int) -> Decision | Refused:
        store_ = AssessmentStore(framework, clock)
        command = ChooseLevel(1, level, None, token=snapshot.revision)
        return db.run_sync(lambda s: store_.act(s, ALEX, snapshot.assessment_id, command).result)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(answer, [2, 5]))
    decisions = [r for r in results if isinstance(r, Decision)]
    refusals = [r for r in results if isinstance(r, Refused)]
    assert len(decisions) == 1
    assert refusals == [Refused(Refusal.STALE, 1)]

    def stored(session: Any) -> list[tuple[int, int | None]]:
        return list(session.exec(select(Answer.question_number, Answer.level)).all())

    assert db.run_sync(stored) == [(1, decisions[0].record.level)]  # type: ignore[union-attr]


def test_racing_changes_of_an_answer_record_once(database_url: str, db: Database) -> None:
    """As above, for an answer recorded before (Back to it, then two changes at once): exactly
    one change is stored, and the answer's revision counts it once."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer (BEGIN IMMEDIATE): transactions cannot interleave")
    framework = default_framework()
    store_ = AssessmentStore(framework, lambda: NOW)
    snapshot = db.run_sync(lambda s: store_.start_or_resume(s, ALEX))
    aid = snapshot.assessment_id
    first = ChooseLevel(1, 3, None, snapshot.revision)
    db.run_sync(lambda s: store_.act(s, ALEX, aid, first))
    back = Back(2, snapshot.revision + 1)
    db.run_sync(lambda s: store_.act(s, ALEX, aid, back))
    barrier = threading.Barrier(2, timeout=10)

    def clock() -> datetime:
        barrier.wait()
        return NOW

    def change(level: int) -> Decision | Refused:
        racing = AssessmentStore(framework, clock)
        command = ChooseLevel(1, level, "changed", token=snapshot.revision + 2)
        return db.run_sync(lambda s: racing.act(s, ALEX, aid, command).result)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(change, [2, 5]))
    decisions = [r for r in results if isinstance(r, Decision)]
    assert len(decisions) == 1
    assert [r for r in results if isinstance(r, Refused)] == [Refused(Refusal.STALE, 1)]

    def stored(session: Any) -> list[tuple[Any, ...]]:
        table = Answer.__table__  # type: ignore[attr-defined]
        columns = (table.c.question_number, table.c.level, table.c.comment, table.c.revision)
        return [tuple(row) for row in session.execute(sa.select(*columns)).all()]

    level = decisions[0].record.level  # type: ignore[union-attr]
    assert db.run_sync(stored) == [(1, level, "changed", 2)]


def test_answers_record_the_framework_version(db: Database) -> None:
    framework = default_framework()
    store_ = AssessmentStore(framework, lambda: NOW)
    snapshot = db.run_sync(lambda s: store_.start_or_resume(s, ALEX))
    db.run_sync(
        lambda s: store_.act(
            s, ALEX, snapshot.assessment_id, ChooseLevel(1, 3, None, snapshot.revision)
        )
    )

    def read(session: Any) -> tuple[str, str, str]:
        assessment = session.get(Assessment, snapshot.assessment_id)
        answer = session.exec(select(Answer)).one()
        return assessment.framework_id, assessment.framework_version, answer.question_id

    assert db.run_sync(read) == (framework.id, framework.version, "q01")
