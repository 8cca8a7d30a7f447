"""SQLModel tables. Alembic migrations (store/migrations) are the single source of the schema;
a test checks that these models and the migrated database never drift apart."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every database. SQLite keeps no zone, so values read
    back from it are naive: they were written as UTC, and are made aware here."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _timestamp(*, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(UTCDateTime(), nullable=nullable)


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
    status: str = Field(max_length=16)  # in_progress | submitted | superseded | abandoned
    position: int = Field(default=1)
    revision: int = Field(default=1)
    round_id: int | None = Field(default=None, foreign_key="rounds.id", index=True)
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


# ---- rounds, the outbox and the audit trail (assessment rounds) ---------------------------


class Team(SQLModel, table=True):
    """A Team the bot is installed in, with where to post in its channel."""

    __tablename__ = "teams"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    team_id: str = Field(max_length=256, unique=True)  # Teams' id, e.g. 19:…@thread.tacv2
    aad_group_id: str | None = Field(default=None, max_length=64)
    name: str = Field(default="", max_length=256)
    channel_conversation_id: str = Field(max_length=512)
    service_url: str = Field(max_length=512)
    reference: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    installed: bool = Field(default=True)
    updated_at: datetime = Field(sa_column=_timestamp())


class Round(SQLModel, table=True):
    """An assessment round across teams. The source of truth the scheduler reconciles from."""

    __tablename__ = "rounds"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    framework_id: str = Field(max_length=64)
    framework_version: str = Field(max_length=32)
    status: str = Field(max_length=16, index=True)  # scheduled | open | closed | cancelled
    opens_at: datetime = Field(sa_column=_timestamp())
    closes_at: datetime = Field(sa_column=_timestamp())
    reminder_plan: str = Field(default="3d,7d,last-day", max_length=200)
    role_question: bool = Field(default=False)
    repeat_every: str | None = Field(default=None, max_length=32)  # e.g. 6m, 12w
    repeat_paused: bool = Field(default=False)
    previous_round_id: int | None = Field(default=None, foreign_key="rounds.id")
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())
    opened_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class RoundTeam(SQLModel, table=True):
    __tablename__ = "round_teams"

    round_id: int = Field(foreign_key="rounds.id", primary_key=True)
    team_id: int = Field(foreign_key="teams.id", primary_key=True)
    roster_frozen_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class RoundParticipant(SQLModel, table=True):
    """Someone on a round's frozen roster: answers once per round, however many teams."""

    __tablename__ = "round_participants"
    __table_args__ = (
        sa.UniqueConstraint("round_id", "person_id", name="uq_round_participants_person"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="rounds.id", index=True)
    person_id: int = Field(foreign_key="people.id", index=True)
    role: str | None = Field(default=None, max_length=32)
    assessment_id: int | None = Field(default=None, foreign_key="assessments.id")
    invited_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    nudges_sent: int = Field(default=0)
    last_nudged_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    snoozed_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    opted_out: bool = Field(default=False)


class RoundParticipantTeam(SQLModel, table=True):
    """Which of the round's teams a participant counts for (someone in two teams counts twice)."""

    __tablename__ = "round_participant_teams"

    participant_id: int = Field(foreign_key="round_participants.id", primary_key=True)
    team_id: int = Field(foreign_key="teams.id", primary_key=True)
    # Their role in that Team when the roster was frozen (owner | user | guest): owners may read
    # their own team's results.
    team_role: str = Field(
        default="user", sa_column=sa.Column(sa.String(16), nullable=False, server_default="user")
    )


class NudgePreference(SQLModel, table=True):
    """When a person likes to be nudged; defaults apply where they have said nothing."""

    __tablename__ = "nudge_preferences"

    person_id: int = Field(foreign_key="people.id", primary_key=True)
    days: str = Field(default="mon,tue,wed,thu,fri", max_length=64)
    window_start_minute: int = Field(default=9 * 60)
    window_end_minute: int = Field(default=17 * 60)
    away_until: date | None = Field(default=None)
    updated_at: datetime = Field(sa_column=_timestamp())


class OutboxMessage(SQLModel, table=True):
    """A proactive message, written in the same transaction as the change that caused it.

    `dedupe_key` (e.g. `round:12:invite:person:55`) makes queuing the same message twice
    impossible. The sender claims due rows (FOR UPDATE SKIP LOCKED on PostgreSQL), sends them
    within Teams' limits and records the outcome here.
    """

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "not_before"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=32)  # invitation | nudge | summary | huddle | notice
    tenant_id: str = Field(max_length=64)
    person_id: int | None = Field(default=None, foreign_key="people.id")
    team_id: int | None = Field(default=None, foreign_key="teams.id")
    round_id: int | None = Field(default=None, foreign_key="rounds.id", index=True)
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # the activity, JSON
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed | cancelled
    attempts: int = Field(default=0)
    not_before: datetime = Field(sa_column=_timestamp())
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    last_status: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    sent_activity_id: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(sa_column=_timestamp())
    sent_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class AuditEntry(SQLModel, table=True):
    """Who did what to which round, and when: every admin action, allowed or refused."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_timestamp())
    actor: str = Field(max_length=128)  # Entra object id, or cli:<os user>
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=128)
    allowed: bool = Field(default=True)
    detail: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))


class ChartImage(SQLModel, table=True):
    """A rendered summary chart, addressed by its content hash; served at /charts/{token}.png so
    that every replica, and every card posted before a restart, can show it."""

    __tablename__ = "chart_images"

    token: str = Field(primary_key=True, max_length=32)
    png: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=_timestamp())


class ExportLink(SQLModel, table=True):
    """A short-lived download of a round's aggregated results, made for one improvement-team
    member in Teams; the token is the only key, and it expires."""

    __tablename__ = "export_links"

    token: str = Field(primary_key=True, max_length=64)
    round_id: int = Field(foreign_key="rounds.id")
    format: str = Field(max_length=8)  # csv | xlsx
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())
