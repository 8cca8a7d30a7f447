"""A participant's place in a round and their own choices: role, snooze, opt-out, reminder times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from framework.identity import Identity
from rounds.rules.preferences import NudgePreferences
from store.people import Person
from store.rounds.tables import (
    NudgePreference,
    Round,
    RoundParticipant,
    RoundParticipantTeam,
)


@dataclass(frozen=True)
class ParticipantView:
    round_id: int
    round_name: str
    round_status: str
    closes_at: datetime
    person_id: int
    person_time_zone: str | None
    preferences: NudgePreferences


def participant_view(session: Session, round_id: int, identity: Identity) -> ParticipantView | None:
    """The person's place in a round, or None if they are not on its roster."""
    row = session.exec(
        select(Round, Person)
        .join(RoundParticipant, col(RoundParticipant.round_id) == col(Round.id))
        .join(Person, col(Person.id) == col(RoundParticipant.person_id))
        .where(
            Round.id == round_id,
            Person.tenant_id == identity.tenant_id,
            Person.teams_user_id == identity.teams_user_id,
        )
    ).first()
    if row is None:
        return None
    round_, person = row
    assert round_.id is not None
    assert person.id is not None
    return ParticipantView(
        round_id=round_.id,
        round_name=round_.name,
        round_status=round_.status,
        closes_at=round_.closes_at,
        person_id=person.id,
        person_time_zone=person.time_zone,
        preferences=preferences_of(session, person.id),
    )


def preferences_of(session: Session, person_id: int) -> NudgePreferences:
    row = session.get(NudgePreference, person_id)
    if row is None:
        return NudgePreferences.default()
    return NudgePreferences.from_row(
        row.days, row.window_start_minute, row.window_end_minute, row.away_until
    )


def save_preferences(
    session: Session, person_id: int, preferences: NudgePreferences, now: datetime
) -> None:
    days, start, end, away_until = preferences.to_row()
    row = session.get(NudgePreference, person_id)
    if row is None:
        row = NudgePreference(person_id=person_id, updated_at=now)
        session.add(row)
    row.days, row.window_start_minute, row.window_end_minute = days, start, end
    row.away_until = away_until
    row.updated_at = now


def _update_participant(session: Session, round_id: int, person_id: int, **values: object) -> None:
    session.execute(
        sa.update(RoundParticipant)
        .where(
            col(RoundParticipant.round_id) == round_id, col(RoundParticipant.person_id) == person_id
        )
        .values(**values)
    )


def snooze(session: Session, round_id: int, person_id: int, until: datetime) -> None:
    _update_participant(session, round_id, person_id, snoozed_until=until)


def opt_out(session: Session, round_id: int, person_id: int) -> None:
    _update_participant(session, round_id, person_id, opted_out=True)


def role_question_for(session: Session, round_id: int, person_id: int) -> str | None:
    """The round's name if this person is still to be asked its role question, else None."""
    row = session.exec(
        select(Round.name, Round.role_question, RoundParticipant.role)
        .join(RoundParticipant, col(RoundParticipant.round_id) == col(Round.id))
        .where(Round.id == round_id, RoundParticipant.person_id == person_id)
    ).first()
    if row is None or not row[1] or row[2] is not None:
        return None
    return str(row[0])


def set_role(session: Session, round_id: int, person_id: int, role: str) -> bool:
    """Record their role while the round is open; False (nothing changed) once it has closed:
    a closed round's role groups, like the rest of what feeds its results, never change."""
    still_open = (
        sa.select(col(Round.id))
        .where(col(Round.id) == round_id, col(Round.status) == "open")
        .exists()
    )
    changed = session.execute(
        sa.update(RoundParticipant)
        .where(
            col(RoundParticipant.round_id) == round_id,
            col(RoundParticipant.person_id) == person_id,
            still_open,
        )
        .values(role=role)
        .execution_options(synchronize_session=False)
    )
    return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


def is_team_owner(session: Session, round_id: int, team_id: int, identity: Identity) -> bool:
    """Whether this person owned that Team when the round's roster was frozen."""
    row = session.exec(
        select(RoundParticipantTeam.team_role)
        .join(
            RoundParticipant, col(RoundParticipant.id) == col(RoundParticipantTeam.participant_id)
        )
        .join(Person, col(Person.id) == col(RoundParticipant.person_id))
        .where(
            RoundParticipant.round_id == round_id,
            RoundParticipantTeam.team_id == team_id,
            Person.tenant_id == identity.tenant_id,
            Person.teams_user_id == identity.teams_user_id,
        )
    ).first()
    return row == "owner"
