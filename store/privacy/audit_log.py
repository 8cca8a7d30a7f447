"""Reading the audit log out (`impact-bot audit export`). The application only ever adds to it
(store.audit.audit); nothing here or elsewhere updates or deletes an entry, except an erasure
(store.privacy.rights), and migration 0012's triggers refuse anything else."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from store.audit import AuditEntry
from store.personal import rows

_audit: sa.Table = AuditEntry.__table__  # type: ignore[attr-defined]
FIELDS = ("id", "at", "actor", "action", "target", "allowed", "detail")


def audit_entries(session: Session, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """Every entry (from `since`, if given), oldest first, as JSON-ready dicts."""
    query = sa.select(*(_audit.c[name] for name in FIELDS)).order_by(_audit.c.id)
    if since is not None:
        query = query.where(_audit.c.at >= since)
    return rows(session, query)
