"""Where a round's message to one person goes: their stored 1:1 chat, else (their invitation
failed or has not created it yet) the chat the sender creates with them through the first of
their round's teams. Nudges and resent invitations use it, so that someone whose first
invitation failed can still be reached later."""

from __future__ import annotations

import json

from sqlmodel import Session, col, select

from store.outbox import OutboxMessage, Target
from store.people import ConversationRef, Person
from store.rounds.tables import RoundParticipantTeam
from store.teams import Team


def nudge_target(
    session: Session, person: Person, participant_id: int, round_id: int
) -> Target | None:
    """Their chat; else, once their invitation is no longer waiting to be sent (it failed, or
    was sent without leaving a chat we can use), the chat created through their team. None
    while their invitation is still pending: it creates the chat, and the nudge must not
    overtake it."""
    chat = _chat(session, person)
    if chat is not None:
        return chat
    waiting = session.exec(
        select(OutboxMessage.id).where(
            OutboxMessage.round_id == round_id,
            OutboxMessage.person_id == person.id,
            OutboxMessage.kind == "invitation",
            OutboxMessage.status == "pending",
        )
    ).first()
    return None if waiting is not None else personal_target(session, person, participant_id)


def _chat(session: Session, person: Person) -> Target | None:
    chat = session.exec(
        select(ConversationRef).where(
            ConversationRef.person_id == person.id, ConversationRef.scope == "personal"
        )
    ).first()
    return None if chat is None else Target.conversation(chat.conversation_id, chat.service_url)


def personal_target(session: Session, person: Person, participant_id: int) -> Target | None:
    chat = session.exec(
        select(ConversationRef).where(
            ConversationRef.person_id == person.id, ConversationRef.scope == "personal"
        )
    ).first()
    if chat is not None:
        return Target.conversation(chat.conversation_id, chat.service_url)
    team = session.exec(
        select(Team)
        .join(RoundParticipantTeam, col(RoundParticipantTeam.team_id) == col(Team.id))
        .where(RoundParticipantTeam.participant_id == participant_id)
        .order_by(col(Team.name), col(Team.id))
    ).first()
    if team is None or not team.service_url:
        return None
    bot_id = str(json.loads(team.reference).get("bot", {}).get("id", ""))
    if not bot_id:
        return None
    return Target.person(
        user_id=person.teams_user_id,
        tenant_id=person.tenant_id,
        service_url=team.service_url,
        bot_id=bot_id,
    )
