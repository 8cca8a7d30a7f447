"""Retention: what is deleted, and when (docs/privacy.md, "How long"). Each function takes the
time as an argument (the scheduled job passes its clock, tests a moved one) and deletes in the
caller's transaction, returning how many rows it changed.

- individual answers, `answer_days` after their round closed (the round's results are frozen at
  close and stay: only the answers behind them go);
- drafts: abandoned and superseded assessments, and unsubmitted ones of a round that has
  ended, `draft_days` after they were last changed;
- the payload of a proactive message (the card, the person's Teams id), `payload_days` after
  it was sent, failed or cancelled (the row stays, so the message can never be queued again);
- export links once expired;
- chart images `chart_days` after they were rendered (a chart is rendered at its round's close).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from store.assessments.tables import Answer, Assessment, LiveCard
from store.outbox import OutboxMessage
from store.privacy.tables import PersonalExportLink
from store.rounds.charts import ChartImage
from store.rounds.export_links import ExportLink
from store.rounds.frozen import results_frozen
from store.rounds.tables import Round, RoundParticipant

EMPTY_PAYLOAD = "{}"
DONE_STATUSES = ("sent", "failed", "cancelled")
DRAFT_STATUSES = ("abandoned", "superseded")
ENDED_ROUNDS = ("closed", "cancelled")

_answers: sa.Table = Answer.__table__  # type: ignore[attr-defined]
_assessments: sa.Table = Assessment.__table__  # type: ignore[attr-defined]
_live: sa.Table = LiveCard.__table__  # type: ignore[attr-defined]
_rounds: sa.Table = Round.__table__  # type: ignore[attr-defined]
_participants: sa.Table = RoundParticipant.__table__  # type: ignore[attr-defined]
_outbox: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_charts: sa.Table = ChartImage.__table__  # type: ignore[attr-defined]
_export_links: sa.Table = ExportLink.__table__  # type: ignore[attr-defined]
_personal_links: sa.Table = PersonalExportLink.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RetentionPolicy:
    """How many days each kind of data is kept (bot.config: IMPACT_*_RETENTION_DAYS)."""

    answer_days: int = 365
    draft_days: int = 90
    payload_days: int = 30
    chart_days: int = 365


@dataclass(frozen=True)
class Purged:
    answers: int = 0
    drafts: int = 0
    payloads: int = 0
    links: int = 0
    charts: int = 0


def purge(session: Session, policy: RetentionPolicy, now: datetime) -> Purged:
    """Everything past its retention, in one transaction."""
    return Purged(
        answers=delete_round_answers(session, now - timedelta(days=policy.answer_days)),
        drafts=delete_drafts(session, now - timedelta(days=policy.draft_days)),
        payloads=clear_payloads(session, now - timedelta(days=policy.payload_days)),
        links=delete_expired_links(session, now),
        charts=delete_charts_created_before(session, now - timedelta(days=policy.chart_days)),
    )


def delete_round_answers(session: Session, closed_before: datetime) -> int:
    """The answers (levels and comments) of every assessment in a round closed before then,
    once the round's results are frozen (never the answers its published results still need)."""
    old_rounds = sa.select(_rounds.c.id).where(_closed_before(closed_before), _frozen_exists())
    theirs = sa.select(_assessments.c.id).where(_assessments.c.round_id.in_(old_rounds))
    return _count(session.execute(sa.delete(_answers).where(_answers.c.assessment_id.in_(theirs))))


def unfrozen_closed_rounds(session: Session, closed_before: datetime) -> list[int]:
    """Closed rounds, closed before then, whose results were never frozen (closed before
    results were frozen at the close): the retention job freezes them before their answers go."""
    query = sa.select(_rounds.c.id).where(_closed_before(closed_before), ~_frozen_exists())
    return list(session.execute(query).scalars())


def _closed_before(moment: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(_rounds.c.status == "closed", _rounds.c.closed_at < moment)


def _frozen_exists() -> sa.Exists:
    """The round (of the enclosing query on rounds) has frozen results."""
    return results_frozen(_rounds.c.id)


def delete_drafts(session: Session, changed_before: datetime) -> int:
    """Assessments that will never count, untouched since then: abandoned (restarted),
    superseded (submitted again), or still in progress for a round that has ended."""
    ended = sa.select(_rounds.c.id).where(_rounds.c.status.in_(ENDED_ROUNDS))
    drafts = sa.select(_assessments.c.id).where(
        _assessments.c.updated_at < changed_before,
        sa.or_(
            _assessments.c.status.in_(DRAFT_STATUSES),
            sa.and_(_assessments.c.status == "in_progress", _assessments.c.round_id.in_(ended)),
        ),
    )
    ids = [row[0] for row in session.execute(drafts)]
    if not ids:
        return 0
    session.execute(sa.delete(_live).where(_live.c.assessment_id.in_(ids)))
    session.execute(
        sa.update(_participants)
        .where(_participants.c.assessment_id.in_(ids))
        .values(assessment_id=None)
    )
    session.execute(sa.delete(_answers).where(_answers.c.assessment_id.in_(ids)))
    return _count(session.execute(sa.delete(_assessments).where(_assessments.c.id.in_(ids))))


def clear_payloads(session: Session, done_before: datetime) -> int:
    """Empty the payload of messages sent (or failed, or cancelled) before then."""
    done_at = sa.func.coalesce(_outbox.c.sent_at, _outbox.c.created_at)
    return _count(
        session.execute(
            sa.update(_outbox)
            .where(
                _outbox.c.status.in_(DONE_STATUSES),
                done_at < done_before,
                _outbox.c.payload != EMPTY_PAYLOAD,
            )
            .values(payload=EMPTY_PAYLOAD)
        )
    )


def delete_expired_links(session: Session, now: datetime) -> int:
    """Round export links and personal data links past their expiry."""
    deleted = 0
    for table in (_export_links, _personal_links):
        deleted += _count(session.execute(sa.delete(table).where(table.c.expires_at <= now)))
    return deleted


def delete_charts_created_before(session: Session, cutoff: datetime) -> int:
    """Chart images rendered before then (charts are rendered when their round closes, so this
    is the round's retention; a card posted since shows its figures in words)."""
    return _count(session.execute(sa.delete(_charts).where(_charts.c.created_at < cutoff)))


def _count(result: sa.Result[object]) -> int:
    return max(getattr(result, "rowcount", 0) or 0, 0)
