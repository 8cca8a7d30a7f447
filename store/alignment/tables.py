"""The tables of strategic alignment (seed 000): the organisation's strategic aims, the measurable
goals under each, the national targets bearing on goals, improvement projects, and the one link
from a goal to a piece of improvement work.

Aims, goals and targets belong to the organisation the service runs for, as rounds do (one
improvement team per service): they carry no tenant. A project's team carries its tenant.

`alignment_links` names work by kind and id: a project here, or an idea of the huddles feature,
which this feature does not depend on (no foreign key: ideas reach the matrix through a
`WorkSource`, alignment.services.ports). A piece of work serves at most one goal.

An aim, a goal under one aim and a national target are recorded once: `title_key` (the title
case-folded) is unique, so a double tap or a second process cannot record one twice.

`created_by` and `linked_by` name who acted as the audit trail does (Entra object id,
`teams:<id>` or `cli:<user>`); a project's owner is a person the bot knows.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.types import timestamp_column

TITLE_CHARS = 200
ACTOR_CHARS = 128


class StrategicAim(SQLModel, table=True):
    __tablename__ = "strategic_aims"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=TITLE_CHARS)
    title_key: str = Field(max_length=TITLE_CHARS, unique=True)  # the title case-folded
    created_by: str = Field(max_length=ACTOR_CHARS)
    created_at: datetime = Field(sa_column=timestamp_column())
    updated_at: datetime = Field(sa_column=timestamp_column())


class MeasurableGoal(SQLModel, table=True):
    """A system-level goal tracking an aim; `measure` is what is measured today (None: unknown)."""

    __tablename__ = "measurable_goals"
    __table_args__ = (sa.UniqueConstraint("aim_id", "title_key", name="uq_measurable_goals_title"),)

    id: int | None = Field(default=None, primary_key=True)
    aim_id: int = Field(foreign_key="strategic_aims.id", index=True)
    title: str = Field(max_length=TITLE_CHARS)
    title_key: str = Field(max_length=TITLE_CHARS)
    measure: str | None = Field(default=None, max_length=TITLE_CHARS)
    created_by: str = Field(max_length=ACTOR_CHARS)
    created_at: datetime = Field(sa_column=timestamp_column())
    updated_at: datetime = Field(sa_column=timestamp_column())


class NationalTarget(SQLModel, table=True):
    __tablename__ = "national_targets"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=TITLE_CHARS)
    title_key: str = Field(max_length=TITLE_CHARS, unique=True)
    created_by: str = Field(max_length=ACTOR_CHARS)
    created_at: datetime = Field(sa_column=timestamp_column())
    updated_at: datetime = Field(sa_column=timestamp_column())


class NationalTargetGoal(SQLModel, table=True):
    """A national target bears on a goal (many to many)."""

    __tablename__ = "national_target_goals"

    target_id: int = Field(foreign_key="national_targets.id", primary_key=True)
    goal_id: int = Field(foreign_key="measurable_goals.id", primary_key=True, index=True)


class ImprovementProject(SQLModel, table=True):
    __tablename__ = "improvement_projects"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=TITLE_CHARS)
    title_key: str = Field(max_length=TITLE_CHARS)  # one title per team (checked on recording)
    team_id: int | None = Field(default=None, foreign_key="teams.id", index=True)
    owner_person_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    status: str = Field(max_length=16)  # alignment.rules.records.ProjectStatus
    created_by: str = Field(max_length=ACTOR_CHARS)
    created_at: datetime = Field(sa_column=timestamp_column())
    updated_at: datetime = Field(sa_column=timestamp_column())


class AlignmentLink(SQLModel, table=True):
    """The goal a piece of improvement work serves: work is (kind, id), e.g. ("idea", 12)."""

    __tablename__ = "alignment_links"

    work_kind: str = Field(
        sa_column=sa.Column(sa.String(16), primary_key=True, nullable=False, autoincrement=False)
    )
    work_id: int = Field(
        sa_column=sa.Column(sa.Integer, primary_key=True, nullable=False, autoincrement=False)
    )
    goal_id: int = Field(foreign_key="measurable_goals.id", index=True)
    linked_by: str = Field(max_length=ACTOR_CHARS)
    linked_at: datetime = Field(sa_column=timestamp_column())
