"""rights: links to a person's own data; the audit log append-only on PostgreSQL

Revision ID: 0012
Revises: 0008
Create Date: 2026-11-29 14:00:00

On PostgreSQL a trigger refuses UPDATE and DELETE on `audit_log` unless the transaction has set
`impact.erasing` (`SELECT set_config('impact.erasing', 'on', true)`), which only an erasure does
(store.privacy.rights). SQLite has no per-transaction setting a trigger could read; it is the
single-machine local mode, where the application's own rule (no update or delete path) holds.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0008"
branch_labels = None
depends_on = None

GUARD = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('impact.erasing', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "personal_export_links",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("token"),
    )
    op.create_index(
        "ix_personal_export_links_person_id", "personal_export_links", ["person_id"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(GUARD)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("ix_personal_export_links_person_id", table_name="personal_export_links")
    op.drop_table("personal_export_links")
