"""on PostgreSQL the outbox's payloads are compressed with lz4, not pglz

A payload is a whole card (2.7-3.3 kB): over PostgreSQL's 2 kB threshold, so every row is
compressed as it is written. Measured on a trust's 6,000 nudge payloads (16 MB), the INSERT took
216 ms with pglz and 83 ms with lz4, for the same size on disk: server CPU that the answers
arriving during an opening or a nudge tick share (benchmarks/trust_scale.py). Only rows written
from now on change. A server built without lz4 keeps pglz (the change is skipped, with a notice).
SQLite: nothing to do.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 22:45:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        DO $$
        BEGIN
            ALTER TABLE outbox ALTER COLUMN payload SET COMPRESSION {method};
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
            RAISE NOTICE 'outbox.payload keeps its compression: %', SQLERRM;
        END
        $$
        """
    )


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
