"""rights: links to a person's own data; the audit log append-only

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 14:00:00

Triggers refuse UPDATE and DELETE on `audit_log`, on SQLite and PostgreSQL, unless the
transaction holds a row in `audit_erasures`. Only an erasure inserts one, and deletes it again
before it commits (store.privacy.rights.erase_person); no other transaction can see an
uncommitted row, so nothing else can change the audit log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

POSTGRES_GUARD = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_erasures) THEN
        RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
"""

SQLITE_GUARDS = [
    f"""
CREATE TRIGGER audit_log_no_{operation.lower()} BEFORE {operation} ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_erasures)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only ({operation} refused)');
END
"""
    for operation in ("UPDATE", "DELETE")
]


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
    op.create_table(
        "audit_erasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_GUARD)
    else:
        for guard in SQLITE_GUARDS:
            op.execute(guard)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        for operation in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{operation}")
    op.drop_table("audit_erasures")
    op.drop_index("ix_personal_export_links_person_id", table_name="personal_export_links")
    op.drop_table("personal_export_links")
