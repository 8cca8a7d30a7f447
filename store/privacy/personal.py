"""Personal data the other hooks leave: links to a person's own data, and the columns that name
who did something the way the audit trail names them (Entra object id or `teams:<id>`): who
created a round, a round's export link or a huddle schedule, named a lead, or placed a team in
the cascade. Erasing a person replaces those names with `erased`; the records stay.

Teams references (`teams.reference`) and the audit log's `target` and `detail` may name a person
inside their text; `store.privacy.rights.sweep` clears those after every hook has run."""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from store.audit import AuditEntry
from store.huddles.tables import HuddleItem, HuddleLead, HuddleSchedule, TeamParent
from store.outbox import OutboxMessage
from store.people import Person
from store.personal import PersonalData, rows
from store.privacy.retention import EMPTY_PAYLOAD
from store.privacy.tables import PersonalExportLink
from store.rounds.export_links import ExportLink
from store.rounds.tables import Round

ERASED = "erased"

_people: sa.Table = Person.__table__  # type: ignore[attr-defined]
_links: sa.Table = PersonalExportLink.__table__  # type: ignore[attr-defined]
_audit: sa.Table = AuditEntry.__table__  # type: ignore[attr-defined]
_outbox: sa.Table = OutboxMessage.__table__  # type: ignore[attr-defined]
_items: sa.Table = HuddleItem.__table__  # type: ignore[attr-defined]
_ACTOR_COLUMNS: tuple[tuple[sa.Table, str], ...] = (
    (Round.__table__, "created_by"),  # type: ignore[attr-defined]
    (ExportLink.__table__, "created_by"),  # type: ignore[attr-defined]
    (HuddleSchedule.__table__, "created_by"),  # type: ignore[attr-defined]
    (HuddleLead.__table__, "added_by"),  # type: ignore[attr-defined]
    (TeamParent.__table__, "updated_by"),  # type: ignore[attr-defined]
)


def _actors(person_id: int) -> sa.Select[Any]:
    return sa.select(
        sa.func.coalesce(_people.c.aad_object_id, "teams:" + _people.c.teams_user_id)
    ).where(_people.c.id == person_id)


def _ids(session: Session, person_id: int) -> list[str]:
    """Their Teams id and Entra object id, as other rows' text may hold them."""
    row = session.execute(
        sa.select(_people.c.teams_user_id, _people.c.aad_object_id).where(_people.c.id == person_id)
    ).first()
    return [] if row is None else [value for value in row if value]


def _as_json_values(values: list[str]) -> list[str]:
    """Each value as a whole JSON string (quotes included), as a payload may encode it."""
    return sorted({json.dumps(v, ensure_ascii=ascii) for v in values for ascii in (True, False)})


def _their_item_refs(session: Session, person_id: int) -> list[str]:
    """The start of the card reference (`action:12:`) of each huddle item they own: a card
    listing an item shows its owner's name beside it."""
    found = session.execute(
        sa.select(_items.c.kind, _items.c.id).where(_items.c.owner_id == person_id)
    ).all()
    return [f'"{kind}:{item_id}:' for kind, item_id in found]


def _outbox_naming(session: Session, person_id: int) -> sa.ColumnElement[bool]:
    """Someone else's message that names them, by structure: one of their ids as a whole JSON
    value (an @mention's `mentioned.id`, a roster choice's `value`, a 1:1 chat's target), or a
    huddle item they own (its card line shows the owner's name). Never their display name as a
    substring: it is whatever they call themselves in Teams, and a name such as "a" or "Ward"
    is inside other people's words."""
    needles = _as_json_values(_ids(session, person_id)) + _their_item_refs(session, person_id)
    return _naming(_outbox.c.payload, needles)


def _naming(column: sa.Column[Any], ids: list[str]) -> sa.ColumnElement[bool]:
    return sa.or_(sa.false(), *(column.contains(value, autoescape=True) for value in ids))


def _export(session: Session, person_id: int) -> dict[str, Any]:
    theirs = _actors(person_id)
    ids = _ids(session, person_id)
    about = sa.or_(_naming(_audit.c.target, ids), _naming(_audit.c.detail, ids))
    recorded = {
        f"{table.name}.{column}": rows(
            session,
            sa.select(*table.primary_key.columns).where(table.c[column].in_(theirs)),
        )
        for table, column in _ACTOR_COLUMNS
    }
    return {
        "audit_about_them": rows(
            session,
            sa.select(_audit).where(about, _audit.c.actor.not_in(theirs)).order_by(_audit.c.id),
        ),
        "recorded_by_them": recorded,
        "data_links": rows(
            session,
            sa.select(_links.c.created_at, _links.c.expires_at).where(
                _links.c.person_id == person_id
            ),
        ),
    }


def _erase(session: Session, person_id: int) -> None:
    theirs = _actors(person_id).scalar_subquery()
    # Someone else's message that names them (an @mention, a card listing the roster or an
    # item they own): still to be sent, it is cancelled; sent, its payload goes (as retention
    # would take it later). Their own messages (outbox.person_id) go with the messages hook.
    naming = _outbox_naming(session, person_id)
    session.execute(
        sa.update(_outbox)
        .where(_outbox.c.status == "pending", naming)
        .values(status="cancelled", payload=EMPTY_PAYLOAD)
    )
    session.execute(sa.update(_outbox).where(naming).values(payload=EMPTY_PAYLOAD))
    session.execute(sa.delete(_links).where(_links.c.person_id == person_id))
    _erase_owner_in_audit(session, person_id)
    for table, column in _ACTOR_COLUMNS:
        session.execute(sa.update(table).where(table.c[column] == theirs).values({column: ERASED}))


def _erase_owner_in_audit(session: Session, person_id: int) -> None:
    """Audit details that name them by `people.id` (a project's `"owner": 7`) say `"erased"`."""
    owner = re.compile(rf'"owner": {person_id}(?=[,}}])')
    found = session.execute(
        sa.select(_audit.c.id, _audit.c.detail).where(
            _audit.c.detail.contains(f'"owner": {person_id}', autoescape=True)
        )
    ).all()
    for entry_id, detail in found:
        if owner.search(detail):
            session.execute(
                sa.update(_audit)
                .where(_audit.c.id == entry_id)
                .values(detail=owner.sub(f'"owner": "{ERASED}"', detail))
            )


PRIVACY = PersonalData(
    name="privacy",
    columns=(
        "personal_export_links.person_id",
        "rounds.created_by",
        "export_links.created_by",
        "huddle_schedules.created_by",
        "huddle_leads.added_by",
        "team_parents.updated_by",
        "teams.reference",
        "audit_log.target",
        "audit_log.detail",
    ),
    export=_export,
    erase=_erase,
)
