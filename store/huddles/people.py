"""What huddles read about people: their zones (for digests and nudges at their local time)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from store.people import Person


def known_zones(session: Session) -> set[str]:
    """Every time zone a person's Teams client has told us."""
    rows = session.exec(
        select(Person.time_zone).where(col(Person.time_zone).is_not(None)).distinct()
    ).all()
    return {zone for zone in rows if zone}


def zone_of(session: Session, tenant_id: str, teams_user_id: str) -> str | None:
    return session.exec(
        select(Person.time_zone).where(
            Person.tenant_id == tenant_id, Person.teams_user_id == teams_user_id
        )
    ).first()
