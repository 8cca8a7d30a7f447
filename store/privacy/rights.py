"""Export and erasure of one person's data, over every feature's `PersonalData` hooks.

`export_person` asks each hook for what it holds about the person. `erase_person` runs each
hook's erase (in reverse order of registration, so `people` goes last), then sweeps every text
column of every table for what still names the person (their Teams id, Entra object id, the
`teams:<id>` form the audit trail uses, and their display name inside a Teams reference or an
@mention in a value that also holds one of their ids: the display name is whatever they call
themselves in Teams, so alone it may be someone else's) and replaces it with `erased`: channel
conversation references and team install references that recorded them as the last speaker,
queued channel messages that @mention them, audit entries they made or that name them. The
erasure itself is audited without the erased data.

The audit log refuses UPDATE and DELETE (migration 0012's triggers, on SQLite and PostgreSQL)
unless the transaction holds an uncommitted row in `audit_erasures`: only `erase_person` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from store.audit import audit
from store.people import Person
from store.personal import PersonalData
from store.privacy.tables import AuditErasure
from store.tables import metadata

ERASED = "erased"
# Ids shorter than this are matched only as a whole value, never inside other text.
_MIN_SUBSTRING = 8

_people: sa.Table = Person.__table__  # type: ignore[attr-defined]
_erasures: sa.Table = AuditErasure.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Subject:
    """One person row, and the strings that name them."""

    person_id: int
    teams_user_id: str
    aad_object_id: str | None
    name: str

    @property
    def ids(self) -> tuple[str, ...]:
        """Their ids, as stored anywhere: Teams id, Entra object id, the audit's teams:<id>."""
        found = [self.teams_user_id, f"teams:{self.teams_user_id}"]
        if self.aad_object_id:
            found.append(self.aad_object_id)
        return tuple(value for value in found if value)

    @property
    def name_forms(self) -> tuple[str, ...]:
        """Their display name where a Teams reference or an @mention carries it."""
        if not self.name:
            return ()
        forms = []
        for encoded in {json.dumps(self.name), json.dumps(self.name, ensure_ascii=False)}:
            forms += [f'"name": {encoded}', f'"name":{encoded}']
        forms.append(f"<at>{self.name}</at>")
        return tuple(forms)


def find_people(session: Session, person: str) -> list[Subject]:
    """Everyone stored under this Entra object id or Teams id (one row per tenant)."""
    if not person:
        return []
    found = session.execute(
        sa.select(
            _people.c.id, _people.c.teams_user_id, _people.c.aad_object_id, _people.c.name
        ).where(sa.or_(_people.c.aad_object_id == person, _people.c.teams_user_id == person))
    )
    return [Subject(row.id, row.teams_user_id, row.aad_object_id, row.name) for row in found]


def export_person(
    session: Session, subject: Subject, declarations: Sequence[PersonalData]
) -> dict[str, Any]:
    """Everything stored about the person, one section per hook, readable as JSON."""
    sections: dict[str, Any] = {}
    for declaration in declarations:
        sections[declaration.name] = declaration.export(session, subject.person_id)
    return sections


def allow_audit_changes(session: Session) -> None:
    """Lift migration 0012's guard on the audit log, in this transaction only, until
    `end_audit_changes` (which the same transaction must call before it commits)."""
    session.execute(sa.insert(_erasures).values(id=1))


def end_audit_changes(session: Session) -> None:
    session.execute(sa.delete(_erasures))


def erase_person(
    session: Session,
    subject: Subject,
    declarations: Sequence[PersonalData],
    *,
    actor: str,
    requested_by: str,
    now: datetime,
) -> int:
    """Erase the person in the caller's transaction. Returns how many values the sweep
    replaced after the hooks ran (0 when every hook did its whole job)."""
    allow_audit_changes(session)
    for declaration in reversed(declarations):
        declaration.erase(session, subject.person_id)
    swept = sweep(session, subject)
    end_audit_changes(session)
    audit(
        session,
        actor=actor,
        action="person.erase",
        # Counts and names of hooks only: nothing of what was erased.
        detail={
            "requested_by": requested_by,
            "hooks": [d.name for d in declarations],
            "swept": swept,
        },
        now=now,
    )
    return swept


def sweep(session: Session, subject: Subject) -> int:
    """Replace what still names the person in any text column of any table with `erased`."""
    replaced = 0
    for table in metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        for column in table.columns:
            if not isinstance(column.type, sa.String) or column in keys:
                continue
            replaced += _sweep_column(session, table, keys, column, subject)
    return replaced


def _sweep_column(
    session: Session,
    table: sa.Table,
    keys: list[sa.Column[Any]],
    column: sa.Column[Any],
    subject: Subject,
) -> int:
    whole = [value for value in subject.ids if len(value) < _MIN_SUBSTRING]
    ids_inside = [value for value in subject.ids if len(value) >= _MIN_SUBSTRING]
    inside = ids_inside + list(subject.name_forms)
    matches = [column == value for value in whole]
    matches += [column.contains(value, autoescape=True) for value in inside]
    if not matches:
        return 0
    found = session.execute(sa.select(*keys, column).where(sa.or_(*matches))).all()
    replaced = 0
    for row in found:
        *key, value = row
        if value not in subject.ids and not any(found_id in value for found_id in ids_inside):
            # Their name form with none of their ids: someone else of the same name (or a
            # name chosen to match another's). Their ids say whose name it is.
            continue
        session.execute(
            sa.update(table)
            .where(*(k == v for k, v in zip(keys, key, strict=True)))
            .values({column.name: _scrubbed(value, subject, inside)})
        )
        replaced += 1
    return replaced


def _scrubbed(value: str, subject: Subject, inside: list[str]) -> str:
    if value in subject.ids:
        return ERASED
    for needle in inside:
        if needle.startswith('"name"'):
            value = value.replace(needle, needle.split(":", 1)[0] + ': "erased"')
        elif needle.startswith("<at>"):
            value = value.replace(needle, f"<at>{ERASED}</at>")
        else:
            value = value.replace(needle, ERASED)
    return value


def export_document(
    session: Session, person: str, declarations: Sequence[PersonalData], now: datetime
) -> dict[str, Any] | None:
    """The whole export for an Entra object id or Teams id: one entry per person row (a person
    known in two tenants has two), or None if the bot knows no one by that id."""
    subjects = find_people(session, person)
    if not subjects:
        return None
    return {
        "about": "Everything impact-bot stores about you (docs/privacy.md says why and for how "
        "long). Group results of closed rounds are aggregates and name no one.",
        "exported_at": now.isoformat(),
        "records": [export_person(session, subject, declarations) for subject in subjects],
    }


def erase_everywhere(
    session: Session,
    person: str,
    declarations: Sequence[PersonalData],
    *,
    actor: str,
    requested_by: str,
    now: datetime,
) -> int:
    """Erase every person row stored under this id; returns how many there were."""
    subjects = find_people(session, person)
    for subject in subjects:
        erase_person(
            session, subject, declarations, actor=actor, requested_by=requested_by, now=now
        )
    return len(subjects)


def subject_of(session: Session, person_id: int) -> Subject | None:
    row = session.execute(
        sa.select(
            _people.c.id, _people.c.teams_user_id, _people.c.aad_object_id, _people.c.name
        ).where(_people.c.id == person_id)
    ).first()
    return None if row is None else Subject(row.id, row.teams_user_id, row.aad_object_id, row.name)


def subject_in_tenant(session: Session, tenant_id: str, teams_user_id: str) -> Subject | None:
    """The person as this Teams chat knows them (their row in this tenant only)."""
    person_id = session.execute(
        sa.select(_people.c.id).where(
            _people.c.tenant_id == tenant_id, _people.c.teams_user_id == teams_user_id
        )
    ).scalar()
    return None if person_id is None else subject_of(session, person_id)
