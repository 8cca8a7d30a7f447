"""Where each claimed outbox row goes: its conversation, or the person's latest 1:1 chat."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from store.outbox import Claimed
from store.people import ConversationRef, Person


def destinations(
    session: Session, rows: Sequence[Claimed]
) -> list[tuple[Claimed, str | None, str, int | None]]:
    """Where to send each row: the target's conversation, or the person's latest stored 1:1
    chat (None if there is none yet); its service URL; and the person's id if known. One query
    for the chats of all the rows' people."""
    people: dict[int, int | None] = {}  # row id -> person id
    for row in rows:
        target = row.target
        if not target.is_person:
            continue
        person_id = row.person_id
        if person_id is None:
            person_id = session.exec(
                select(Person.id).where(
                    Person.tenant_id == target.tenant_id, Person.teams_user_id == target.user_id
                )
            ).first()
        people[row.id] = person_id
    chats: dict[int, tuple[str, str]] = {}
    wanted = {person_id for person_id in people.values() if person_id is not None}
    if wanted:
        refs = session.exec(
            select(
                ConversationRef.person_id,
                ConversationRef.conversation_id,
                ConversationRef.service_url,
            )
            .where(col(ConversationRef.person_id).in_(wanted), ConversationRef.scope == "personal")
            .order_by(col(ConversationRef.updated_at), col(ConversationRef.id))
        ).all()
        for person_id, conversation_id, service_url in refs:  # the latest wins
            if person_id is not None:
                chats[person_id] = (conversation_id, service_url)
    found: list[tuple[Claimed, str | None, str, int | None]] = []
    for row in rows:
        target = row.target
        if not target.is_person:
            found.append((row, target.conversation_id, target.service_url, row.person_id))
            continue
        person_id = people[row.id]
        chat = chats.get(person_id) if person_id is not None else None
        if chat is None:
            found.append((row, None, target.service_url, person_id))
        else:
            found.append((row, chat[0], chat[1], person_id))
    return found
