"""round faults: a repeating round has only one successor (unique previous_round_id)

Two leaders repeating the same round at once could each add a successor; the unique index makes
the second insert fail (the step then finds the successor already there). A database that
already holds duplicates keeps the oldest successor linked; the others stay as rounds of their
own (previous_round_id cleared), so the index can be built.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE rounds SET previous_round_id = NULL WHERE previous_round_id IS NOT NULL "
            "AND id NOT IN (SELECT MIN(id) FROM rounds WHERE previous_round_id IS NOT NULL "
            "GROUP BY previous_round_id)"
        )
    )
    op.create_index("uq_rounds_previous_round_id", "rounds", ["previous_round_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_rounds_previous_round_id", table_name="rounds")
