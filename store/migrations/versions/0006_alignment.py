"""strategic alignment: aims, goals, national targets, projects, links from goals to work

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _who_and_when() -> list[sa.Column[object]]:
    return [
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "strategic_aims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("title_key", sa.String(length=200), nullable=False),
        *_who_and_when(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("title_key"),
    )
    op.create_table(
        "national_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("title_key", sa.String(length=200), nullable=False),
        *_who_and_when(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("title_key"),
    )
    op.create_table(
        "measurable_goals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("aim_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("title_key", sa.String(length=200), nullable=False),
        sa.Column("measure", sa.String(length=200), nullable=True),
        *_who_and_when(),
        sa.ForeignKeyConstraint(["aim_id"], ["strategic_aims.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("aim_id", "title_key", name="uq_measurable_goals_title"),
    )
    with op.batch_alter_table("measurable_goals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_measurable_goals_aim_id"), ["aim_id"], unique=False)

    op.create_table(
        "national_target_goals",
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["goal_id"], ["measurable_goals.id"]),
        sa.ForeignKeyConstraint(["target_id"], ["national_targets.id"]),
        sa.PrimaryKeyConstraint("target_id", "goal_id"),
    )
    with op.batch_alter_table("national_target_goals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_national_target_goals_goal_id"), ["goal_id"], unique=False
        )

    op.create_table(
        "improvement_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("title_key", sa.String(length=200), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("owner_person_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        *_who_and_when(),
        sa.ForeignKeyConstraint(["owner_person_id"], ["people.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("improvement_projects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_improvement_projects_owner_person_id"), ["owner_person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_improvement_projects_team_id"), ["team_id"], unique=False
        )

    # Work is (kind, id): a project here or an idea of the huddles feature, so no foreign key.
    op.create_table(
        "alignment_links",
        sa.Column("work_kind", sa.String(length=16), autoincrement=False, nullable=False),
        sa.Column("work_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.Column("linked_by", sa.String(length=128), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["goal_id"], ["measurable_goals.id"]),
        sa.PrimaryKeyConstraint("work_kind", "work_id"),
    )
    with op.batch_alter_table("alignment_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alignment_links_goal_id"), ["goal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alignment_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alignment_links_goal_id"))
    op.drop_table("alignment_links")
    with op.batch_alter_table("improvement_projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_improvement_projects_team_id"))
        batch_op.drop_index(batch_op.f("ix_improvement_projects_owner_person_id"))
    op.drop_table("improvement_projects")
    with op.batch_alter_table("national_target_goals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_national_target_goals_goal_id"))
    op.drop_table("national_target_goals")
    with op.batch_alter_table("measurable_goals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measurable_goals_aim_id"))
    op.drop_table("measurable_goals")
    op.drop_table("national_targets")
    op.drop_table("strategic_aims")
