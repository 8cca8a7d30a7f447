"""Rounds as stored: creating, listing, changing, and the audit trail of every admin action.

Functions take an open session (one transaction). Authorisation is decided by the caller
(rounds.rules.access) and recorded here with `audit`, whether the action was allowed or refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from framework.content import Framework
from framework.identity import Identity
from rounds.rules.preferences import NudgePreferences
from rounds.rules.schedule import PlanError, ReminderPlan
from store.assessments.tables import Assessment
from store.audit import audit
from store.outbox import OutboxMessage
from store.people import ConversationRef, Person, ensure_person
from store.rounds.tables import (
    NudgePreference,
    Round,
    RoundParticipant,
    RoundParticipantTeam,
    RoundTeam,
)
from store.teams import Team

MAX_NAME = 200


class RoundError(ValueError):
    """A round can't be created or changed as asked; the message says why, in one line."""


@dataclass(frozen=True)
class RoundSpec:
    name: str
    team_ids: tuple[str, ...]  # Teams' team ids
    opens_at: datetime
    closes_at: datetime
    reminder_plan: str
    role_question: bool = False
    repeat_every: str | None = None


@dataclass(frozen=True)
class RoundSummary:
    id: int
    name: str
    status: str
    opens_at: datetime
    closes_at: datetime
    teams: tuple[str, ...]
    participants: int
    submitted: int


def create_round(
    session: Session, spec: RoundSpec, *, framework: Framework, actor: str, now: datetime
) -> Round:
    name = " ".join(spec.name.split())
    if not name or len(name) > MAX_NAME:
        raise RoundError(f"a round needs a name of 1 to {MAX_NAME} characters")
    if not spec.team_ids:
        raise RoundError("a round needs at least one team (--team TEAM_ID)")
    if spec.closes_at <= spec.opens_at:
        raise RoundError("the round must close after it opens")
    if spec.closes_at <= now:
        raise RoundError("the closing time is already in the past")
    try:
        ReminderPlan.parse(spec.reminder_plan)
    except PlanError as exc:
        raise RoundError(f"reminder plan: {exc}") from None
    teams = _teams_by_teams_id(session, spec.team_ids)
    if missing := [tid for tid in dict.fromkeys(spec.team_ids) if tid not in teams]:
        raise RoundError(
            "the bot is not installed in these teams: "
            + ", ".join(missing)
            + " (see `impact-bot teams list`)"
        )
    round_ = Round(
        name=name,
        framework_id=framework.id,
        framework_version=framework.version,
        status="scheduled",
        opens_at=spec.opens_at,
        closes_at=spec.closes_at,
        reminder_plan=spec.reminder_plan,
        role_question=spec.role_question,
        repeat_every=spec.repeat_every,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(round_)
    session.flush()
    assert round_.id is not None
    for team in teams.values():
        assert team.id is not None
        session.add(RoundTeam(round_id=round_.id, team_id=team.id))
    audit(
        session,
        actor=actor,
        action="round.create",
        target=f"round:{round_.id}",
        detail={
            "name": name,
            "teams": list(teams),
            "opens_at": spec.opens_at,
            "closes_at": spec.closes_at,
        },
        now=now,
    )
    return round_


def get_round(session: Session, round_id: int) -> Round:
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise RoundError(f"there is no round {round_id} (see `impact-bot rounds list`)")
    return round_


def list_rounds(session: Session) -> list[RoundSummary]:
    rounds = session.exec(select(Round).order_by(col(Round.opens_at).desc())).all()
    return [summarise(session, r) for r in rounds]


def summarise(session: Session, round_: Round) -> RoundSummary:
    assert round_.id is not None
    team_names = session.exec(
        select(Team.name)
        .join(RoundTeam, col(RoundTeam.team_id) == col(Team.id))
        .where(RoundTeam.round_id == round_.id)
        .order_by(Team.name)
    ).all()
    participants = session.exec(
        select(sa.func.count())
        .select_from(RoundParticipant)
        .where(RoundParticipant.round_id == round_.id)
    ).one()
    submitted = session.exec(
        select(sa.func.count())
        .select_from(RoundParticipant)
        .join(Assessment, col(Assessment.id) == col(RoundParticipant.assessment_id))
        .where(RoundParticipant.round_id == round_.id, Assessment.status == "submitted")
    ).one()
    assert round_.id is not None
    return RoundSummary(
        id=round_.id,
        name=round_.name,
        status=round_.status,
        opens_at=round_.opens_at,
        closes_at=round_.closes_at,
        teams=tuple(team_names),
        participants=int(participants),
        submitted=int(submitted),
    )


def extend_round(
    session: Session, round_id: int, closes_at: datetime, *, actor: str, now: datetime
) -> Round:
    round_ = _changeable(session, round_id)
    if closes_at <= max(now, round_.opens_at):
        raise RoundError("the new closing time must be in the future and after the opening")
    previous = round_.closes_at
    round_.closes_at = closes_at
    round_.updated_at = now
    audit(
        session,
        actor=actor,
        action="round.extend",
        target=f"round:{round_id}",
        detail={"from": previous, "to": closes_at},
        now=now,
    )
    return round_


def request_close(session: Session, round_id: int, *, actor: str, now: datetime) -> Round:
    """Close now: the scheduler's close step (results, summaries) runs within seconds."""
    round_ = _changeable(session, round_id)
    round_.closes_at = now
    round_.updated_at = now
    audit(session, actor=actor, action="round.close", target=f"round:{round_id}", now=now)
    return round_


def cancel_round(session: Session, round_id: int, *, actor: str, now: datetime) -> Round:
    round_ = _changeable(session, round_id)
    round_.status = "cancelled"
    round_.updated_at = now
    # Nothing more goes out for a cancelled round.
    session.execute(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.round_id) == round_id, col(OutboxMessage.status) == "pending")
        .values(status="cancelled")
    )
    audit(session, actor=actor, action="round.cancel", target=f"round:{round_id}", now=now)
    return round_


def _changeable(session: Session, round_id: int) -> Round:
    round_ = get_round(session, round_id)
    if round_.status in ("closed", "cancelled"):
        raise RoundError(f"round {round_id} is already {round_.status}")
    return round_


def _teams_by_teams_id(session: Session, team_ids: Sequence[str]) -> dict[str, Team]:
    rows = session.exec(
        select(Team).where(col(Team.team_id).in_(list(team_ids)), col(Team.installed).is_(True))
    ).all()
    return {team.team_id: team for team in rows}


# ---- opening: freeze the roster, invite everyone (one transaction) ---------------------------


@dataclass(frozen=True)
class Member:
    """A team member as Teams' paged roster gives them (never by email: it no longer does)."""

    teams_user_id: str
    aad_object_id: str | None
    name: str
    tenant_id: str
    team_role: str = "user"  # owner | user | guest


@dataclass(frozen=True)
class Invitee:
    person_id: int
    teams_user_id: str
    tenant_id: str
    team_names: tuple[str, ...]
    conversation: ConversationRef | None  # their stored 1:1 chat, if any


@dataclass(frozen=True)
class OpenResult:
    round_id: int
    participants: int
    invited: int


InvitationWriter = Callable[[Session, Round, Invitee, Team], bool]


def due_to_open(session: Session, now: datetime) -> list[tuple[Round, list[Team]]]:
    rounds = session.exec(
        select(Round).where(Round.status == "scheduled", col(Round.opens_at) <= now)
    ).all()
    return [(r, round_teams(session, r)) for r in rounds]


def round_teams(session: Session, round_: Round) -> list[Team]:
    return list(
        session.exec(
            select(Team)
            .join(RoundTeam, col(RoundTeam.team_id) == col(Team.id))
            .where(RoundTeam.round_id == round_.id)
            .order_by(Team.name)
        ).all()
    )


def open_round(
    session: Session,
    round_id: int,
    rosters: Mapping[int, Sequence[Member]],
    *,
    invite: InvitationWriter,
    now: datetime,
) -> OpenResult | None:
    """Freeze the roster and queue one invitation per person, with the round's move to `open`,
    in the caller's transaction. None if the round was no longer scheduled (another process
    opened or someone cancelled it)."""
    moved = session.execute(
        sa.update(Round)
        .where(col(Round.id) == round_id, col(Round.status) == "scheduled")
        .values(status="open", opened_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    round_ = get_round(session, round_id)
    session.refresh(round_)
    teams = {team.id: team for team in round_teams(session, round_)}
    memberships: dict[str, list[tuple[Team, str]]] = {}
    people: dict[str, Member] = {}
    for team_pk, members in rosters.items():
        for member in members:
            people.setdefault(member.teams_user_id, member)
            memberships.setdefault(member.teams_user_id, []).append(
                (teams[team_pk], member.team_role)
            )
    invited = 0
    for teams_user_id, member in people.items():
        person = ensure_person(
            session,
            Identity(member.tenant_id, teams_user_id, member.aad_object_id, member.name),
            now,
        )
        assert person.id is not None
        participant = RoundParticipant(round_id=round_id, person_id=person.id, invited_at=now)
        session.add(participant)
        session.flush()
        assert participant.id is not None
        for team, team_role in memberships[teams_user_id]:
            assert team.id is not None
            session.add(
                RoundParticipantTeam(
                    participant_id=participant.id, team_id=team.id, team_role=team_role[:16]
                )
            )
        conversation = session.exec(
            select(ConversationRef).where(
                ConversationRef.person_id == person.id, ConversationRef.scope == "personal"
            )
        ).first()
        invitee = Invitee(
            person_id=person.id,
            teams_user_id=teams_user_id,
            tenant_id=member.tenant_id,
            team_names=tuple(t.name for t, _role in memberships[teams_user_id]),
            conversation=conversation,
        )
        invited += bool(invite(session, round_, invitee, memberships[teams_user_id][0][0]))
    for team_pk in rosters:
        session.execute(
            sa.update(RoundTeam)
            .where(col(RoundTeam.round_id) == round_id, col(RoundTeam.team_id) == team_pk)
            .values(roster_frozen_at=now)
        )
    audit(
        session,
        actor="scheduler",
        action="round.open",
        target=f"round:{round_id}",
        detail={"participants": len(people), "invited": invited},
        now=now,
    )
    return OpenResult(round_id, len(people), invited)


# ---- a participant's own choices: snooze, opt out, reminder preferences ---------------------


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


def set_role(session: Session, round_id: int, person_id: int, role: str) -> None:
    _update_participant(session, round_id, person_id, role=role)


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


def set_repetition(
    session: Session, round_id: int, change: str, *, actor: str, now: datetime
) -> Round:
    """`pause` (no next round is scheduled from this one until resumed), `resume`, or `stop`
    (the series ends here)."""
    round_ = get_round(session, round_id)
    if not round_.repeat_every:
        raise RoundError(f"round {round_id} does not repeat")
    if change == "stop":
        round_.repeat_every = None
    elif change in ("pause", "resume"):
        round_.repeat_paused = change == "pause"
    else:
        raise RoundError(f"unknown change {change!r}: use pause, resume or stop")
    round_.updated_at = now
    audit(
        session, actor=actor, action=f"round.repeat.{change}", target=f"round:{round_id}", now=now
    )
    return round_
