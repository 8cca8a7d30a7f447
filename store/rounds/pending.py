"""A round's teams whose roster could not be read when it opened, and rounds whose opening came
too late: the queries behind rounds.services.rosters.

A team of an open round whose `round_teams.roster_frozen_at` is NULL is *pending*: Teams did not
give us its roster (429, 5xx, a timeout, or an empty list). It is retried by the scheduler
(`rosters:retry`), shown in `rounds status` and on the improvement team's rounds card, and its
people are invited once its roster is read (`freeze_team`, a compare-and-set on
`roster_frozen_at`, so two leaders freeze and invite it once).

A round whose opening is processed after its closing time (the service was down through the
whole round) is not opened: `mark_missed` moves it straight to closed with no invitations, says
why in the audit trail, and `round_note` says it in the round's status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from framework.identity import Identity, TeamMember
from store.audit import audit
from store.people import ConversationRef, ensure_person
from store.rounds.notes import MISSED_REASON
from store.rounds.opening import InvitationWriter, Invitee
from store.rounds.tables import Round, RoundParticipant, RoundParticipantTeam, RoundTeam
from store.teams import Team


@dataclass(frozen=True)
class FrozenTeam:
    round_id: int
    team_id: int
    joined: int  # people new to the round
    invited: int


def pending_teams(session: Session, now: datetime) -> list[tuple[Round, Team]]:
    """Teams of rounds still open whose roster has not been read."""
    rows = session.exec(
        select(Round, Team)
        .join(RoundTeam, col(RoundTeam.round_id) == col(Round.id))
        .join(Team, col(Team.id) == col(RoundTeam.team_id))
        .where(
            Round.status == "open",
            col(Round.closes_at) > now,
            col(RoundTeam.roster_frozen_at).is_(None),
        )
        .order_by(col(Round.id), col(Team.name))
    ).all()
    return [(round_, team) for round_, team in rows]


def any_pending(session: Session) -> bool:
    found = session.exec(
        select(RoundTeam.round_id)
        .join(Round, col(Round.id) == col(RoundTeam.round_id))
        .where(Round.status == "open", col(RoundTeam.roster_frozen_at).is_(None))
        .limit(1)
    ).first()
    return found is not None


def record_pending(session: Session, round_id: int, teams: Sequence[Team], now: datetime) -> None:
    audit(
        session,
        actor="scheduler",
        action="round.roster.pending",
        target=f"round:{round_id}",
        detail={"teams": [t.team_id for t in teams], "names": [t.name for t in teams]},
        now=now,
    )


def mark_missed(session: Session, round_id: int, now: datetime) -> bool:
    """A scheduled round whose closing time has passed before it could open: closed without
    inviting anyone, and audited with the reason (compare-and-set: False if another process
    got there first)."""
    moved = session.execute(
        sa.update(Round)
        .where(
            col(Round.id) == round_id,
            col(Round.status) == "scheduled",
            col(Round.closes_at) <= now,
        )
        .values(status="closed", closed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    round_ = session.get(Round, round_id)
    assert round_ is not None
    session.refresh(round_)
    audit(
        session,
        actor="scheduler",
        action="round.open.missed",
        target=f"round:{round_id}",
        detail={
            "reason": MISSED_REASON,
            "opens_at": round_.opens_at,
            "closes_at": round_.closes_at,
            "invited": 0,
        },
        now=now,
    )
    return True


def _claim_pending(session: Session, round_id: int, team_pk: int, now: datetime) -> bool:
    """Set the team's `roster_frozen_at` if it is still NULL and the round still open: the
    compare-and-set that lets one process only freeze the team."""
    still_open = (
        sa.select(col(Round.id))
        .where(col(Round.id) == round_id, col(Round.status) == "open")
        .exists()
    )
    moved = session.execute(
        sa.update(RoundTeam)
        .where(
            col(RoundTeam.round_id) == round_id,
            col(RoundTeam.team_id) == team_pk,
            col(RoundTeam.roster_frozen_at).is_(None),
            still_open,
        )
        .values(roster_frozen_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(moved.rowcount == 1)  # type: ignore[attr-defined]


def _join(
    session: Session, round_id: int, team_pk: int, member: TeamMember, now: datetime
) -> tuple[int, bool]:
    """Put a member on the round's roster for this team: their person id, and whether they are
    new to the round (not on the roster through another team already)."""
    identity = Identity(member.tenant_id, member.teams_user_id, member.aad_object_id, member.name)
    person = ensure_person(session, identity, now)
    assert person.id is not None
    participant = session.exec(
        select(RoundParticipant).where(
            RoundParticipant.round_id == round_id, RoundParticipant.person_id == person.id
        )
    ).first()
    new = participant is None
    if participant is None:
        participant = RoundParticipant(
            round_id=round_id, person_id=person.id, invited_at=now, next_nudge_at=now
        )
        session.add(participant)
        session.flush()
    assert participant.id is not None
    if session.get(RoundParticipantTeam, (participant.id, team_pk)) is None:
        session.add(
            RoundParticipantTeam(
                participant_id=participant.id, team_id=team_pk, team_role=member.team_role[:16]
            )
        )
    return person.id, new


def _personal_chat(session: Session, person_id: int) -> ConversationRef | None:
    return session.exec(
        select(ConversationRef).where(
            ConversationRef.person_id == person_id, ConversationRef.scope == "personal"
        )
    ).first()


def freeze_team(
    session: Session,
    round_id: int,
    team_pk: int,
    members: Sequence[TeamMember],
    *,
    invite: InvitationWriter,
    now: datetime,
) -> FrozenTeam | None:
    """A pending team's roster, read at last: freeze it and invite those new to the round, in
    the caller's transaction. None if it is no longer pending (another process froze it) or
    the round is no longer open. Someone already invited through another team now counts for
    this one too, and gets no second invitation."""
    if not _claim_pending(session, round_id, team_pk, now):
        return None
    round_, team = session.get(Round, round_id), session.get(Team, team_pk)
    assert round_ is not None
    assert team is not None
    joined = invited = 0
    for member in {m.teams_user_id: m for m in members}.values():
        person_id, new = _join(session, round_id, team_pk, member, now)
        if not new:
            continue
        joined += 1
        chat = _personal_chat(session, person_id)
        invitee = Invitee(person_id, member.teams_user_id, member.tenant_id, (team.name,), chat)
        invited += bool(invite(session, round_, invitee, team))
    audit(
        session,
        actor="scheduler",
        action="round.roster.read",
        target=f"round:{round_id}",
        detail={"team": team.team_id, "joined": joined, "invited": invited},
        now=now,
    )
    return FrozenTeam(round_id, team_pk, joined, invited)
