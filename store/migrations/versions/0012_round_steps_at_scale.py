"""round steps at scale: each participant's next nudge time, invitations still to queue, and
whether a closed round's summaries are queued

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("round_participants") as batch:
        batch.add_column(sa.Column("next_nudge_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_round_participants_next_nudge", ["round_id", "next_nudge_at"])
        batch.create_index("ix_round_participants_uninvited", ["round_id", "invited_at"])
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(
            sa.Column("summaries_queued_at", sa.DateTime(timezone=True), nullable=True)
        )
    # Everyone waiting in a round open now is looked at by the next nudge tick, which stores
    # their real next time; closed rounds have their summaries queued already.
    op.execute(
        "UPDATE round_participants SET next_nudge_at = "
        "(SELECT opens_at FROM rounds WHERE rounds.id = round_participants.round_id) "
        "WHERE opted_out = false AND round_id IN (SELECT id FROM rounds WHERE status = 'open')"
    )
    op.execute("UPDATE rounds SET summaries_queued_at = closed_at WHERE status = 'closed'")


def downgrade() -> None:
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("summaries_queued_at")
    with op.batch_alter_table("round_participants") as batch:
        batch.drop_index("ix_round_participants_uninvited")
        batch.drop_index("ix_round_participants_next_nudge")
        batch.drop_column("next_nudge_at")
