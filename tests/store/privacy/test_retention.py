"""Retention, on SQLite and PostgreSQL, through the scheduled job's handler with a moved clock:
individual answers go IMPACT_RETENTION_DAYS after their round closes (the round's responses
stay counted), abandoned and superseded drafts after IMPACT_DRAFT_RETENTION_DAYS, message
payloads IMPACT_OUTBOX_RETENTION_DAYS after they were sent, export links once expired, charts
IMPACT_CHART_RETENTION_DAYS after they were drawn. A day early, each is still there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.config import Settings, load_settings
from framework.content import default_framework
from impact.features.privacy import PRIVACY, RETENTION, RetentionJobs, retention_step
from impact.service import CONTEXT_KEY, create_app
from store.assessments.tables import Answer, Assessment
from store.db import Database
from store.outbox import OutboxMessage
from store.privacy.retention import EMPTY_PAYLOAD, RetentionPolicy, purge
from store.privacy.tables import PersonalExportLink
from store.rounds.charts import ChartImage
from store.rounds.export_links import ExportLink
from store.rounds.frozen import frozen_results, results_of_closed_round
from store.rounds.tables import Round
from tests.conftest import Clock
from tests.store.privacy.world import NOW, build

pytestmark = pytest.mark.service

CLOSED = NOW + timedelta(days=14)
POLICY = RetentionPolicy(answer_days=365, draft_days=90, payload_days=30, chart_days=365)
FRAMEWORK = default_framework()


def close_round(db: Database, round_id: int) -> None:
    def close(session: Session) -> None:
        session.execute(
            sa.update(Round).where(col(Round.id) == round_id)
            .values(status="closed", closed_at=CLOSED)
        )  # fmt: skip
        # A chart drawn at the close (inserted as a row: its store functions are changing).
        session.add(ChartImage(token="c" * 32, png=b"\x89PNG chart", created_at=CLOSED))

    db.run_sync(close)


def counts(db: Database) -> dict[str, Any]:
    def read(session: Session) -> dict[str, Any]:
        def count(model: Any, *where: Any) -> int:
            return int(session.exec(select(sa.func.count()).select_from(model).where(*where)).one())

        round_assessments = select(Assessment.id).where(col(Assessment.round_id).is_not(None))
        payloads = session.exec(select(OutboxMessage.status, OutboxMessage.payload)).all()
        return {
            "round_answers": count(Answer, col(Answer.assessment_id).in_(round_assessments)),
            "submitted": count(Assessment, col(Assessment.status) == "submitted"),
            "statuses": sorted(set(session.exec(select(Assessment.status)).all())),
            "emptied": sorted(status for status, payload in payloads if payload == EMPTY_PAYLOAD),
            "links": count(ExportLink) + count(PersonalExportLink),
            "charts": count(ChartImage),
        }

    return db.run_sync(read)


def freeze(session: Session, round_id: int, now: datetime) -> object:
    return results_of_closed_round(
        session, round_id, framework=FRAMEWORK, min_group=5, min_comment_group=10, now=now
    )


async def run_job(db: Database, now: datetime) -> dict[str, Any]:
    await retention_step(db, POLICY, freeze)("", now)
    return counts(db)


async def test_each_kind_of_data_goes_when_its_time_is_up(db: Database) -> None:
    world = build(db)
    close_round(db, world.round_id)
    start = counts(db)
    assert start["round_answers"] == 8 * 22  # seven submissions and Nia's superseded one
    assert start["statuses"] == ["abandoned", "in_progress", "submitted", "superseded"]
    assert (start["links"], start["charts"], start["emptied"]) == (2, 1, [])

    # Export links expire after 15 minutes.
    soon = await run_job(db, NOW + timedelta(minutes=14))
    assert soon["links"] == 2
    assert (await run_job(db, NOW + timedelta(minutes=16)))["links"] == 0

    # Sent messages keep their payload 30 days; a pending one keeps it whatever its age.
    assert (await run_job(db, NOW + timedelta(days=29)))["emptied"] == []
    assert (await run_job(db, NOW + timedelta(days=31)))["emptied"] == ["sent", "sent"]

    # Drafts go after 90 days: abandoned and superseded ones. The open draft outside a round
    # stays (its owner may come back to it), and so does every submission.
    assert (await run_job(db, NOW + timedelta(days=89)))["statuses"] == start["statuses"]
    drafts = await run_job(db, NOW + timedelta(days=91))
    assert drafts["statuses"] == ["in_progress", "submitted"]
    assert drafts["round_answers"] == 7 * 22

    # Answers go 365 days after the round closed; the responses stay counted (the round's
    # results are frozen at close); the round's chart goes with them.
    kept = await run_job(db, CLOSED + timedelta(days=364))
    assert (kept["round_answers"], kept["charts"]) == (7 * 22, 1)
    gone = await run_job(db, CLOSED + timedelta(days=366))
    assert (gone["round_answers"], gone["submitted"], gone["charts"]) == (0, 7, 0)
    # The round was closed before results were frozen at the close: the job froze them first.
    assert db.run_sync(lambda s: frozen_results(s, world.round_id)) is not None


async def test_answers_a_closed_round_still_needs_are_kept_until_its_results_are_frozen(
    db: Database,
) -> None:
    world = build(db)
    close_round(db, world.round_id)
    late = CLOSED + timedelta(days=366)
    purged = db.run_sync(lambda s: purge(s, POLICY, late))  # no freezing first
    assert purged.answers == 0
    assert counts(db)["round_answers"] == 7 * 22  # only the superseded draft went, as a draft
    frozen = db.run_sync(lambda s: freeze(s, world.round_id, late))
    assert db.run_sync(lambda s: purge(s, POLICY, late)).answers == 7 * 22
    assert db.run_sync(lambda s: frozen_results(s, world.round_id)) == frozen


async def test_an_open_rounds_answers_are_never_deleted(db: Database) -> None:
    build(db)
    later = await run_job(db, NOW + timedelta(days=3650))
    assert later["round_answers"] == 7 * 22  # the round never closed (only drafts went)


def test_the_job_runs_hourly_and_its_days_are_settings() -> None:
    [job] = asyncio.run(RetentionJobs().desired_jobs(NOW))
    assert (job.id, job.name, job.every) == ("privacy:retention", RETENTION, timedelta(hours=1))
    settings = load_settings(
        IMPACT_RETENTION_DAYS="30", IMPACT_DRAFT_RETENTION_DAYS="7",
        IMPACT_OUTBOX_RETENTION_DAYS="2", IMPACT_CHART_RETENTION_DAYS="40",
    )  # fmt: skip
    assert settings.retention_policy() == RetentionPolicy(30, 7, 2, 40)
    assert load_settings().retention_policy() == RetentionPolicy(365, 90, 30, 365)


async def test_an_unsubmitted_draft_of_an_ended_round_goes_after_the_draft_days(
    db: Database,
) -> None:
    world = build(db)
    db.run_sync(lambda s: s.execute(
        sa.update(Assessment).where(col(Assessment.status) == "in_progress")
        .values(round_id=world.round_id)
    ))  # fmt: skip
    assert "in_progress" in (await run_job(db, NOW + timedelta(days=91)))["statuses"]  # still open
    close_round(db, world.round_id)
    assert "in_progress" not in (await run_job(db, NOW + timedelta(days=91)))["statuses"]


async def test_the_privacy_feature_schedules_the_job_with_the_settings(
    db: Database, settings_factory: Callable[..., Settings], clock: Clock
) -> None:
    world = build(db)
    close_round(db, world.round_id)
    app = create_app(settings_factory(retention_days=30), db=db, clock=clock)
    work = PRIVACY.jobs(app[CONTEXT_KEY]) if PRIVACY.jobs else None
    assert work is not None
    assert [job.id for job in await work.source.desired_jobs(NOW)] == ["privacy:retention"]
    await work.handlers[RETENTION]("", CLOSED + timedelta(days=29))
    assert counts(db)["round_answers"] == 8 * 22
    await work.handlers[RETENTION]("", CLOSED + timedelta(days=31))
    assert counts(db)["round_answers"] == 0  # IMPACT_RETENTION_DAYS=30, not the default 365
