"""`rounds resend`: a round's invitations and summaries that failed, queued again.

A failed message is moved back to pending (compare-and-set on `failed`, attempts from zero), so
each is queued again exactly once however many times, or from however many places, the command
runs at once; if it fails again it can be resent again. An invitation goes to the person's chat
if one is stored now, else to the chat the sender creates through their team (the chat it was
first meant for may be the one Teams said is gone). Invitations are resent only while the round
is open, summaries once it is closed. Every resend is audited, whatever it found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from store.audit import audit
from store.outbox import FAILED, PENDING, OutboxMessage, utc
from store.people import Person
from store.rounds.lifecycle import RoundError, get_round
from store.rounds.tables import RoundParticipant
from store.rounds.targets import personal_target


@dataclass(frozen=True)
class Resent:
    invitations: int
    summaries: int
    skipped: int  # failed, but not resendable now (e.g. an invitation of a closed round)

    @property
    def total(self) -> int:
        return self.invitations + self.summaries


def find_person(session: Session, round_id: int, who: str) -> int:
    """A participant of the round by people.id, Teams user id or Entra object id."""
    query = (
        select(Person.id)
        .join(RoundParticipant, col(RoundParticipant.person_id) == col(Person.id))
        .where(RoundParticipant.round_id == round_id)
    )
    if who.isdigit():
        query = query.where(col(Person.id) == int(who))
    else:
        query = query.where(
            sa.or_(col(Person.teams_user_id) == who, col(Person.aad_object_id) == who.lower())
        )
    found = session.exec(query).first()
    if found is None:
        raise RoundError(f"nobody {who!r} is on round {round_id}'s roster")
    return found


def resend(
    session: Session,
    round_id: int,
    *,
    person: str | None,
    actor: str,
    now: datetime,
) -> Resent:
    """Queue the round's failed invitations and summaries again (only `person`'s, if given)."""
    round_ = get_round(session, round_id)
    person_id = find_person(session, round_id, person) if person is not None else None
    query = select(OutboxMessage).where(
        OutboxMessage.round_id == round_id,
        OutboxMessage.status == FAILED,
        col(OutboxMessage.kind).in_(("invitation", "summary")),
    )
    if person_id is not None:
        query = query.where(OutboxMessage.person_id == person_id)
    invitations = summaries = skipped = 0
    resent: list[int] = []
    for message in session.exec(query.order_by(col(OutboxMessage.id))).all():
        assert message.id is not None
        payload: str | None = message.payload
        if message.kind == "invitation":
            payload = _retargeted(session, message) if round_.status == "open" else None
        elif round_.status != "closed":
            payload = None
        if payload is None:
            skipped += 1
            continue
        if _requeue(session, message.id, payload, now):
            resent.append(message.id)
            invitations += message.kind == "invitation"
            summaries += message.kind == "summary"
    audit(
        session,
        actor=actor,
        action="round.resend",
        target=f"round:{round_id}",
        detail={"person": person_id, "messages": resent, "skipped": skipped},
        now=now,
    )
    return Resent(invitations, summaries, skipped)


def _retargeted(session: Session, message: OutboxMessage) -> str | None:
    """A failed invitation's payload pointed at where the person can be reached now (None: they
    cannot be)."""
    if message.person_id is None:
        return None
    person = session.get(Person, message.person_id)
    participant = session.exec(
        select(RoundParticipant.id).where(
            RoundParticipant.round_id == message.round_id,
            RoundParticipant.person_id == message.person_id,
        )
    ).first()
    if person is None or participant is None:
        return None
    target = personal_target(session, person, participant)
    if target is None:
        return None
    payload = json.loads(message.payload)
    payload["target"] = target.to_json()
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _requeue(session: Session, message_id: int, payload: str, now: datetime) -> bool:
    """failed → pending, once (compare-and-set)."""
    moved = session.execute(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.status) == FAILED)
        .values(
            status=PENDING,
            payload=payload,
            attempts=0,
            not_before=utc(now),
            lease_owner=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount == 1)  # type: ignore[attr-defined]
