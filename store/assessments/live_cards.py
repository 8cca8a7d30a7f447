"""Which card of a person's assessment is live (store.assessments.tables.LiveCard): read it, and
swap it for the card just posted in one step, so that two turns racing to post a card each
learn which card they replaced and none is left live by mistake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
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


def swap_live_card(
    session: Session, person_id: int, card: ShownCard | None, now: datetime
) -> ShownCard | None:
    """The person's live card is now `card` (None: they have none); returns the one it
    replaced, if any. Core statements, not the ORM: this runs once per answer, and loading and
    flushing a LiveCard object was most of its cost."""
    connection = session.connection()
    previous = _previous(connection, person_id)
    if card is None:
        if previous is not None:
            connection.execute(sa.delete(_LIVE).where(_LIVE.c.person_id == person_id))
        return previous
    values = {
        "activity_id": card.activity_id,
        "assessment_id": card.assessment_id,
        "position": card.position,
        "updated_at": now,
    }
    if previous is None:
        try:
            with session.begin_nested():
                connection.execute(sa.insert(_LIVE), {"person_id": person_id, **values})
            return None
        except sa.exc.IntegrityError:  # another turn posted their first card at the same moment
            previous = _previous(connection, person_id)
            assert previous is not None
    connection.execute(_REPLACE, {"b_person": person_id, **values})
    return previous


def _previous(connection: sa.Connection, person_id: int) -> ShownCard | None:
    row = connection.execute(_PREVIOUS, {"b_person": person_id}).first()
    return None if row is None else ShownCard(row.activity_id, row.assessment_id, row.position)


def _shown(row: LiveCard) -> ShownCard:
    return ShownCard(row.activity_id, row.assessment_id, row.position)
