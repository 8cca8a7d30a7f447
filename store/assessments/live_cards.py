"""Which card of a person's assessment is live (store.assessments.tables.LiveCard): read it, and
swap it for the card just posted in one step, so that two turns racing to post a card each
learn which card they replaced and none is left live by mistake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

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


def swap_live_card(
    session: Session, person_id: int, card: ShownCard | None, now: datetime
) -> ShownCard | None:
    """The person's live card is now `card` (None: they have none); returns the one it
    replaced, if any."""
    row = _locked(session, person_id)
    previous = None if row is None else _shown(row)
    if card is None:
        if row is not None:
            session.delete(row)
            session.flush()
        return previous
    if row is None:
        try:
            with session.begin_nested():
                session.add(_row(person_id, card, now))
                session.flush()
            return None
        except sa.exc.IntegrityError:  # another turn posted their first card at the same moment
            row = _locked(session, person_id)
            assert row is not None
            previous = _shown(row)
    row.activity_id, row.assessment_id, row.position = (
        card.activity_id,
        card.assessment_id,
        card.position,
    )
    row.updated_at = now
    session.flush()
    return previous


def _locked(session: Session, person_id: int) -> LiveCard | None:
    return session.exec(
        select(LiveCard).where(LiveCard.person_id == person_id).with_for_update()
    ).first()


def _row(person_id: int, card: ShownCard, now: datetime) -> LiveCard:
    return LiveCard(
        person_id=person_id,
        activity_id=card.activity_id,
        assessment_id=card.assessment_id,
        position=card.position,
        updated_at=now,
    )


def _shown(row: LiveCard) -> ShownCard:
    return ShownCard(row.activity_id, row.assessment_id, row.position)
