"""The tables of assessment rounds: rounds, their teams, frozen rosters and nudge preferences."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.types import timestamp_column


class Round(SQLModel, table=True):
    """An assessment round across teams. The source of truth the scheduler reconciles from."""

    __tablename__ = "rounds"
    # A repeating round has at most one successor, however many leaders repeat it at once.
    __table_args__ = (sa.Index("uq_rounds_previous_round_id", "previous_round_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    framework_id: str = Field(max_length=64)
    framework_version: str = Field(max_length=32)
    status: str = Field(max_length=16, index=True)  # scheduled | open | closed | cancelled
    opens_at: datetime = Field(sa_column=timestamp_column())
    closes_at: datetime = Field(sa_column=timestamp_column())
    reminder_plan: str = Field(default="3d,7d,last-day", max_length=200)
    role_question: bool = Field(default=False)
    repeat_every: str | None = Field(default=None, max_length=32)  # e.g. 6m, 12w
    repeat_paused: bool = Field(default=False)
    previous_round_id: int | None = Field(default=None, foreign_key="rounds.id")
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=timestamp_column())
    updated_at: datetime = Field(sa_column=timestamp_column())
    opened_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    # Set once every summary of a closed round is queued: a close interrupted between the move to
    # `closed` and the summaries is finished by the next close step.
    summaries_queued_at: datetime | None = Field(
        default=None, sa_column=timestamp_column(nullable=True)
    )
    # Set when the round closes later: people with no nudge time left may have one now. The next
    # nudge tick gives them a time to be looked at and clears it (store.rounds.steps), so that an
    # admin's change writes the round's row only, never its participants'.
    nudge_recheck_at: datetime | None = Field(
        default=None, sa_column=timestamp_column(nullable=True)
    )


class RoundTeam(SQLModel, table=True):
    __tablename__ = "round_teams"

    round_id: int = Field(foreign_key="rounds.id", primary_key=True)
    team_id: int = Field(foreign_key="teams.id", primary_key=True)
    roster_frozen_at: datetime | None = Field(
        default=None, sa_column=timestamp_column(nullable=True)
    )


class RoundParticipant(SQLModel, table=True):
    """Someone on a round's frozen roster: answers once per round, however many teams."""

    __tablename__ = "round_participants"
    __table_args__ = (
        sa.UniqueConstraint("round_id", "person_id", name="uq_round_participants_person"),
        sa.Index("ix_round_participants_uninvited", "round_id", "invited_at"),
        sa.Index("ix_round_participants_next_nudge", "round_id", "next_nudge_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="rounds.id", index=True)
    person_id: int = Field(foreign_key="people.id", index=True)
    role: str | None = Field(default=None, max_length=32)
    assessment_id: int | None = Field(default=None, foreign_key="assessments.id")
    invited_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    nudges_sent: int = Field(default=0)
    last_nudged_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    snoozed_until: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    opted_out: bool = Field(default=False)
    # When the nudge tick should next look at this person: never later than their next nudge is
    # due (rounds.rules.schedule.next_nudge_at); None when no nudge will come. Anything that may
    # bring a nudge forward (snooze, new reminder times, a longer round) sets it to "now", so the
    # tick recomputes it; a tick with nobody due is one indexed query.
    next_nudge_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


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
    updated_at: datetime = Field(sa_column=timestamp_column())
