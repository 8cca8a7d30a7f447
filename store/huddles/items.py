"""Ideas, actions and escalations as stored: adding one (once, however often Save is pressed),
changing one (compare-and-set on its revision), and reading them back for cards, nudges,
digests and the strategic alignment feature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from huddles.rules.digest import ActionRecord, EscalationRecord, IdeaRecord
from huddles.rules.items import EscalationStatus, IdeaStatus, ItemKind
from store.huddles.occurrences import dialect_insert
from store.huddles.tables import HuddleItem
from store.outbox import utc
from store.people import Person
from store.teams import Team

_items: sa.Table = HuddleItem.__table__  # type: ignore[attr-defined]

ACTION_OPEN, ACTION_DONE = "open", "done"
OPEN_IDEAS = (IdeaStatus.NEW.value, IdeaStatus.TESTING.value)


@dataclass(frozen=True)
class NewItem:
    team_id: int
    huddle_id: int | None
    kind: ItemKind
    text: str  # cleaned (huddles.rules.items.check_text)
    raised_by: int
    owner_id: int | None = None
    due: date | None = None
    capture_key: str | None = None


def initial_status(kind: ItemKind) -> str:
    if kind is ItemKind.IDEA:
        return IdeaStatus.NEW.value
    if kind is ItemKind.ACTION:
        return ACTION_OPEN
    return EscalationStatus.OPEN.value


def add_item(session: Session, new: NewItem, now: datetime) -> int | None:
    """The new item's id; None if an item with the same capture key exists (a double tap)."""
    values: dict[str, Any] = {
        "team_id": new.team_id,
        "huddle_id": new.huddle_id,
        "kind": new.kind.value,
        "text": new.text,
        "status": initial_status(new.kind),
        "owner_id": new.owner_id,
        "due": new.due,
        "cycles": 0,
        "level": 0,
        "raised_by": new.raised_by,
        "capture_key": new.capture_key,
        "revision": 0,
        "created_at": utc(now),
        "updated_at": utc(now),
    }
    statement = (
        dialect_insert(session, _items)
        .values(values)
        .on_conflict_do_nothing()
        .returning(_items.c.id)
    )
    row = session.connection().execute(statement).first()
    return None if row is None else int(row[0])


def change_item(
    session: Session, item_id: int, revision: int, now: datetime, **values: Any
) -> bool:
    """Apply `values` if the item is still at `revision` (and move it on); False otherwise."""
    moved = session.execute(
        sa.update(HuddleItem)
        .where(col(HuddleItem.id) == item_id, col(HuddleItem.revision) == revision)
        .values(revision=revision + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount == 1)  # type: ignore[attr-defined]


# ---- reading back ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemRow:
    """An item as cards and lists show it."""

    id: int
    kind: str
    text: str
    status: str
    team_id: int
    team_name: str
    owner_id: int | None
    owner_name: str
    due: date | None
    cycles: int
    level: int
    revision: int
    created_at: datetime
    note: str | None
    huddle_id: int | None


def _rows(session: Session, *conditions: sa.ColumnElement[bool]) -> list[ItemRow]:
    owner = aliased(Person)
    rows = session.exec(
        select(HuddleItem, Team.name, owner.name)
        .join(Team, col(Team.id) == col(HuddleItem.team_id))
        .outerjoin(owner, col(owner.id) == col(HuddleItem.owner_id))
        .where(*conditions)
        .order_by(col(HuddleItem.created_at), col(HuddleItem.id))
    ).all()
    result = []
    for item, team_name, owner_name in rows:
        assert item.id is not None
        result.append(
            ItemRow(
                id=item.id,
                kind=item.kind,
                text=item.text,
                status=item.status,
                team_id=item.team_id,
                team_name=team_name,
                owner_id=item.owner_id,
                owner_name=owner_name or "",
                due=item.due,
                cycles=item.cycles,
                level=item.level,
                revision=item.revision,
                created_at=item.created_at,
                note=item.note,
                huddle_id=item.huddle_id,
            )
        )
    return result


def item_row(session: Session, item_id: int) -> ItemRow | None:
    found = _rows(session, col(HuddleItem.id) == item_id)
    return found[0] if found else None


def team_items(
    session: Session, team_id: int, kind: ItemKind, statuses: tuple[str, ...] | None = None
) -> list[ItemRow]:
    """A team's items of one kind (oldest first), optionally only those in `statuses`."""
    conditions = [col(HuddleItem.team_id) == team_id, col(HuddleItem.kind) == kind.value]
    if statuses is not None:
        conditions.append(col(HuddleItem.status).in_(statuses))
    return _rows(session, *conditions)


def open_escalations(session: Session) -> list[ItemRow]:
    """Every open escalation, of every team (where each shows depends on the team tree)."""
    return _rows(
        session,
        col(HuddleItem.kind) == ItemKind.ESCALATION.value,
        col(HuddleItem.status) == EscalationStatus.OPEN.value,
    )


def has_open_work(session: Session) -> bool:
    """Whether any action or escalation is still open (the scheduler's tick has work)."""
    found = session.exec(
        select(HuddleItem.id)
        .where(
            col(HuddleItem.kind).in_((ItemKind.ACTION.value, ItemKind.ESCALATION.value)),
            col(HuddleItem.status) == ACTION_OPEN,  # "open" for both kinds
        )
        .limit(1)
    ).first()
    return found is not None


def actions_to_nudge(
    session: Session, first: date, last: date
) -> list[tuple[HuddleItem, Person, Team]]:
    """Open actions due first..last whose owner has not been nudged yet, with owner and team."""
    rows = session.exec(
        select(HuddleItem, Person, Team)
        .join(Person, col(Person.id) == col(HuddleItem.owner_id))
        .join(Team, col(Team.id) == col(HuddleItem.team_id))
        .where(
            col(HuddleItem.kind) == ItemKind.ACTION.value,
            col(HuddleItem.status) == ACTION_OPEN,
            col(HuddleItem.nudged_at).is_(None),
            col(HuddleItem.due) >= first,
            col(HuddleItem.due) <= last,
        )
        .order_by(col(HuddleItem.id))
    ).all()
    return [(item, person, team) for item, person, team in rows]


def mark_nudged(session: Session, item_id: int, now: datetime) -> bool:
    moved = session.execute(
        sa.update(HuddleItem)
        .where(col(HuddleItem.id) == item_id, col(HuddleItem.nudged_at).is_(None))
        .values(nudged_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount == 1)  # type: ignore[attr-defined]


def raise_level(session: Session, item_id: int, level: int, now: datetime) -> bool:
    """Move an open escalation up to `level` (never down); False if it is not lower now."""
    moved = session.execute(
        sa.update(HuddleItem)
        .where(
            col(HuddleItem.id) == item_id,
            col(HuddleItem.status) == EscalationStatus.OPEN.value,
            col(HuddleItem.level) < level,
        )
        .values(level=level, updated_at=now, revision=col(HuddleItem.revision) + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount == 1)  # type: ignore[attr-defined]


# ---- the digest's records -------------------------------------------------------------------


def digest_records(
    session: Session, team_id: int
) -> tuple[list[IdeaRecord], list[ActionRecord], list[EscalationRecord]]:
    """The team's ideas, actions and escalations as the digest rules count them."""
    items = session.exec(select(HuddleItem).where(HuddleItem.team_id == team_id)).all()
    ideas = [IdeaRecord(IdeaStatus(i.status)) for i in items if i.kind == ItemKind.IDEA.value]
    actions = [
        ActionRecord(i.due, i.status == ACTION_DONE)
        for i in items
        if i.kind == ItemKind.ACTION.value and i.due is not None
    ]
    escalations = [
        EscalationRecord(i.created_at, EscalationStatus(i.status), i.level)
        for i in items
        if i.kind == ItemKind.ESCALATION.value
    ]
    return ideas, actions, escalations


# ---- the seam for strategic alignment -------------------------------------------------------


def ideas_for_alignment(session: Session) -> list[tuple[int, str, str, str]]:
    """Every idea, for the alignment matrix to link to goals: (idea id, its text as the title,
    the team's name, its status: new | testing | adopted | not_taken_forward), by team then id.
    The alignment feature keeps its own link table (goal ↔ work item by kind and id)."""
    rows = session.exec(
        select(HuddleItem.id, HuddleItem.text, Team.name, HuddleItem.status)
        .join(Team, col(Team.id) == col(HuddleItem.team_id))
        .where(HuddleItem.kind == ItemKind.IDEA.value)
        .order_by(col(Team.name), col(HuddleItem.id))
    ).all()
    return [(int(i), str(text), str(team), str(status)) for i, text, team, status in rows if i]
