"""Which card of a person's assessment is live (store.assessments.tables.LiveCard): read it, and
swap it for the card just posted in one step, so that two turns racing to post a card each
learn which card they replaced and none is left live by mistake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from store.assessments.tables import LiveCard


@dataclass(frozen=True)
class ShownCard:
    """A card in the person's chat: its activity id, and which screen of which assessment."""

    activity_id: str
    assessment_id: int
    position: int


def live_card(session: Session, person_id: int) -> ShownCard | None:
    row = session.get(LiveCard, person_id)
    return None if row is None else _shown(row)


_LIVE: sa.Table = LiveCard.__table__  # type: ignore[attr-defined]
_PREVIOUS = (
    sa.select(_LIVE.c.activity_id, _LIVE.c.assessment_id, _LIVE.c.position)
    .where(_LIVE.c.person_id == sa.bindparam("b_person"))
    .with_for_update()
)
_REPLACE = sa.update(_LIVE).where(_LIVE.c.person_id == sa.bindparam("b_person"))
# PostgreSQL: every change is one statement that also returns the card it replaced, so it needs
# no transaction around it (Database.run_autocommit: no BEGIN or COMMIT round trips). The swap's
# subquery locks the row FOR UPDATE, so a swap running at the same moment waits, then reads the
# card this one wrote: each learns which card it replaced, as with a locked read and an update.
_OLD = _PREVIOUS.add_columns(_LIVE.c.person_id).subquery("old")
_SWAP = (
    sa.update(_LIVE)
    .where(_LIVE.c.person_id == _OLD.c.person_id)
    .returning(_OLD.c.activity_id, _OLD.c.assessment_id, _OLD.c.position)
)
_FIRST = (
    postgresql.insert(_LIVE)
    .on_conflict_do_nothing(index_elements=[_LIVE.c.person_id])
    .returning(_LIVE.c.person_id)
)
_REMOVE = (
    sa.delete(_LIVE)
    .where(_LIVE.c.person_id == sa.bindparam("b_person"))
    .returning(_LIVE.c.activity_id, _LIVE.c.assessment_id, _LIVE.c.position)
)


def swap_live_card(
    connection: sa.Connection, person_id: int, card: ShownCard | None, now: datetime
) -> ShownCard | None:
    """The person's live card is now `card` (None: they have none); returns the one it
    replaced, if any. Core statements on a connection, not the ORM: this runs once per answer.
    On PostgreSQL every statement stands alone (Database.run_autocommit runs them without a
    transaction); on SQLite this is one transaction."""
    if connection.dialect.name == "postgresql":
        return _swap_alone(connection, person_id, card, now)
    previous = _previous(connection, person_id)
    if card is None:
        if previous is not None:
            connection.execute(sa.delete(_LIVE).where(_LIVE.c.person_id == person_id))
        return previous
    values = _values(card, now)
    if previous is None:
        try:
            with connection.begin_nested():
                connection.execute(sa.insert(_LIVE), {"person_id": person_id, **values})
            return None
        except sa.exc.IntegrityError:  # another turn posted their first card at the same moment
            previous = _previous(connection, person_id)
            assert previous is not None
    connection.execute(_REPLACE, {"b_person": person_id, **values})
    return previous


def _values(card: ShownCard, now: datetime) -> dict[str, object]:
    return {
        "activity_id": card.activity_id,
        "assessment_id": card.assessment_id,
        "position": card.position,
        "updated_at": now,
    }


def _swap_alone(
    connection: sa.Connection, person_id: int, card: ShownCard | None, now: datetime
) -> ShownCard | None:
    """PostgreSQL, in statements that each stand alone: the live card replaced (or removed) and
    the one it replaced returned by the same statement. The person's first card is inserted
    unless another turn inserted theirs first; then this one replaces that."""
    if card is None:
        return _shown_row(connection.execute(_REMOVE, {"b_person": person_id}).first())
    values = _values(card, now)
    while True:  # again only if a first card was inserted, or the card removed, meanwhile
        row = connection.execute(_SWAP, {"b_person": person_id, **values}).first()
        if row is not None:
            return _shown_row(row)
        if connection.execute(_FIRST, {"person_id": person_id, **values}).first() is not None:
            return None


def _shown_row(row: Any) -> ShownCard | None:
    return None if row is None else ShownCard(row.activity_id, row.assessment_id, row.position)


def _previous(connection: sa.Connection, person_id: int) -> ShownCard | None:
    return _shown_row(connection.execute(_PREVIOUS, {"b_person": person_id}).first())


def _shown(row: LiveCard) -> ShownCard:
    return ShownCard(row.activity_id, row.assessment_id, row.position)
