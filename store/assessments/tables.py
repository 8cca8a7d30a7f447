"""The tables of the self-assessment: one row per pass through the framework, one per answer."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.types import timestamp_column


class Assessment(SQLModel, table=True):
    """One person's pass through one framework version.

    `revision` increases with every change; every card carries the revision it was drawn at, and
    a change is written only if the revision is still the same (compare-and-set), which is what
    makes stale cards, double taps and Teams retries harmless on SQLite and PostgreSQL alike.
    """

    __tablename__ = "assessments"
    __table_args__ = (
        # At most one open assessment per person and framework: a double-tapped Start cannot
        # create two.
        sa.Index(
            "uq_assessments_one_open",
            "person_id",
            "framework_id",
            unique=True,
            sqlite_where=sa.text("status = 'in_progress'"),
            postgresql_where=sa.text("status = 'in_progress'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="people.id", index=True)
    framework_id: str = Field(max_length=64)
    framework_version: str = Field(max_length=32)
    status: str = Field(max_length=16)  # in_progress | submitted | superseded | abandoned
    position: int = Field(default=1)
    revision: int = Field(default=1)
    round_id: int | None = Field(default=None, foreign_key="rounds.id", index=True)
    started_at: datetime = Field(sa_column=timestamp_column())
    updated_at: datetime = Field(sa_column=timestamp_column())
    submitted_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class Answer(SQLModel, table=True):
    """A person's answer to one question; `level` is None when they skipped it."""

    __tablename__ = "answers"
    __table_args__ = (
        sa.UniqueConstraint("assessment_id", "question_number", name="uq_answers_question"),
        sa.CheckConstraint("level IS NULL OR (level >= 1 AND level <= 5)", name="ck_answers_level"),
    )

    id: int | None = Field(default=None, primary_key=True)
    assessment_id: int = Field(foreign_key="assessments.id", index=True)
    question_id: str = Field(max_length=32)
    question_number: int
    level: int | None = Field(default=None)
    comment: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    answered_at: datetime = Field(sa_column=timestamp_column())
    revision: int = Field(default=1)  # 1 when first recorded, +1 each time it is changed


class LiveCard(SQLModel, table=True):
    """The one card of a person's assessment that still has live buttons: the activity id of the
    question (or review) card posted last, so that when another is posted this one can be
    updated in place to say "continued below"."""

    __tablename__ = "live_cards"

    person_id: int = Field(foreign_key="people.id", primary_key=True)
    activity_id: str = Field(max_length=256)
    assessment_id: int = Field(foreign_key="assessments.id")
    position: int  # the screen the card shows: 1..N a question, N + 1 the review
    updated_at: datetime = Field(sa_column=timestamp_column())
