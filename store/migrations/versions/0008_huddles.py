"""huddles: schedules, leads, posted huddles, attendance, items, the team tree

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "huddle_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=512), nullable=True),
        sa.Column("channel_name", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("format_id", sa.String(length=64), nullable=False),
        sa.Column("days", sa.String(length=32), nullable=False),
        sa.Column("at", sa.String(length=5), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("skip_bank_holidays", sa.Boolean(), nullable=False),
        sa.Column("lead_minutes", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("skip_dates", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_huddle_schedules_team_id", "huddle_schedules", ["team_id"], unique=False)

    op.create_table(
        "huddle_leads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=256), nullable=False),
        sa.Column("added_by", sa.String(length=128), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "person", name="uq_huddle_leads_person"),
    )
    op.create_index("ix_huddle_leads_team_id", "huddle_leads", ["team_id"], unique=False)

    op.create_table(
        "huddles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("huddle_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("conversation_id", sa.String(length=512), nullable=False),
        sa.Column("prompt_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["recorded_by"], ["people.id"]),
        sa.ForeignKeyConstraint(["schedule_id"], ["huddle_schedules.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prompt_key"),
        sa.UniqueConstraint("schedule_id", "local_date", "slot", name="uq_huddles_occurrence"),
    )
    op.create_index("ix_huddles_schedule_id", "huddles", ["schedule_id"], unique=False)
    op.create_index("ix_huddles_team_id", "huddles", ["team_id"], unique=False)

    op.create_table(
        "huddle_attendance",
        sa.Column("huddle_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["huddle_id"], ["huddles.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("huddle_id", "person_id"),
    )

    op.create_table(
        "huddle_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("huddle_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("cycles", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("raised_by", sa.Integer(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolved_by_team_id", sa.Integer(), nullable=True),
        sa.Column("nudged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("capture_key", sa.String(length=64), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["huddle_id"], ["huddles.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["people.id"]),
        sa.ForeignKeyConstraint(["raised_by"], ["people.id"]),
        sa.ForeignKeyConstraint(["resolved_by"], ["people.id"]),
        sa.ForeignKeyConstraint(["resolved_by_team_id"], ["teams.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("capture_key"),
    )
    op.create_index("ix_huddle_items_huddle_id", "huddle_items", ["huddle_id"], unique=False)
    op.create_index("ix_huddle_items_status", "huddle_items", ["status"], unique=False)
    op.create_index("ix_huddle_items_team_id", "huddle_items", ["team_id"], unique=False)

    op.create_table(
        "team_parents",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["teams.id"]),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"]),
        sa.PrimaryKeyConstraint("team_id"),
    )
    op.create_index("ix_team_parents_parent_id", "team_parents", ["parent_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_team_parents_parent_id", table_name="team_parents")
    op.drop_table("team_parents")
    op.drop_index("ix_huddle_items_team_id", table_name="huddle_items")
    op.drop_index("ix_huddle_items_status", table_name="huddle_items")
    op.drop_index("ix_huddle_items_huddle_id", table_name="huddle_items")
    op.drop_table("huddle_items")
    op.drop_table("huddle_attendance")
    op.drop_index("ix_huddles_team_id", table_name="huddles")
    op.drop_index("ix_huddles_schedule_id", table_name="huddles")
    op.drop_table("huddles")
    op.drop_index("ix_huddle_leads_team_id", table_name="huddle_leads")
    op.drop_table("huddle_leads")
    op.drop_index("ix_huddle_schedules_team_id", table_name="huddle_schedules")
    op.drop_table("huddle_schedules")
