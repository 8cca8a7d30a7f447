"""The tables of team huddles: schedules, named leads, posted huddles, attendance, what comes out
of a huddle (ideas, actions, escalations) and the team tree escalations climb."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.types import timestamp_column


class HuddleSchedule(SQLModel, table=True):
    """When a team huddles, and where the prompt goes. The source of truth the scheduler
    reconciles from; a deleted schedule keeps its row (its huddles are history)."""

    __tablename__ = "huddle_schedules"

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="teams.id", index=True)
    # The channel's conversation id; None: the team's General channel (whose id is the team's).
    channel_id: str | None = Field(default=None, max_length=512)
    channel_name: str = Field(default="", max_length=256)
    name: str = Field(max_length=200)
    format_id: str = Field(max_length=64)
    days: str = Field(max_length=32)  # mon,tue,… (rounds.rules.written.format_days)
    at: str = Field(max_length=5)  # 08:30, local wall-clock time in `zone`
    zone: str = Field(max_length=64)
    skip_bank_holidays: bool = Field(default=True)
    lead_minutes: int = Field(default=5)
    paused: bool = Field(default=False)
    # ISO dates with no huddle, comma-separated (past ones are dropped on the next change).
    skip_dates: str = Field(
        default="", sa_column=sa.Column(sa.Text, nullable=False, server_default="")
    )
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=timestamp_column())
    updated_at: datetime = Field(sa_column=timestamp_column())
    deleted_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class HuddleLead(SQLModel, table=True):
    """Someone the improvement team named lead of a team (besides the team's owners in Teams)."""

    __tablename__ = "huddle_leads"
    __table_args__ = (sa.UniqueConstraint("team_id", "person", name="uq_huddle_leads_person"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="teams.id", index=True)
    person: str = Field(max_length=256)  # Teams user id (29:…) or Entra object id
    added_by: str = Field(max_length=128)
    added_at: datetime = Field(sa_column=timestamp_column())


class Huddle(SQLModel, table=True):
    """One posted huddle prompt. Unique per schedule, local date and slot, so the prompt of a
    scheduled huddle (slot 0) is posted once however many processes try; `huddles post` adds
    unscheduled huddles in slots 1, 2, …"""

    __tablename__ = "huddles"
    __table_args__ = (
        sa.UniqueConstraint("schedule_id", "local_date", "slot", name="uq_huddles_occurrence"),
    )

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: int = Field(foreign_key="huddle_schedules.id", index=True)
    team_id: int = Field(foreign_key="teams.id", index=True)
    local_date: date
    slot: int = Field(default=0)
    huddle_at: datetime = Field(sa_column=timestamp_column())
    posted_at: datetime = Field(sa_column=timestamp_column())
    conversation_id: str = Field(max_length=512)
    # The outbox row of the prompt: its sent_activity_id is the card to update in place.
    prompt_key: str = Field(max_length=200, unique=True)
    status: str = Field(default="pending", max_length=16)  # pending | held | not_held
    note: str | None = Field(default=None, max_length=500)
    recorded_by: int | None = Field(default=None, foreign_key="people.id")
    recorded_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class HuddleAttendance(SQLModel, table=True):
    """ "I'm here": once per person per huddle."""

    __tablename__ = "huddle_attendance"

    huddle_id: int = Field(foreign_key="huddles.id", primary_key=True)
    person_id: int = Field(foreign_key="people.id", primary_key=True)
    at: datetime = Field(sa_column=timestamp_column())


class HuddleItem(SQLModel, table=True):
    """An idea, action or escalation raised by a team (huddles.rules.items has the rules).

    `status`: ideas new | testing | adopted | not_taken_forward (`cycles`: PDSA cycles run);
    actions open | done (`owner_id`, `due`, `nudged_at`); escalations open | unblocked |
    not_possible (`level`: how far up the team tree it shows, `note`: the resolution).
    `revision` moves on every change, so a card drawn before one cannot apply it twice.
    `capture_key` makes a double-tapped Save record one item.
    """

    __tablename__ = "huddle_items"

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="teams.id", index=True)
    huddle_id: int | None = Field(default=None, foreign_key="huddles.id", index=True)
    kind: str = Field(max_length=16)
    text: str = Field(max_length=500)
    status: str = Field(max_length=24, index=True)
    owner_id: int | None = Field(default=None, foreign_key="people.id")
    due: date | None = Field(default=None)
    cycles: int = Field(default=0)
    level: int = Field(default=0)
    note: str | None = Field(default=None, max_length=500)
    raised_by: int | None = Field(default=None, foreign_key="people.id")
    resolved_by: int | None = Field(default=None, foreign_key="people.id")
    resolved_by_team_id: int | None = Field(default=None, foreign_key="teams.id")
    nudged_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    capture_key: str | None = Field(default=None, max_length=64, unique=True)
    revision: int = Field(default=0)
    created_at: datetime = Field(sa_column=timestamp_column())
    updated_at: datetime = Field(sa_column=timestamp_column())
    closed_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class TeamParent(SQLModel, table=True):
    """The team above this one in the huddle cascade (frontline → directorate → executive)."""

    __tablename__ = "team_parents"

    team_id: int = Field(foreign_key="teams.id", primary_key=True)
    parent_id: int = Field(foreign_key="teams.id", index=True)
    updated_by: str = Field(max_length=128)
    updated_at: datetime = Field(sa_column=timestamp_column())
