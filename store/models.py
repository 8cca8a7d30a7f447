"""SQLModel tables. Alembic migrations (store/migrations) are the single source of the schema;
a test checks that these models and the migrated database never drift apart."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


# Timestamps are stored as UTC; SQLite keeps no zone, so every read path treats them as UTC.
def _timestamp(*, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Person(SQLModel, table=True):
    """A member of staff as Teams knows them. Keyed by tenant + Teams user id, never by email."""

    __tablename__ = "people"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "teams_user_id", name="uq_people_teams_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    teams_user_id: str = Field(max_length=256)
    aad_object_id: str | None = Field(default=None, max_length=64, index=True)
    name: str = Field(default="", max_length=256)
    time_zone: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())


class ConversationRef(SQLModel, table=True):
    """Where the bot can reach someone (or a channel) proactively: a serialised
    ConversationReference, kept current from their latest activity."""

    __tablename__ = "conversation_refs"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(max_length=512, unique=True)
    scope: str = Field(max_length=16)  # personal | channel | groupChat
    person_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    tenant_id: str = Field(max_length=64)
    service_url: str = Field(max_length=512)
    reference: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    updated_at: datetime = Field(sa_column=_timestamp())


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
    status: str = Field(max_length=16)  # in_progress | submitted | abandoned
    position: int = Field(default=1)
    revision: int = Field(default=1)
    started_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())
    submitted_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


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
    answered_at: datetime = Field(sa_column=_timestamp())
    revision: int = Field(default=1)  # 1 when first recorded, +1 each time it is changed
