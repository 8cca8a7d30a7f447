"""frozen results of closed rounds; chart images under random tokens, per round

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 14:00:00.000000

Chart images stored before this revision were addressed by a hash of their content, which can
be guessed; they are deleted (their cards show the chart's words instead).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "round_results_frozen",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"]),
        sa.PrimaryKeyConstraint("round_id", "scope"),
    )
    op.execute("DELETE FROM chart_images")
    with op.batch_alter_table("chart_images", schema=None) as batch_op:
        batch_op.alter_column(
            "token",
            existing_type=sa.String(length=32),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
        batch_op.add_column(sa.Column("round_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_chart_images_round_id_rounds"), "rounds", ["round_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_chart_images_round_id"), ["round_id"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM chart_images")
    with op.batch_alter_table("chart_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chart_images_round_id"))
        batch_op.drop_constraint(batch_op.f("fk_chart_images_round_id_rounds"), type_="foreignkey")
        batch_op.drop_column("round_id")
        batch_op.alter_column(
            "token",
            existing_type=sa.String(length=64),
            type_=sa.String(length=32),
            existing_nullable=False,
        )
    op.drop_table("round_results_frozen")
