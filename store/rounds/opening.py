"""Opening a round: freeze its teams' rosters and queue the invitations, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from framework.identity import Identity, TeamMember
from store.audit import audit
from store.people import ConversationRef, ensure_person
from store.rounds.lifecycle import get_round
from store.rounds.tables import (
    Round,
    RoundParticipant,
    RoundParticipantTeam,
    RoundTeam,
)
from store.teams import Team


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
    rosters: Mapping[int, Sequence[TeamMember]],
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
    people: dict[str, TeamMember] = {}
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
