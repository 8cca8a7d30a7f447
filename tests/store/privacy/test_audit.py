"""The audit log is append-only from the application: no code path updates or deletes an entry
except an erasure, and the database itself (SQLite and PostgreSQL: migration 0012's triggers)
refuses any other UPDATE or DELETE; an erasure, which lifts the guard for its own transaction
only, still works."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from store.audit import audit
from store.db import Database
from store.privacy.rights import allow_audit_changes, end_audit_changes
from tests.paths import REPO
from tests.store.privacy.world import NOW

# Code that may change audit entries: the erase hooks of the audit log (its actor) and of the
# privacy feature (a people.id in a detail). (The erasure's sweep, store.privacy.rights.sweep,
# rewrites any table's text that names the erased person.) All of them run only inside
# `erase_person`, which lifts the database's guard for its own transaction.
MAY_CHANGE = {"store/rounds/personal.py", "store/privacy/personal.py"}
PACKAGES = ("impact", "cli", "bot", "assessment", "rounds", "huddles", "alignment", "scheduler",
            "store", "framework")  # fmt: skip
CHANGES = re.compile(
    r"(update|delete)\(\s*(AuditEntry|_audit\b)|(UPDATE|DELETE FROM)\s+audit_log", re.IGNORECASE
)


@pytest.mark.unit
def test_no_code_updates_or_deletes_audit_entries_except_the_erasure() -> None:
    changing = {
        str(path.relative_to(REPO))
        for package in PACKAGES
        for path in (REPO / package).rglob("*.py")
        if "migrations" not in path.parts and CHANGES.search(path.read_text(encoding="utf-8"))
    }
    assert changing == MAY_CHANGE


@pytest.mark.unit
def test_the_pattern_finds_a_change() -> None:
    assert CHANGES.search("session.execute(sa.delete(AuditEntry).where(...))")
    assert CHANGES.search('session.execute(sa.text("UPDATE audit_log SET actor = 1"))')


def one_entry(session: Session) -> None:
    audit(session, actor="aad-someone", action="round.close", target="round:1", now=NOW)


@pytest.mark.service
def test_the_database_refuses_to_change_or_delete_an_entry(db: Database) -> None:
    db.run_sync(one_entry)
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.run_sync(lambda s, sql=statement: s.execute(sa.text(sql)))
    assert db.run_sync(lambda s: s.execute(sa.text("SELECT actor FROM audit_log")).all()) == [
        ("aad-someone",)
    ]


@pytest.mark.service
def test_an_erasure_may_change_entries_in_its_own_transaction_only(db: Database) -> None:
    db.run_sync(one_entry)

    def erase(session: Session) -> None:
        allow_audit_changes(session)
        session.execute(sa.text("UPDATE audit_log SET actor = 'erased'"))
        end_audit_changes(session)

    db.run_sync(erase)
    assert db.run_sync(lambda s: s.execute(sa.text("SELECT actor FROM audit_log")).all()) == [
        ("erased",)
    ]
    # The next transaction is guarded again.
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.run_sync(lambda s: s.execute(sa.text("DELETE FROM audit_log")))
